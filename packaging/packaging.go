// Package packaging builds tapedeck's release artefacts: one static binary
// per platform, a SHA256SUMS file and .deb packages (made with nfpm, run
// from the Go module proxy). The command is `go run ./packaging/build`;
// the tests in this package check what it makes.
package packaging

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ModulePath is the tapedeck module; the version variables live in its
// appliance package.
const ModulePath = "github.com/tapedeck/tapedeck"

// NfpmVersion is the nfpm release run from the Go module proxy. Later
// releases (v2.46.0 and up) need modules the proxy does not serve.
const NfpmVersion = "v2.45.2"

// Target is one platform of the release matrix.
type Target struct {
	GOOS, GOARCH, GOARM string
}

// Matrix is every platform a release ships.
var Matrix = []Target{
	{"linux", "amd64", ""},
	{"linux", "arm64", ""},
	{"linux", "arm", "7"},
	{"linux", "arm", "6"},
	{"windows", "amd64", ""},
	{"darwin", "amd64", ""},
	{"darwin", "arm64", ""},
}

// String is os/arch with the ARM version: linux/armv7.
func (t Target) String() string {
	a := t.GOARCH
	if t.GOARM != "" {
		a += "v" + t.GOARM
	}
	return t.GOOS + "/" + a
}

// FileName is the binary's name in dist/:
// tapedeck_<version>_<os>_<arch>[v6|v7][.exe].
func (t Target) FileName(version string) string {
	name := "tapedeck_" + version + "_" + strings.ReplaceAll(t.String(), "/", "_")
	if t.GOOS == "windows" {
		name += ".exe"
	}
	return name
}

// ParseTarget reads os/arch, with armv6/armv7 (or arm/6, arm/7) for ARM.
func ParseTarget(s string) (Target, error) {
	for _, t := range Matrix {
		if s == t.String() || (t.GOARM != "" && s == t.GOOS+"/"+t.GOARCH+"/"+t.GOARM) {
			return t, nil
		}
	}
	var all []string
	for _, t := range Matrix {
		all = append(all, t.String())
	}
	return Target{}, fmt.Errorf("unknown target %q (have %s)", s, strings.Join(all, ", "))
}

// Deb is one Debian architecture and the binary it packages.
type Deb struct {
	Arch   string // Debian architecture
	Target Target
}

// Debs are the .deb packages a release ships. armhf takes the ARMv6
// binary: Raspberry Pi OS calls its 32-bit port armhf but builds it for
// ARMv6 (Pi 1, Pi Zero), where a GOARM=7 binary dies with SIGILL, and the
// ARMv6 binary runs on every ARMv7 armhf system too.
var Debs = []Deb{
	{"amd64", Target{"linux", "amd64", ""}},
	{"arm64", Target{"linux", "arm64", ""}},
	{"armhf", Target{"linux", "arm", "6"}},
}

// DebFileName is the package's name in dist/: tapedeck_<debversion>_<arch>.deb.
func DebFileName(debVersion, arch string) string {
	return "tapedeck_" + debVersion + "_" + arch + ".deb"
}

// Stamp is what the build writes into the binary with -ldflags -X.
type Stamp struct {
	Version string // e.g. v1.2.0, v1.2.0-3-gabc1234-dirty
	Commit  string // short hash
	Date    string // RFC 3339, UTC
}

// LDFlags are the linker flags of a release binary: stripped, stamped.
func (s Stamp) LDFlags() string {
	p := ModulePath + "/appliance."
	return fmt.Sprintf("-s -w -X %sVersion=%s -X %sCommit=%s -X %sDate=%s",
		p, s.Version, p, s.Commit, p, s.Date)
}

