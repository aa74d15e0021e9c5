package packaging

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Maintainer is the .deb's Maintainer field and the changelog's signer
// (nfpm.yaml says the same).
const Maintainer = "tapedeck maintainers <tapedeck@users.noreply.github.com>"

// copyrightHead opens /usr/share/doc/tapedeck/copyright. The repository
// holds no license file yet, so the file says that instead of guessing
// one; the licenses of what the binary links in follow it.
const copyrightHead = `tapedeck: RTMP recording and restreaming appliance
Source: https://github.com/tapedeck/tapedeck

Copyright: the tapedeck authors
License: none chosen yet. The repository has no license file; until the
 project publishes one, the tapedeck source code is (c) the tapedeck authors,
 all rights reserved. This file will carry the license once it is chosen.

/usr/bin/tapedeck is a static Go binary: it contains the Go standard library
and the Go modules listed below, each under its own license, reproduced here
as the module ships it.
`

// DebCopyright is /usr/share/doc/tapedeck/copyright for the binary bin:
// the project's statement, then, for the Go standard library and every
// module bin's build information lists, its license and notice files from
// the module cache. A module whose license cannot be found fails the
// build: a package must not ship code without its license.
func DebCopyright(ctx context.Context, bin string) ([]byte, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("copyright: %w", err)
	}
	env, err := exec.CommandContext(ctx, goTool(), "env", "GOMODCACHE", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("copyright: go env: %w", err)
	}
	dirs := strings.Split(strings.TrimSpace(string(env)), "\n")
	if len(dirs) != 2 {
		return nil, fmt.Errorf("copyright: go env printed %q", env)
	}
	modCache, goroot := dirs[0], dirs[1]

	var b bytes.Buffer
	b.WriteString(copyrightHead)
	section := func(title, dir string) error {
		files, err := licenseFiles(dir)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return fmt.Errorf("copyright: no license file for %s in %s", title, dir)
		}
		fmt.Fprintf(&b, "\n%s\n%s\n", title, strings.Repeat("=", len(title)))
		for _, f := range files {
			text, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("copyright: %w", err)
			}
			fmt.Fprintf(&b, "\n%s:\n\n%s\n", filepath.Base(f), indentLicense(commonLicense(string(text))))
		}
		return nil
	}
	if err := section("Go standard library ("+bi.GoVersion+")", goroot); err != nil {
		return nil, err
	}
	for _, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		dir := m.Path
		if m.Version != "" {
			dir = filepath.Join(modCache, escapeModulePath(m.Path)+"@"+m.Version)
		}
		if err := section(m.Path+" "+m.Version, dir); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// licenseFiles are dir's LICENSE*, LICENCE*, COPYING* and NOTICE* files.
func licenseFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("copyright: %w", err)
	}
	var out []string
	for _, e := range entries {
		n := strings.ToUpper(e.Name())
		if !e.Type().IsRegular() {
			continue
		}
		for _, p := range []string{"LICENSE", "LICENCE", "COPYING", "NOTICE"} {
			if strings.HasPrefix(n, p) {
				out = append(out, filepath.Join(dir, e.Name()))
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// commonLicense replaces the full text of the Apache License 2.0 by a
// pointer to Debian's copy, as policy asks (lintian:
// copyright-file-contains-full-apache-2-license), keeping the file's
// copyright lines.
func commonLicense(text string) string {
	if !strings.Contains(text, "Version 2.0, January 2004") || !strings.Contains(text, "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION") {
		return text
	}
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "Copyright") && !strings.Contains(t, "[yyyy]") {
			out = append(out, t)
		}
	}
	out = append(out, "Licensed under the Apache License, Version 2.0. On Debian systems the full",
		"text is in /usr/share/common-licenses/Apache-2.0.")
	return strings.Join(out, "\n")
}

// indentLicense indents a license text by two spaces and drops trailing
// blanks, so that the sections stay apart and the file has no trailing
// whitespace.
func indentLicense(s string) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n "), "\n")
	for i, l := range lines {
		l = strings.TrimRightFunc(l, unicode.IsSpace)
		if l != "" {
			l = "  " + l
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// escapeModulePath is the module cache's spelling of a path: each upper
// case letter as '!' and its lower case (golang.org/x/mod/module).
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// DebChangelog is /usr/share/doc/tapedeck/changelog.gz: one entry in
// Debian's format for this build (tapedeck is a native package, so the
// file is changelog.gz, not changelog.Debian.gz), dated by the stamp so
// that the same commit builds the same bytes.
func DebChangelog(s Stamp, debVersion string) ([]byte, error) {
	date, err := time.Parse(time.RFC3339, s.Date)
	if err != nil {
		return nil, fmt.Errorf("changelog: stamp date %q: %w", s.Date, err)
	}
	commit := s.Commit
	if commit == "" {
		commit = "unknown"
	}
	text := fmt.Sprintf(`tapedeck (%s) unstable; urgency=medium

  * Release %s, built from commit %s.
  * Changes are in the project's history:
    https://github.com/tapedeck/tapedeck/commits

 -- %s  %s
`, debVersion, s.Version, commit, Maintainer, date.UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	return gzipMax([]byte(text))
}

// gzipMax compresses as Debian policy wants documentation compressed:
// maximum compression, no file name or time in the header (gzip -9n).
func gzipMax(data []byte) ([]byte, error) {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// stageDocs writes the package's copyright, changelog.gz and
// tapedeck.1.gz (from man, `tapedeck man`) into stage, where nfpm.yaml
// takes them from.
func stageDocs(ctx context.Context, stage, bin string, s Stamp, debVersion string, man []byte) error {
	copyright, err := DebCopyright(ctx, bin)
	if err != nil {
		return err
	}
	changelog, err := DebChangelog(s, debVersion)
	if err != nil {
		return err
	}
	manGz, err := gzipMax(man)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"copyright": copyright, "changelog.gz": changelog, "tapedeck.1.gz": manGz} {
		if err := os.WriteFile(filepath.Join(stage, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
