package packaging

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMatrixArchitectures builds every target (or takes TAPEDECK_DIST) and
// reads each file's headers: ELF machine and class for Linux, PE machine
// for Windows, Mach-O CPU for macOS; statically linked; the Go build
// settings (GOOS, GOARCH, GOARM, CGO off, -trimpath); the version stamp.
func TestMatrixArchitectures(t *testing.T) {
	skipShort(t)
	bins := binaries(t, Matrix...)
	for _, tg := range Matrix {
		t.Run(strings.ReplaceAll(tg.String(), "/", "_"), func(t *testing.T) {
			p := bins[tg]
			if want := tg.FileName(art.version); filepath.Base(p) != want {
				t.Errorf("file name %s, want %s", filepath.Base(p), want)
			}
			switch tg.GOOS {
			case "linux":
				checkELF(t, p, tg)
			case "windows":
				checkPE(t, p)
			case "darwin":
				checkMachO(t, p, tg)
			}
			checkBuildInfo(t, p, tg)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(art.version)) {
				t.Errorf("version %q not stamped into %s", art.version, p)
			}
		})
	}
	t.Run("armv6_and_armv7_differ", func(t *testing.T) {
		a, _ := os.ReadFile(bins[linuxARM6])
		b, _ := os.ReadFile(bins[linuxARM7])
		if bytes.Equal(a, b) {
			t.Error("the GOARM=6 and GOARM=7 binaries are identical")
		}
	})
}

func checkELF(t *testing.T, path string, tg Target) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]struct {
		machine elf.Machine
		class   elf.Class
	}{
		"amd64": {elf.EM_X86_64, elf.ELFCLASS64},
		"arm64": {elf.EM_AARCH64, elf.ELFCLASS64},
		"arm":   {elf.EM_ARM, elf.ELFCLASS32},
	}[tg.GOARCH]
	if f.Machine != want.machine || f.Class != want.class {
		t.Errorf("%s: ELF %v %v, want %v %v", path, f.Machine, f.Class, want.machine, want.class)
	}
	if f.Type != elf.ET_EXEC {
		t.Errorf("ELF type %v, want ET_EXEC", f.Type)
	}
	if tg.GOARCH == "arm" {
		// e_flags (offset 36 in a 32-bit header): EABI version 5, the
		// Linux ARM ABI Debian's armhf and armel both use.
		hdr := make([]byte, 52)
		if fh, err := os.Open(path); err == nil {
			fh.ReadAt(hdr, 0)
			fh.Close()
		}
		if flags := binary.LittleEndian.Uint32(hdr[36:]); flags&0xff000000 != 0x05000000 {
			t.Errorf("ARM ELF flags %#x, want EABI version 5", flags)
		}
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("not statically linked: has %v", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("links %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("not stripped: has .symtab")
	}
}

func checkPE(t *testing.T, path string) {
	t.Helper()
	f, err := pe.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
		t.Errorf("PE machine %#x, want AMD64", f.Machine)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatalf("PE optional header %T, want PE32+", f.OptionalHeader)
	}
	if oh.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_CUI {
		t.Errorf("PE subsystem %d, want console", oh.Subsystem)
	}
	if !strings.HasSuffix(path, ".exe") {
		t.Errorf("%s: no .exe", path)
	}
}

func checkMachO(t *testing.T, path string, tg Target) {
	t.Helper()
	f, err := macho.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[tg.GOARCH]
	if f.Cpu != want || f.Type != macho.TypeExec {
		t.Errorf("Mach-O %v type %v, want %v executable", f.Cpu, f.Type, want)
	}
}

func checkBuildInfo(t *testing.T, path string, tg Target) {
	t.Helper()
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("build info: %v", err)
	}
	got := map[string]string{}
	for _, s := range bi.Settings {
		got[s.Key] = s.Value
	}
	want := map[string]string{"GOOS": tg.GOOS, "GOARCH": tg.GOARCH, "CGO_ENABLED": "0", "-trimpath": "true"}
	if tg.GOARM != "" {
		want["GOARM"] = tg.GOARM
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("build setting %s=%q, want %q", k, got[k], v)
		}
	}
	if bi.Main.Path != ModulePath {
		t.Errorf("main module %q", bi.Main.Path)
	}
}

// TestVersionStamp runs the linux/amd64 binary's version command.
func TestVersionStamp(t *testing.T) {
	skipShort(t)
	out := mustRun(t, 30*time.Second, hostBinary(t), "version")
	want := "tapedeck " + art.version + " (commit "
	if !strings.HasPrefix(out, want) || strings.Contains(out, "unknown") || !strings.Contains(out, "linux/amd64") {
		t.Errorf("version: %q, want %q... with commit and date", out, want)
	}
	if art.dist == "" {
		if want := "tapedeck v0.0.0-test (commit 0123abc, built 2026-01-02T03:04:05Z)"; !strings.HasPrefix(out, want) {
			t.Errorf("version: %q, want %q", out, want)
		}
	}
}