// ResolveStamp fills what is missing: the version from TAPEDECK_VERSION or
// `git describe --tags --always --dirty`, the commit from `git rev-parse
// --short HEAD`, the date from SOURCE_DATE_EPOCH or else the commit's time
// (so the same commit builds the same bytes), else now.
func ResolveStamp(root string, s Stamp) Stamp {
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if s.Version == "" {
		s.Version = os.Getenv("TAPEDECK_VERSION")
	}
	if s.Version == "" {
		s.Version = git("describe", "--tags", "--always", "--dirty")
	}
	if s.Version == "" {
		s.Version = "dev"
	}
	if s.Commit == "" {
		s.Commit = git("rev-parse", "--short", "HEAD")
	}
	if s.Date == "" {
		if sec, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
			s.Date = time.Unix(sec, 0).UTC().Format(time.RFC3339)
		} else if sec, err := strconv.ParseInt(git("log", "-1", "--format=%ct"), 10, 64); err == nil {
			s.Date = time.Unix(sec, 0).UTC().Format(time.RFC3339)
		} else {
			s.Date = time.Now().UTC().Format(time.RFC3339)
		}
	}
	return s
}

var (
	safeVersion = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+~_-]*$`)
	describeRe  = regexp.MustCompile(`^v?([0-9]+(?:\.[0-9]+)*)(?:-([0-9A-Za-z.]+?))??(?:-([0-9]+)-g([0-9a-f]+))?(-dirty)?$`)
	debUnsafe   = regexp.MustCompile(`[^0-9A-Za-z.+~]+`)
)

// CheckVersion refuses a version that cannot be part of a file name or an
// -ldflags -X value.
func CheckVersion(v string) error {
	if !safeVersion.MatchString(v) {
		return fmt.Errorf("version %q: use letters, digits and . + ~ _ - only, starting with a letter or digit", v)
	}
	return nil
}

// DebVersion turns a release version (a tag, or git describe output) into
// a Debian version that sorts the same way:
//
//	v1.2.0                  1.2.0
//	v1.2.0-rc1              1.2.0~rc1      (before 1.2.0)
//	v1.2.0-3-gabc1234       1.2.0+3.gabc1234 (after 1.2.0)
//	v1.2.0-3-gabc1234-dirty 1.2.0+3.gabc1234.dirty
//	abc1234-dirty (no tag)  0.0.0~git.abc1234.dirty
func DebVersion(v string) string {
	if m := describeRe.FindStringSubmatch(v); m != nil {
		out := m[1]
		if m[2] != "" {
			out += "~" + m[2]
		}
		var meta []string
		if m[3] != "" {
			meta = append(meta, m[3], "g"+m[4])
		}
		if m[5] != "" {
			meta = append(meta, "dirty")
		}
		if len(meta) > 0 {
			out += "+" + strings.Join(meta, ".")
		}
		return out
	}
	return "0.0.0~git." + strings.Trim(debUnsafe.ReplaceAllString(v, "."), ".")
}

// Options says what Build makes.
type Options struct {
	Root    string   // module root (holds go.mod)
	Out     string   // output directory, e.g. dist
	Stamp   Stamp    // resolved version stamp
	Targets []Target // binaries to build (nil: Matrix)
	Debs    []string // Debian architectures to package (nil: none)
	Jobs    int      // concurrent builds (0: 2)
	Log     io.Writer
}

// Result lists what Build wrote, by target and by Debian architecture.
type Result struct {
	Binaries map[Target]string
	Debs     map[string]string
	Sums     string
}

// Build compiles the binaries (CGO off, -trimpath, stripped and stamped),
// packages the .debs and writes SHA256SUMS over everything it wrote.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := CheckVersion(o.Stamp.Version); err != nil {
		return nil, err
	}
	targets := o.Targets
	if targets == nil {
		targets = Matrix
	}
	debs := make([]Deb, 0, len(o.Debs))
	for _, arch := range o.Debs {
		d, ok := debFor(arch)
		if !ok {
			return nil, fmt.Errorf("unknown Debian architecture %q (have amd64, arm64, armhf)", arch)
		}
		debs = append(debs, d)
		if !containsTarget(targets, d.Target) {
			targets = append(targets, d.Target)
		}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	res := &Result{Binaries: map[Target]string{}, Debs: map[string]string{}}
	bins, err := BuildBinaries(ctx, o.Root, o.Out, o.Stamp, targets, o.Jobs, o.Log)
	if err != nil {
		return nil, err
	}
	res.Binaries = bins
	if len(debs) > 0 {
		stage, err := os.MkdirTemp("", "tapedeck-stage-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(stage)
		unit, config, man, err := Generated(ctx, o.Root, bins)
		if err != nil {
			return nil, err
		}
		for _, d := range debs {
			p, err := BuildDeb(ctx, o.Root, o.Out, stage, o.Stamp, d, bins[d.Target], unit, config, man, o.Log)
			if err != nil {
				return nil, err
			}
			res.Debs[d.Arch] = p
		}
	}
	// Every artefact in the directory, so that a build of a few targets
	// into a directory that holds the rest (-clean=false) sums them all.
	files, err := filepath.Glob(filepath.Join(o.Out, "tapedeck_*"))
	if err != nil {
		return nil, err
	}
	res.Sums = filepath.Join(o.Out, "SHA256SUMS")
	if err := WriteSums(res.Sums, files); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "wrote %s\n", res.Sums)
	return res, nil
}

func debFor(arch string) (Deb, bool) {
	for _, d := range Debs {
		if d.Arch == arch {
			return d, true
		}
	}
	return Deb{}, false
}

func containsTarget(ts []Target, t Target) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// BuildBinaries runs go build for each target, jobs at a time, into out.
func BuildBinaries(ctx context.Context, root, out string, s Stamp, targets []Target, jobs int, log io.Writer) (map[Target]string, error) {
	if jobs <= 0 {
		jobs = 2
	}
	if log == nil {
		log = io.Discard
	}
	var (
		mu   sync.Mutex
		res  = map[Target]string{}
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, jobs)
	)
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			p, err := BuildBinary(ctx, root, out, s, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			res[t] = p
			fmt.Fprintf(log, "built %s\n", p)
		}()
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

// BuildBinary builds one target into out and returns its path.
func BuildBinary(ctx context.Context, root, out string, s Stamp, t Target) (string, error) {
	dst, err := filepath.Abs(filepath.Join(out, t.FileName(s.Version)))
	if err != nil {
		return "", err
	}
	build := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-ldflags", s.LDFlags(), "-o", dst, ".")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.GOOS, "GOARCH="+t.GOARCH, "GOARM="+t.GOARM, "GOFLAGS=-buildvcs=false")
		return cmd.CombinedOutput()
	}
	msg, err := build()
	if err != nil && ctx.Err() == nil && bytes.Contains(msg, []byte("no such file or directory")) {
		// Concurrent go commands sharing the build cache (another build,
		// a cache trim) now and then lose an entry: "could not import
		// sync (open : no such file or directory)". Once more is enough.
		msg, err = build()
	}
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", t, err, msg)
	}
	return dst, nil
}

// goTool is the go command of the running toolchain when there is one.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); runtime.GOROOT() != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// Generated returns the systemd unit, the package's config file and the
// manual page, all produced by a tapedeck binary that runs here (`tapedeck
// unit`, `tapedeck config` with storage.dir set to /var/lib/tapedeck,
// `tapedeck man`), so that the package ships exactly what the program
// prints. bins may hold a binary for this
// machine; otherwise `go run .` is used.
func Generated(ctx context.Context, root string, bins map[Target]string) (unit, config, man []byte, err error) {
	run := func(args ...string) ([]byte, error) {
		var cmd *exec.Cmd
		if p, ok := bins[Target{runtime.GOOS, runtime.GOARCH, ""}]; ok && runtime.GOOS == "linux" {
			cmd = exec.CommandContext(ctx, p, args...)
		} else {
			cmd = exec.CommandContext(ctx, goTool(), append([]string{"run", "."}, args...)...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("tapedeck %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out, nil
	}
	if unit, err = run("unit", "-exe", "/usr/bin/tapedeck", "-c", "/etc/tapedeck/tapedeck.yaml", "-user", "tapedeck", "-storage", "/var/lib/tapedeck"); err != nil {
		return nil, nil, nil, err
	}
	def, err := run("config")
	if err != nil {
		return nil, nil, nil, err
	}
	if config, err = PackageConfig(def); err != nil {
		return nil, nil, nil, err
	}
	if man, err = run("man"); err != nil {
		return nil, nil, nil, err
	}
	return unit, config, man, nil
}

// PackageConfig is the default config with storage.dir set to
// /var/lib/tapedeck, comments and all. It fails unless exactly one dir key
// sits directly under the top-level storage section.
func PackageConfig(def []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(def), "\n")
	inStorage, done := false, 0
	key := regexp.MustCompile(`^(\s+)dir:\s*\S.*?(\r?\n)?$`)
	for i, l := range lines {
		trimmed := strings.TrimSpace(l)
		if l != "" && l[0] != ' ' && l[0] != '\t' && trimmed != "" && !strings.HasPrefix(trimmed, "#") {
			inStorage = strings.HasPrefix(l, "storage:")
			continue
		}
		if inStorage {
			if m := key.FindStringSubmatch(l); m != nil && len(m[1]) == 2 {
				lines[i] = m[1] + "dir: /var/lib/tapedeck" + m[2]
				done++
			}
		}
	}
	if done != 1 {
		return nil, fmt.Errorf("default config: found %d storage.dir keys to set, want 1", done)
	}
	return []byte(strings.Join(lines, "")), nil
}

// BuildDeb stages the binary and the generated files and runs the pinned
// nfpm on packaging/nfpm.yaml. It returns the package's path.
func BuildDeb(ctx context.Context, root, out, stageRoot string, s Stamp, d Deb, bin string, unit, config, man []byte, log io.Writer) (string, error) {
	if bin == "" {
		return "", fmt.Errorf("deb %s: no %s binary", d.Arch, d.Target)
	}
	if log == nil {
		log = io.Discard
	}
	stage := filepath.Join(stageRoot, d.Arch)
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return "", err
	}
	if err := copyFile(bin, filepath.Join(stage, "tapedeck"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(stage, "tapedeck.service"), unit, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(stage, "tapedeck.yaml"), config, 0o644); err != nil {
		return "", err
	}
	debVersion := DebVersion(s.Version)
	if err := stageDocs(ctx, stage, bin, s, debVersion, man); err != nil {
		return "", fmt.Errorf("deb %s: %w", d.Arch, err)
	}
	dst, err := filepath.Abs(filepath.Join(out, DebFileName(debVersion, d.Arch)))
	if err != nil {
		return "", err
	}
	os.Remove(dst)
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if t, err := time.Parse(time.RFC3339, s.Date); err == nil && epoch == "" {
		epoch = strconv.FormatInt(t.Unix(), 10)
	}
	cmd := exec.CommandContext(ctx, goTool(), "run", "github.com/goreleaser/nfpm/v2/cmd/nfpm@"+NfpmVersion,
		"pkg", "--packager", "deb", "--config", "nfpm.yaml", "--target", dst)
	cmd.Dir = filepath.Join(root, "packaging")
	cmd.Env = append(os.Environ(),
		"TAPEDECK_DEB_VERSION="+debVersion,
		"TAPEDECK_DEB_ARCH="+d.Arch,
		"TAPEDECK_STAGE="+stage,
		"SOURCE_DATE_EPOCH="+epoch,
		// nfpm is a tool, not part of this module: build it for this
		// machine whatever GOOS/GOARCH the caller set.
		"GOOS=", "GOARCH=", "GOARM=", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false",
	)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("nfpm deb %s: %v\n%s", d.Arch, err, b)
	}
	fmt.Fprintf(log, "packaged %s\n", dst)
	return dst, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// WriteSums writes `sha256sum` format (hash, two spaces, base name) for
// files, sorted by name; `sha256sum -c SHA256SUMS` checks it in dist/.
func WriteSums(path string, files []string) error {
	sort.Slice(files, func(i, j int) bool { return filepath.Base(files[i]) < filepath.Base(files[j]) })
	var b strings.Builder
	for _, f := range files {
		sum, err := fileSHA256(f)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, filepath.Base(f))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FindRoot walks up from dir to the directory holding tapedeck's go.mod.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+ModulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the tapedeck module (no go.mod naming " + ModulePath + ")")
		}
		dir = parent
	}
}
