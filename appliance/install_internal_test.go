//go:build linux

package appliance

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// The unit install writes runs as the .deb's user with the .deb's
// hardening: every line equal to what packaging generates with `tapedeck
// unit`, except ExecStart, which names this binary and config.
func TestInstallUnitIsTheDebs(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "tapedeck.yaml")
	os.WriteFile(cfgPath, []byte("storage:\n  dir: /var/lib/tapedeck\n"), 0o640)
	// The flags packaging.Generated passes to `tapedeck unit`.
	var deb, stderr bytes.Buffer
	if code := Main([]string{"unit", "-exe", "/usr/bin/tapedeck", "-c", "/etc/tapedeck/tapedeck.yaml",
		"-user", "tapedeck", "-storage", "/var/lib/tapedeck"}, &deb, &stderr); code != 0 {
		t.Fatalf("unit: exit %d: %s", code, stderr.String())
	}
	got := serviceConfig("/usr/local/bin/tapedeck", cfgPath, serviceUser).Option["SystemdScript"].(string)
	debLines, gotLines := strings.Split(deb.String(), "\n"), strings.Split(got, "\n")
	if len(debLines) != len(gotLines) {
		t.Fatalf("install's unit has %d lines, the .deb's %d:\n%s", len(gotLines), len(debLines), got)
	}
	for i := range debLines {
		if strings.HasPrefix(debLines[i], "ExecStart=") {
			if want := "ExecStart=/usr/local/bin/tapedeck run -c " + cfgPath; gotLines[i] != want {
				t.Errorf("line %d: %q, want %q", i+1, gotLines[i], want)
			}
			continue
		}
		if gotLines[i] != debLines[i] {
			t.Errorf("line %d: install's %q, the .deb's %q", i+1, gotLines[i], debLines[i])
		}
	}
	for _, want := range []string{"User=tapedeck", "Group=tapedeck", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "RestrictSUIDSGID=yes", "ReadWritePaths=/var/lib/tapedeck"} {
		if !slices.Contains(gotLines, want) {
			t.Errorf("install's unit lacks %q:\n%s", want, got)
		}
	}

	// Storage elsewhere (a USB disk): the unit lets the service write there.
	os.WriteFile(cfgPath, []byte("storage:\n  dir: /mnt/usb/rec\n"), 0o640)
	got = serviceConfig("/usr/local/bin/tapedeck", cfgPath, serviceUser).Option["SystemdScript"].(string)
	if !slices.Contains(strings.Split(got, "\n"), "ReadWritePaths=/mnt/usb/rec") {
		t.Errorf("storage.dir /mnt/usb/rec: unit lacks ReadWritePaths=/mnt/usb/rec:\n%s", got)
	}
}

// needRoot skips a test that changes file owners unless it runs as root;
// in CI, which runs as root, not being root is a failure, not a skip.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI runs as root; this test changes file owners")
	}
	t.Skip("needs root to change file owners")
}

func ownerMode(t *testing.T, path string) (uint32, uint32, os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, fi.Mode()
}

