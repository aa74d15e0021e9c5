//go:build linux

package packaging

import (
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wantUnit is what `tapedeck unit` prints with its defaults (the flags the
// package build passes are the defaults).
func wantUnit(t testing.TB) string {
	return mustRun(t, 30*time.Second, hostBinary(t), "unit")
}

// wantConfig is `tapedeck config` with storage.dir /var/lib/tapedeck.
func wantConfig(t testing.TB) string {
	def := mustRun(t, 30*time.Second, hostBinary(t), "config")
	b, err := PackageConfig([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n  dir: /var/lib/tapedeck\n") {
		t.Fatalf("package config has no storage.dir /var/lib/tapedeck:\n%s", b)
	}
	return string(b)
}

var maintScripts = []string{"preinst", "postinst", "prerm", "postrm"}

// TestDebContents reads each .deb with dpkg-deb: control fields, maintainer
// scripts and conffiles (--info), the file list (--contents), and the
// extracted files: the binary for the right architecture, the unit equal to
// `tapedeck unit`, the config equal to the default with storage.dir
// /var/lib/tapedeck and accepted by `tapedeck check`.
func TestDebContents(t *testing.T) {
	skipShort(t)
	dpkgDeb := needTool(t, "dpkg-deb")
	unit, config := wantUnit(t), wantConfig(t)
	for _, d := range Debs {
		t.Run(d.Arch, func(t *testing.T) {
			deb := debPackage(t, d.Arch)
			if want := DebFileName(DebVersion(art.version), d.Arch); filepath.Base(deb) != want {
				t.Errorf("file name %s, want %s", filepath.Base(deb), want)
			}
			info := mustRun(t, time.Minute, dpkgDeb, "--info", deb)
			for _, re := range []string{
				`(?m)^ Package: tapedeck$`,
				`(?m)^ Version: ` + regexp.QuoteMeta(DebVersion(art.version)) + `$`,
				`(?m)^ Architecture: ` + d.Arch + `$`,
				`(?m)^ Maintainer: .+$`,
				`(?m)^ Description: .+$`,
				`(?m)^ +\d+ bytes, +\d+ lines +conffiles *$`,
				`(?m)^ +\d+ bytes, +\d+ lines +\* +preinst +#!/bin/sh$`,
				`(?m)^ +\d+ bytes, +\d+ lines +\* +postinst +#!/bin/sh$`,
				`(?m)^ +\d+ bytes, +\d+ lines +\* +prerm +#!/bin/sh$`,
				`(?m)^ +\d+ bytes, +\d+ lines +\* +postrm +#!/bin/sh$`,
			} {
				if !regexp.MustCompile(re).MatchString(info) {
					t.Errorf("dpkg-deb --info has no line matching %s:\n%s", re, info)
				}
			}
			if dep := mustRun(t, time.Minute, dpkgDeb, "--field", deb, "Depends", "Recommends"); dep != "Depends: adduser\nRecommends: ca-certificates\n" {
				t.Errorf("dependencies:\n%s", dep)
			}
			if cf := mustRun(t, time.Minute, dpkgDeb, "--info", deb, "conffiles"); cf != "/etc/tapedeck/tapedeck.yaml\n" {
				t.Errorf("conffiles = %q", cf)
			}

			contents := mustRun(t, time.Minute, dpkgDeb, "--contents", deb)
			files := map[string]string{} // path -> mode and owner
			for _, line := range strings.Split(strings.TrimSpace(contents), "\n") {
				f := strings.Fields(line)
				if len(f) < 6 {
					t.Fatalf("contents line %q", line)
				}
				if f[0][0] != 'd' {
					files[f[5]] = f[0] + " " + f[1]
				}
			}
			wantFiles := map[string]string{
				"./usr/bin/tapedeck":                     "-rwxr-xr-x root/root",
				"./etc/tapedeck/tapedeck.yaml":           "-rw-r--r-- root/root",
				"./lib/systemd/system/tapedeck.service":  "-rw-r--r-- root/root",
				"./usr/share/doc/tapedeck/copyright":     "-rw-r--r-- root/root",
				"./usr/share/doc/tapedeck/changelog.gz":  "-rw-r--r-- root/root",
				"./usr/share/lintian/overrides/tapedeck": "-rw-r--r-- root/root",
				"./usr/share/man/man1/tapedeck.1.gz":     "-rw-r--r-- root/root",
			}
			if fmt.Sprint(files) != fmt.Sprint(wantFiles) {
				t.Errorf("dpkg-deb --contents files:\n got %v\nwant %v\n%s", files, wantFiles, contents)
			}

			x := t.TempDir()
			mustRun(t, time.Minute, dpkgDeb, "-x", deb, filepath.Join(x, "root"))
			mustRun(t, time.Minute, dpkgDeb, "-e", deb, filepath.Join(x, "DEBIAN"))
			checkDebBinary(t, filepath.Join(x, "root/usr/bin/tapedeck"), d)
			if got := readFile(t, filepath.Join(x, "root/lib/systemd/system/tapedeck.service")); got != unit {
				t.Errorf("unit differs from `tapedeck unit`:\n got %s\nwant %s", got, unit)
			}
			cfg := filepath.Join(x, "root/etc/tapedeck/tapedeck.yaml")
			if got := readFile(t, cfg); got != config {
				t.Errorf("config differs from `tapedeck config` with storage.dir /var/lib/tapedeck:\n%s", got)
			}
			checkDebDocs(t, filepath.Join(x, "root"))
			if out, err := run(t, 30*time.Second, hostBinary(t), "check", "-c", cfg); err != nil || out != "ok: "+cfg+"\n" {
				t.Errorf("tapedeck check on the packaged config: %v %s", err, out)
			}
			for _, s := range maintScripts {
				p := filepath.Join(x, "DEBIAN", s)
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o755 {
					t.Errorf("%s mode %v", s, fi.Mode())
				}
				if got, want := readFile(t, p), readFile(t, filepath.Join(art.root, "packaging/deb", s)); got != want {
					t.Errorf("%s differs from packaging/deb/%s", s, s)
				}
			}
		})
	}
}

// checkDebDocs checks /usr/share/doc/tapedeck and the man page: the
// changelog names this package version, the copyright carries the license
// of every module the packaged binary was built from, tapedeck.1 is what
// `tapedeck man` prints.
func checkDebDocs(t *testing.T, root string) {
	t.Helper()
	text := gunzipFile(t, filepath.Join(root, "usr/share/doc/tapedeck/changelog.gz"))
	if want := "tapedeck (" + DebVersion(art.version) + ") unstable; urgency=medium\n"; !strings.HasPrefix(text, want) {
		t.Errorf("changelog does not start %q:\n%s", want, text)
	}
	if got, want := gunzipFile(t, filepath.Join(root, "usr/share/man/man1/tapedeck.1.gz")), mustRun(t, 30*time.Second, hostBinary(t), "man"); got != want {
		t.Errorf("tapedeck.1 differs from `tapedeck man`")
	}
	copyright := readFile(t, filepath.Join(root, "usr/share/doc/tapedeck/copyright"))
	bi, err := buildinfo.ReadFile(filepath.Join(root, "usr/bin/tapedeck"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range bi.Deps {
		if !strings.Contains(copyright, "\n"+m.Path+" "+m.Version+"\n") {
			t.Errorf("copyright has no section for %s %s", m.Path, m.Version)
		}
	}
	if !strings.Contains(copyright, "\nGo standard library (") || strings.Contains(copyright, "TERMS AND CONDITIONS FOR USE") {
		t.Errorf("copyright lacks the standard library, or carries a full Apache license text")
	}
}

// gunzipFile reads a gzip'd file made as Debian wants it: no file name
// or time in the header (gzip -n), so that builds are reproducible.
func gunzipFile(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if zr.Header.Name != "" || !zr.Header.ModTime.IsZero() {
		t.Errorf("%s: gzip header names %q, time %v", path, zr.Header.Name, zr.Header.ModTime)
	}
	return string(b)
}

// checkDebBinary checks the packaged binary's architecture; armhf carries
// the ARMv6 build (Raspberry Pi OS armhf runs on ARMv6).
func checkDebBinary(t *testing.T, p string, d Deb) {
	t.Helper()
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "armhf": elf.EM_ARM}[d.Arch]
	if f.Machine != want {
		t.Errorf("packaged binary is %v, want %v", f.Machine, want)
	}
	bi, err := buildinfo.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range bi.Settings {
		if s.Key == "GOARM" && s.Value != d.Target.GOARM {
			t.Errorf("packaged binary GOARM=%s, want %s", s.Value, d.Target.GOARM)
		}
	}
	if got, want := readFile(t, p), readFile(t, binaryFor(t, d.Target)); got != want {
		t.Errorf("packaged binary differs from the %s release binary", d.Target)
	}
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ---- installing into a throwaway root ----

// sandbox is a root directory dpkg installs into without touching the host.
type sandbox interface {
	// dpkg runs dpkg with args (paths inside the sandbox) and returns
	// its output.
	dpkg(t testing.TB, args ...string) string
	// path maps a path inside the sandbox to one on the host.
	path(p string) string
	// debPath is where the package to install is, inside the sandbox.
	debPath(t testing.TB, deb string) string
	// statOverride reports whether dpkg-statoverride is used (only when
	// the scripts run inside the root).
	statOverride() bool
}

// TestDebInstall installs, reinstalls over a locally edited config,
// removes and purges the amd64 package in two throwaway roots, then checks
// the host was not touched:
//
//   - dpkg_root: dpkg --root=DIR --force-script-chrootless, the way image
//     builders install into another root; the maintainer scripts run on
//     the host with DPKG_ROOT=DIR, so /etc, /usr and /var/lib are mounted
//     read-only in a private mount namespace for the run;
//   - chroot: a chroot whose /usr is an overlay of the host's (writes go to
//     a temporary upper directory) and whose /etc and /var are fresh;
//     plain dpkg -i, as on a real machine (adduser, dpkg-statoverride,
//     deb-systemd-helper).
//
// Both need root and mount namespaces (unshare).
func TestDebInstall(t *testing.T) {
	skipShort(t)
	needTool(t, "dpkg")
	needTool(t, "dpkg-query")
	unshare := needTool(t, "unshare")
	if os.Geteuid() != 0 {
		skipOrFail(t, "installing into a throwaway root needs root (mount namespaces, chown)")
	}
	if out, err := run(t, 10*time.Second, unshare, "--mount", "--propagation", "private", "true"); err != nil {
		skipOrFail(t, "no mount namespaces here: %v %s", err, out)
	}
	deb := debPackage(t, "amd64")
	bin := hostBinary(t)
	before := hostState()
	t.Cleanup(func() {
		if after := hostState(); after != before {
			t.Errorf("the host changed:\nbefore %s\nafter  %s", before, after)
		}
	})
	t.Run("dpkg_root", func(t *testing.T) {
		lifecycle(t, newRootSandbox(t, unshare), deb, bin)
	})
	t.Run("chroot", func(t *testing.T) {
		lifecycle(t, newChrootSandbox(t, unshare), deb, bin)
	})
}

// hostState summarises what a misdirected maintainer script would change.
func hostState() string {
	var b strings.Builder
	for _, p := range []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/var/lib/dpkg/statoverride"} {
		data, _ := os.ReadFile(p)
		fmt.Fprintf(&b, "%s:%d:%x ", p, len(data), bytes.Count(data, []byte("tapedeck")))
	}
	for _, p := range []string{"/var/lib/tapedeck", "/etc/tapedeck", "/usr/bin/tapedeck", "/lib/systemd/system/tapedeck.service",
		"/etc/systemd/system/multi-user.target.wants/tapedeck.service", "/var/lib/systemd/deb-systemd-helper-enabled/tapedeck.service.dsh-also"} {
		_, err := os.Lstat(p)
		fmt.Fprintf(&b, "%s:%v ", p, err == nil)
	}
	return b.String()
}

func lifecycle(t *testing.T, sb sandbox, deb, bin string) {
	const (
		config = "/etc/tapedeck/tapedeck.yaml"
		unit   = "/lib/systemd/system/tapedeck.service"
		wants  = "/etc/systemd/system/multi-user.target.wants/tapedeck.service"
		data   = "/var/lib/tapedeck"
	)
	inside := sb.debPath(t, deb)
	status := func() string {
		out, _ := run(t, 30*time.Second, "dpkg-query", "--admindir="+sb.path("/var/lib/dpkg"), "-W", "-f=${Status}", "tapedeck")
		return strings.TrimSpace(out)
	}

	// Install.
	sb.dpkg(t, "-i", inside)
	if s := status(); s != "install ok installed" {
		t.Fatalf("status after install: %q", s)
	}
	uid, gid := checkUser(t, sb)
	checkFile(t, sb, "/usr/bin/tapedeck", 0o755, 0, 0)
	if readFile(t, sb.path("/usr/bin/tapedeck")) != readFile(t, bin) {
		t.Error("/usr/bin/tapedeck differs from the linux/amd64 release binary")
	}
	checkFile(t, sb, unit, 0o644, 0, 0)
	if got, want := readFile(t, sb.path(unit)), mustRun(t, 30*time.Second, sb.path("/usr/bin/tapedeck"), "unit"); got != want {
		t.Errorf("installed unit differs from the installed binary's `tapedeck unit`:\n%s", got)
	}
	checkFile(t, sb, config, 0o640, 0, gid)
	if got := readFile(t, sb.path(config)); got != wantConfig(t) {
		t.Errorf("installed config:\n%s", got)
	}
	checkFile(t, sb, data, os.ModeDir|0o750, uid, gid)
	if cf := readFile(t, sb.path("/var/lib/dpkg/info/tapedeck.conffiles")); cf != config+"\n" {
		t.Errorf("conffiles: %q", cf)
	}
	for _, s := range maintScripts {
		checkFile(t, sb, "/var/lib/dpkg/info/tapedeck."+s, 0o755, 0, 0)
	}
	if dst, err := os.Readlink(sb.path(wants)); err != nil || dst != unit {
		t.Errorf("not enabled: %s -> %q (%v)", wants, dst, err)
	}
	if sb.statOverride() {
		if so := readFile(t, sb.path("/var/lib/dpkg/statoverride")); so != "root tapedeck 640 "+config+"\n" {
			t.Errorf("statoverride: %q", so)
		}
	}

	// Reinstall (the upgrade path of the scripts) over an edited config
	// and a recording.
	edited := readFile(t, sb.path(config)) + "# edited here\n"
	if err := os.WriteFile(sb.path(config), []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	rec := data + "/live/cam1.flv"
	os.MkdirAll(filepath.Dir(sb.path(rec)), 0o750)
	if err := os.WriteFile(sb.path(rec), []byte("FLV"), 0o640); err != nil {
		t.Fatal(err)
	}
	sb.dpkg(t, "-i", inside)
	if got := readFile(t, sb.path(config)); got != edited {
		t.Error("the edited config was not kept on reinstall")
	}
	for _, suffix := range []string{".dpkg-new", ".dpkg-dist", ".dpkg-old"} {
		if _, err := os.Lstat(sb.path(config + suffix)); err == nil {
			t.Errorf("%s%s left behind", config, suffix)
		}
	}
	checkFile(t, sb, config, 0o640, 0, gid)
	if u2, g2 := checkUser(t, sb); u2 != uid || g2 != gid {
		t.Errorf("user changed on reinstall: %d:%d -> %d:%d", uid, gid, u2, g2)
	}
	if readFile(t, sb.path(rec)) != "FLV" {
		t.Error("recording lost on reinstall")
	}

	// Remove: program gone; config, data and user kept.
	sb.dpkg(t, "-r", "tapedeck")
	if s := status(); s != "deinstall ok config-files" {
		t.Errorf("status after remove: %q", s)
	}
	for _, p := range []string{"/usr/bin/tapedeck", unit} {
		if exists(sb.path(p)) {
			t.Errorf("%s still there after remove", p)
		}
	}
	if got := readFile(t, sb.path(config)); got != edited {
		t.Error("config not kept on remove")
	}
	if readFile(t, sb.path(rec)) != "FLV" {
		t.Error("recording not kept on remove")
	}
	checkUser(t, sb)

	// Purge: config, data, user, group and the enablement gone.
	sb.dpkg(t, "-P", "tapedeck")
	if s := status(); s != "" && !strings.HasPrefix(s, "unknown ok not-installed") && !strings.Contains(s, "no packages found") {
		t.Errorf("status after purge: %q", s)
	}
	for _, p := range []string{config, "/etc/tapedeck", data, wants, "/etc/systemd/system/tapedeck.service"} {
		if exists(sb.path(p)) {
			t.Errorf("%s still there after purge", p)
		}
	}
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		if regexp.MustCompile(`(?m)^tapedeck:`).MatchString(readFile(t, sb.path(f))) {
			t.Errorf("tapedeck still in %s after purge", f)
		}
	}
	if so, _ := os.ReadFile(sb.path("/var/lib/dpkg/statoverride")); bytes.Contains(so, []byte("tapedeck")) {
		t.Errorf("statoverride after purge: %q", so)
	}
}

// checkUser finds the tapedeck system user and group in the sandbox.
func checkUser(t *testing.T, sb sandbox) (uid, gid int) {
	t.Helper()
	pw := regexp.MustCompile(`(?m)^tapedeck:[^:]*:(\d+):(\d+):[^:]*:([^:]*):([^:\n]*)$`).FindStringSubmatch(readFile(t, sb.path("/etc/passwd")))
	gr := regexp.MustCompile(`(?m)^tapedeck:[^:]*:(\d+):`).FindStringSubmatch(readFile(t, sb.path("/etc/group")))
	if pw == nil || gr == nil {
		t.Fatalf("no tapedeck user (%v) or group (%v)", pw, gr)
	}
	uid, _ = strconv.Atoi(pw[1])
	gid, _ = strconv.Atoi(gr[1])
	if g, _ := strconv.Atoi(pw[2]); g != gid {
		t.Errorf("tapedeck's primary group %d, want tapedeck (%d)", g, gid)
	}
	if uid == 0 || uid >= 1000 {
		t.Errorf("tapedeck uid %d is not a system uid", uid)
	}
	if pw[3] != "/var/lib/tapedeck" || !strings.HasSuffix(pw[4], "nologin") {
		t.Errorf("tapedeck home %q shell %q", pw[3], pw[4])
	}
	return uid, gid
}

func checkFile(t *testing.T, sb sandbox, p string, mode os.FileMode, uid, gid int) {
	t.Helper()
	fi, err := os.Lstat(sb.path(p))
	if err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s: %v %d:%d, want %v %d:%d", p, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

// exists reports a file, not counting overlayfs whiteouts.
func exists(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode()&os.ModeCharDevice == 0
}

// sandboxEtc writes a minimal /etc for a throwaway root: root and nobody,
// plus the host's tool configuration when present.
func sandboxEtc(t testing.TB, root string) {
	t.Helper()
	etc := filepath.Join(root, "etc")
	files := map[string]string{
		"passwd":  "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"group":   "root:x:0:\nnogroup:x:65534:\n",
		"shadow":  "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
		"gshadow": "root:*::\nnogroup:*::\n",
	}
	for name, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "shadow") {
			mode = 0o640
		}
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"login.defs", "adduser.conf", "deluser.conf", "nsswitch.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "dpkg", "alternatives", "default/useradd"} {
		if _, err := os.Stat("/etc/" + name); err == nil {
			os.MkdirAll(filepath.Dir(filepath.Join(etc, name)), 0o755)
			if out, err := exec.Command("cp", "-a", "/etc/"+name, filepath.Join(etc, name)).CombinedOutput(); err != nil {
				t.Fatalf("cp /etc/%s: %v %s", name, err, out)
			}
		}
	}
}

func mkdirs(t testing.TB, root string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// dpkgAdmin makes an empty dpkg database in root but for adduser, which
// the package depends on (priority important: on every Debian system):
// the host's own entry, as dpkg-query prints it, or a minimal one.
func dpkgAdmin(t testing.TB, root string) {
	t.Helper()
	mkdirs(t, root, "etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log", "tmp")
	adduser, err := exec.Command("dpkg-query", "-s", "adduser").Output()
	if err != nil || !bytes.Contains(adduser, []byte("\nStatus: install ok installed\n")) {
		adduser = []byte("Package: adduser\nStatus: install ok installed\nPriority: important\nSection: admin\nMaintainer: none\nArchitecture: all\nVersion: 3.134\nDescription: add and remove users and groups\n")
	}
	for f, content := range map[string][]byte{"var/lib/dpkg/status": append(bytes.TrimRight(adduser, "\n"), '\n'), "var/lib/dpkg/available": nil} {
		if err := os.WriteFile(filepath.Join(root, f), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// rootSandbox: dpkg --root with chrootless scripts (DPKG_ROOT).
type rootSandbox struct {
	dir, unshare string
}

func newRootSandbox(t *testing.T, unshare string) *rootSandbox {
	dir := t.TempDir()
	for _, p := range []string{"/etc", "/usr", "/var/lib"} {
		if strings.HasPrefix(dir+"/", p+"/") {
			t.Skipf("temporary directory %s is under %s, which the test mounts read-only", dir, p)
		}
	}
	dpkgAdmin(t, dir)
	sandboxEtc(t, dir)
	return &rootSandbox{dir: dir, unshare: unshare}
}

// readOnlyHost makes the host's /etc, /usr and /var/lib read-only for the
// command, so that a script that ignored DPKG_ROOT fails instead of
// changing the host.
const readOnlyHost = `set -e
for d in /etc /usr /var/lib; do mount --bind -o ro "$d" "$d"; done
if touch /etc/.tapedeck-probe 2>/dev/null; then rm -f /etc/.tapedeck-probe; echo "host /etc still writable" >&2; exit 99; fi
exec "$@"`

func (s *rootSandbox) dpkg(t testing.TB, args ...string) string {
	t.Helper()
	argv := append([]string{"--mount", "--propagation", "private", "--", "sh", "-c", readOnlyHost, "sh",
		"dpkg", "--root=" + s.dir, "--force-not-root", "--force-script-chrootless", "--log=/dev/null"}, args...)
	out := mustRun(t, 2*time.Minute, s.unshare, argv...)
	t.Logf("dpkg %s:\n%s", strings.Join(args, " "), out)
	return out
}

func (s *rootSandbox) path(p string) string                    { return filepath.Join(s.dir, p) }
func (s *rootSandbox) debPath(_ testing.TB, deb string) string { return deb }
func (s *rootSandbox) statOverride() bool                      { return false }

// chrootSandbox: a chroot with the host's /usr as the lower layer of an
// overlay, fresh /etc and /var; dpkg and the scripts run inside.
type chrootSandbox struct {
	root, upper, work, unshare string
}

func newChrootSandbox(t *testing.T, unshare string) *chrootSandbox {
	base := t.TempDir()
	s := &chrootSandbox{root: filepath.Join(base, "root"), upper: filepath.Join(base, "usr-upper"), work: filepath.Join(base, "usr-work"), unshare: unshare}
	for _, l := range []string{"bin", "sbin", "lib"} {
		if dst, err := os.Readlink("/" + l); err != nil || dst != "usr/"+l {
			skipOrFail(t, "the chroot sandbox needs a merged-/usr host (/%s -> usr/%s)", l, l)
		}
	}
	mkdirs(t, s.root, "usr", "run", "proc", "dev", "pkg", "var/cache")
	mkdirs(t, base, "usr-upper", "usr-work")
	dpkgAdmin(t, s.root)
	sandboxEtc(t, s.root)
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if _, err := os.Lstat("/" + l); err == nil {
			if err := os.Symlink("usr/"+l, filepath.Join(s.root, l)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

// inChroot mounts the /usr overlay, /dev and /proc in a private mount
// namespace (gone when the command ends) and runs the command chrooted
// with a clean environment.
const inChroot = `set -e
root=$1 upper=$2 work=$3; shift 3
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$upper,workdir=$work" "$root/usr"
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
exec chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"`

func (s *chrootSandbox) dpkg(t testing.TB, args ...string) string {
	t.Helper()
	argv := append([]string{"--mount", "--propagation", "private", "--pid", "--fork", "--", "sh", "-c", inChroot, "sh",
		s.root, s.upper, s.work, "dpkg", "--log=/dev/null"}, args...)
	out := mustRun(t, 2*time.Minute, s.unshare, argv...)
	t.Logf("dpkg %s:\n%s", strings.Join(args, " "), out)
	return out
}

// path maps /usr (and /bin, /sbin, /lib through the merged-/usr links) to
// the overlay's upper directory, which holds what dpkg wrote there.
func (s *chrootSandbox) path(p string) string {
	for _, l := range []string{"/bin/", "/sbin/", "/lib/", "/lib64/"} {
		if strings.HasPrefix(p, l) {
			p = "/usr" + p
		}
	}
	if rest, ok := strings.CutPrefix(p, "/usr/"); ok {
		return filepath.Join(s.upper, rest)
	}
	return filepath.Join(s.root, p)
}

func (s *chrootSandbox) debPath(t testing.TB, deb string) string {
	t.Helper()
	dst := filepath.Join(s.root, "pkg", filepath.Base(deb))
	if _, err := os.Stat(dst); err != nil {
		if err := copyFile(deb, dst, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return "/pkg/" + filepath.Base(deb)
}

func (s *chrootSandbox) statOverride() bool { return true }