// TestSums checks SHA256SUMS: the one in TAPEDECK_DIST against the files,
// else one written here.
func TestSums(t *testing.T) {
	dir := art.dist
	if dir == "" {
		dir = t.TempDir()
		for _, n := range []string{"tapedeck_v1_linux_amd64", "tapedeck_v1_amd64.deb"} {
			os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "tapedeck_*"))
		if err := WriteSums(filepath.Join(dir, "SHA256SUMS"), files); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(data)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: checksum mismatch", name)
		}
		listed[name] = true
	}
	all, _ := filepath.Glob(filepath.Join(dir, "tapedeck_*"))
	for _, p := range all {
		if !listed[filepath.Base(p)] {
			t.Errorf("%s not in SHA256SUMS", filepath.Base(p))
		}
	}
	if art.dist != "" && len(all) != len(Matrix)+len(Debs) {
		t.Errorf("%s holds %d artefacts, want %d binaries and %d packages", dir, len(all), len(Matrix), len(Debs))
	}
}

func TestDebVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.0":                  "1.2.0",
		"1.2.0":                   "1.2.0",
		"v1.2.0-rc1":              "1.2.0~rc1",
		"v1.2.0-rc.1":             "1.2.0~rc.1",
		"v1.2.0-3-gabc1234":       "1.2.0+3.gabc1234",
		"v1.2.0-3-gabc1234-dirty": "1.2.0+3.gabc1234.dirty",
		"v1.2.0-dirty":            "1.2.0+dirty",
		"v1.2.0-rc1-2-gabc1234":   "1.2.0~rc1+2.gabc1234",
		"abc1234":                 "0.0.0~git.abc1234",
		"abc1234-dirty":           "0.0.0~git.abc1234.dirty",
		"dev":                     "0.0.0~git.dev",
	} {
		if got := DebVersion(in); got != want {
			t.Errorf("DebVersion(%q) = %q, want %q", in, got, want)
		}
	}
	// dpkg agrees on the order.
	if dpkg, err := exec.LookPath("dpkg"); err == nil {
		order := []string{"v1.2.0-rc1", "v1.2.0-rc1-2-gabc1234", "v1.2.0", "v1.2.0-3-gabc1234", "v1.2.0-3-gabc1234-dirty", "v1.10.0"}
		for i := 1; i < len(order); i++ {
			a, b := DebVersion(order[i-1]), DebVersion(order[i])
			if out, err := run(t, 10*time.Second, dpkg, "--compare-versions", a, "lt", b); err != nil {
				t.Errorf("dpkg: %s is not before %s (%v %s)", a, b, err, out)
			}
		}
	}
}

func TestCheckVersion(t *testing.T) {
	for _, ok := range []string{"v1.2.0", "abc1234-dirty", "dev", "1.0+git~x_y"} {
		if err := CheckVersion(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "v1 2", "v1/2", "v1=2", "a'b"} {
		if CheckVersion(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLDFlags(t *testing.T) {
	got := Stamp{"v1", "abc", "2026-01-02T03:04:05Z"}.LDFlags()
	want := "-s -w -X github.com/tapedeck/tapedeck/appliance.Version=v1 -X github.com/tapedeck/tapedeck/appliance.Commit=abc -X github.com/tapedeck/tapedeck/appliance.Date=2026-01-02T03:04:05Z"
	if got != want {
		t.Errorf("LDFlags:\n got %s\nwant %s", got, want)
	}
}

func TestPackageConfig(t *testing.T) {
	def := "# top\nrtmp:\n  listen: \":1935\"\n  # dir: not this\n\nstorage:\n  # Root of the recordings.\n  dir: ./recordings\n  nested:\n    dir: keep\n\nvod:\n  dir: keep\n"
	got, err := PackageConfig([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(def, "dir: ./recordings", "dir: /var/lib/tapedeck", 1)
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	for _, bad := range []string{"storage:\n  other: 1\n", "rtmp:\n  dir: x\n", "storage:\n  dir: a\n  dir: b\n"} {
		if _, err := PackageConfig([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for _, tg := range Matrix {
		got, err := ParseTarget(tg.String())
		if err != nil || got != tg {
			t.Errorf("ParseTarget(%q) = %v, %v", tg.String(), got, err)
		}
	}
	if got, err := ParseTarget("linux/arm/7"); err != nil || got != linuxARM7 {
		t.Errorf("linux/arm/7: %v %v", got, err)
	}
	if _, err := ParseTarget("linux/arm"); err == nil {
		t.Error("linux/arm without a version accepted")
	}
	if n := linuxARM6.FileName("v1"); n != "tapedeck_v1_linux_armv6" {
		t.Error(n)
	}
	if n := (Target{"windows", "amd64", ""}).FileName("v1"); n != "tapedeck_v1_windows_amd64.exe" {
		t.Error(n)
	}
}