// The config the documented `sudo tee` leaves (0644 root:root, keys
// inside) becomes 0640 root:<service group>; a second run changes nothing.
func TestSecureConfigFile(t *testing.T) {
	needRoot(t)
	const gid = 4321
	path := filepath.Join(t.TempDir(), "tapedeck.yaml")
	if err := os.WriteFile(path, []byte("apps:\n  live:\n    publish:\n      keys: [s3cret]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644) // whatever the umask
	os.Chown(path, 0, 0)
	was, err := secureConfigFile(path, gid)
	if err != nil || was != "0644 0:0" {
		t.Fatalf("secureConfigFile: %q, %v; want \"0644 0:0\", nil", was, err)
	}
	if uid, g, mode := ownerMode(t, path); uid != 0 || g != gid || mode != 0o640 {
		t.Errorf("after the fix: %d:%d %v, want 0:%d -rw-r-----", uid, g, mode, gid)
	}
	if was, err := secureConfigFile(path, gid); err != nil || was != "" {
		t.Errorf("second run: %q, %v; want nothing changed", was, err)
	}

	// Too strict is wrong too: the service could not read it.
	os.Chmod(path, 0o600)
	if was, err := secureConfigFile(path, gid); err != nil || was != "0600 0:4321" {
		t.Errorf("0600 file: %q, %v; want \"0600 0:4321\"", was, err)
	}
	if _, _, mode := ownerMode(t, path); mode != 0o640 {
		t.Errorf("0600 file now %v, want -rw-r-----", mode)
	}

	// A symlink is refused, not followed to whatever it names.
	link := filepath.Join(t.TempDir(), "link.yaml")
	os.Symlink(path, link)
	if _, err := secureConfigFile(link, gid); err == nil {
		t.Error("secureConfigFile followed a symlink")
	}
}

// A missing config is written root:<group> 0640 whatever the umask, with
// storage.dir /var/lib/tapedeck; an existing one is never overwritten.
func TestWriteConfigIfAbsent(t *testing.T) {
	needRoot(t)
	const gid = 4321
	old := syscall.Umask(0) // the worst umask: nothing masked
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "tapedeck.yaml")
	if wrote, err := writeConfigIfAbsent(path, gid); err != nil || !wrote {
		t.Fatalf("writeConfigIfAbsent: %v, %v", wrote, err)
	}
	if uid, g, mode := ownerMode(t, path); uid != 0 || g != gid || mode != 0o640 {
		t.Errorf("written config: %d:%d %v, want 0:%d -rw-r-----", uid, g, mode, gid)
	}
	cfg, err := LoadConfig(path)
	if err != nil || cfg.Storage.Dir != "/var/lib/tapedeck" {
		t.Fatalf("written config: storage.dir %v, %v; want /var/lib/tapedeck", cfg, err)
	}
	os.WriteFile(path, []byte(goodTestConfig), 0o640)
	if wrote, err := writeConfigIfAbsent(path, gid); err != nil || wrote {
		t.Errorf("existing config: wrote %v, %v; want left alone", wrote, err)
	}
	if b, _ := os.ReadFile(path); string(b) != goodTestConfig {
		t.Errorf("existing config overwritten: %q", b)
	}
}

const goodTestConfig = "log:\n  level: warn\n"

// The storage dir goes to the service user, with what root left in it (a
// service that ran as root); another user's files are not touched.
func TestPrepareStorage(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(t.TempDir(), "rec")
	os.MkdirAll(filepath.Join(dir, "live", "cam"), 0o755)
	rootFile := filepath.Join(dir, "live", "cam", "a.flv")
	otherFile := filepath.Join(dir, "live", "other.flv")
	os.WriteFile(rootFile, nil, 0o644)
	os.WriteFile(otherFile, nil, 0o644)
	os.Chown(otherFile, 4242, 4242)
	if note, err := prepareStorage(dir, 1234, 1235); err != nil || note != "" {
		t.Fatalf("prepareStorage: %q, %v", note, err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "live"), filepath.Join(dir, "live", "cam"), rootFile} {
		if uid, gid, _ := ownerMode(t, p); uid != 1234 || gid != 1235 {
			t.Errorf("%s: %d:%d, want 1234:1235", p, uid, gid)
		}
	}
	if uid, gid, _ := ownerMode(t, otherFile); uid != 4242 || gid != 4242 {
		t.Errorf("another user's file now %d:%d, want 4242:4242 untouched", uid, gid)
	}
	// A new storage dir is created private to the service.
	fresh := filepath.Join(t.TempDir(), "new")
	if _, err := prepareStorage(fresh, 1234, 1235); err != nil {
		t.Fatal(err)
	}
	if uid, _, mode := ownerMode(t, fresh); uid != 1234 || mode.Perm()&0o007 != 0 {
		t.Errorf("new storage dir uid %d %v: want 1234, others kept out", uid, mode)
	}

	// A storage.dir that holds other things (a mistyped / or /home) is
	// not handed over, nor anything in it.
	mixed := filepath.Join(t.TempDir(), "srv")
	os.MkdirAll(filepath.Join(mixed, "live", "cam"), 0o755)
	os.WriteFile(filepath.Join(mixed, "live", "cam", "a.mp4"), nil, 0o644)
	os.WriteFile(filepath.Join(mixed, "notes.txt"), nil, 0o644)
	note, err := prepareStorage(mixed, 1234, 1235)
	if err != nil || !strings.Contains(note, "holds other files than recordings") {
		t.Errorf("mixed dir: %q, %v; want a note and nothing changed", note, err)
	}
	for _, p := range []string{mixed, filepath.Join(mixed, "live", "cam", "a.mp4")} {
		if uid, _, _ := ownerMode(t, p); uid != 0 {
			t.Errorf("%s: uid %d, want root's still", p, uid)
		}
	}
}

// A relative storage.dir is refused before install changes anything; an
// absolute one, or no config yet, passes.
func TestCheckServiceStorage(t *testing.T) {
	dir := t.TempDir()
	rel := filepath.Join(dir, "rel.yaml")
	os.WriteFile(rel, []byte("storage:\n  dir: ./recordings\n"), 0o640)
	err := checkServiceStorage(rel)
	if err == nil || !strings.Contains(err.Error(), `storage.dir "./recordings" is relative`) {
		t.Errorf("relative storage.dir: %v, want refused", err)
	}
	abs := filepath.Join(dir, "abs.yaml")
	os.WriteFile(abs, []byte("storage:\n  dir: /srv/rec\n"), 0o640)
	if err := checkServiceStorage(abs); err != nil {
		t.Errorf("absolute storage.dir: %v", err)
	}
	if err := checkServiceStorage(filepath.Join(dir, "missing.yaml")); err != nil {
		t.Errorf("missing config: %v", err)
	}
}

// What the old README's `sudo tee` left (0644 root:root, storage.dir
// absolute) is made right in one go: config root:<group> 0640, storage
// dir the user's, each change printed.
func TestPrepareInstall(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	storage := filepath.Join(dir, "rec")
	cfgPath := filepath.Join(dir, "etc", "tapedeck.yaml")
	os.MkdirAll(filepath.Dir(cfgPath), 0o755)
	os.WriteFile(cfgPath, []byte("storage:\n  dir: "+storage+"\napps:\n  live:\n    publish:\n      keys: [s3cret]\n"), 0o644)
	os.Chmod(cfgPath, 0o644)
	fake := func(io.Writer) (account, error) { return account{name: serviceUser, uid: 1234, gid: 4321}, nil }
	var log bytes.Buffer
	user, err := prepareInstallFor(cfgPath, &log, fake)
	if err != nil || user != serviceUser {
		t.Fatalf("prepareInstall: %q, %v", user, err)
	}
	if uid, gid, mode := ownerMode(t, cfgPath); uid != 0 || gid != 4321 || mode != 0o640 {
		t.Errorf("config %d:%d %v, want 0:4321 -rw-r-----", uid, gid, mode)
	}
	if uid, gid, _ := ownerMode(t, storage); uid != 1234 || gid != 4321 {
		t.Errorf("storage dir %d:%d, want 1234:4321", uid, gid)
	}
	if want := "tapedeck install: " + cfgPath + " was 0644 0:0, now 0640 root:4321\n"; log.String() != want {
		t.Errorf("printed %q, want %q", log.String(), want)
	}
	// A second install changes nothing and says nothing.
	log.Reset()
	if _, err := prepareInstallFor(cfgPath, &log, fake); err != nil || log.Len() != 0 {
		t.Errorf("second install: %v, printed %q", err, log.String())
	}
}
