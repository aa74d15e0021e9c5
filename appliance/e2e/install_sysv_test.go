//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/rtmp"
)

// sysvRoot is a throwaway root for install: a private mount namespace
// whose /etc, /var and /run are overlays on the machine's, so that what
// install writes (the init script, the rc?.d links, the user, the config,
// the storage dir) vanishes with it. The machine must have no systemd
// running (kardianos/service then picks SysV init, as on a Debian box
// with sysvinit-core or a container).
type sysvRoot struct {
	holder *exec.Cmd // keeps the namespace alive
}

func newSysVRoot(t *testing.T) *sysvRoot {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("SysV init is Linux")
	}
	if os.Geteuid() != 0 {
		testenv.Need(t, "root (to mount a throwaway /etc)", errors.New("not root"))
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: kardianos/service would install a systemd unit, not a SysV script")
	}
	for _, tool := range []string{"unshare", "nsenter", "service", "useradd"} {
		testenv.NeedTool(t, tool)
	}
	upper := t.TempDir()
	var mounts strings.Builder
	for _, d := range []string{"etc", "var", "run"} {
		u, w := filepath.Join(upper, d+".upper"), filepath.Join(upper, d+".work")
		fmt.Fprintf(&mounts, "mkdir -p %s %s && mount -t overlay overlay -o lowerdir=/%s,upperdir=%s,workdir=%s /%s && ", u, w, d, u, w, d)
	}
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", mounts.String()+"echo ready && exec sleep 600")
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	holder.Stderr = &stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	r := &sysvRoot{holder: holder}
	t.Cleanup(func() {
		holder.Process.Kill()
		holder.Wait()
	})
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		holder.Wait()
		testenv.Need(t, "a private mount namespace with overlays", fmt.Errorf("%q: %s", line, stderr.String()))
	}
	return r
}

// run runs a command inside the throwaway root and returns its exit code
// and output.
func (r *sysvRoot) run(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--mount", "--target", strconv.Itoa(r.holder.Process.Pid), "--", name}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %q: %v", name, args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// install, status, start, stop and uninstall on a machine with SysV init
// only: install prints what it wrote and that the unit's sandbox does not
// apply; status answers running / stopped / not installed with the LSB
// exit codes 0 / 3 / 4; the service runs as the tapedeck user, not root,
// and serves RTMP.
func TestInstallSysV(t *testing.T) {
	exe := tapedeckBinary(t)
	root := newSysVRoot(t)
	rtmpAddr, httpAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	const cfg = "/etc/tapedeck/tapedeck.yaml"

	status := func(wantWord string, wantCode int) {
		t.Helper()
		code, out, errOut := root.run(t, exe, "status")
		if code != wantCode || out != wantWord+"\n" {
			t.Errorf("status: exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, wantCode, wantWord)
		}
	}
	status("not installed", 4)

	// The config as the README's `sudo tee` leaves it: 0644 root:root.
	yaml := fmt.Sprintf("rtmp:\n  listen: %q\nhttp:\n  listen: %q\nstorage:\n  dir: /var/lib/tapedeck\n", rtmpAddr, httpAddr)
	if code, _, errOut := root.run(t, "sh", "-c", "mkdir -p /etc/tapedeck && umask 022 && cat > "+cfg+" <<'EOF'\n"+yaml+"EOF\n"); code != 0 {
		t.Fatalf("writing the config: %s", errOut)
	}
	code, out, errOut := root.run(t, exe, "install", "-c", cfg)
	t.Logf("install printed:\n%s%s", out, errOut)
	if code != 0 || errOut != "" {
		t.Fatalf("install: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"tapedeck install: created system user tapedeck (uid ",
		"tapedeck install: " + cfg + " was 0644 0:0, now 0640 root:",
		"tapedeck install: wrote /etc/init.d/tapedeck (SysV init script, linked from /etc/rc0.d … /etc/rc6.d): runs " + exe + " run -c " + cfg + " -user tapedeck\n",
		"tapedeck install: the service runs as user tapedeck\n",
		"tapedeck install: config " + cfg + ": mode 0640, owner root:tapedeck\n",
		"tapedeck install: no systemd here (unix-systemv): the systemd unit's hardening (ProtectSystem=strict, ProtectHome, PrivateTmp, PrivateDevices, NoNewPrivileges, ReadWritePaths) does not apply",
		"tapedeck install: done; start it with: tapedeck start\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("install did not print %q", want)
		}
	}
	if _, err := os.Stat("/etc/init.d/tapedeck"); err == nil {
		t.Fatal("the init script is on the machine itself, not only in the throwaway root")
	}
	if code, _, _ := root.run(t, "test", "-x", "/etc/init.d/tapedeck"); code != 0 {
		t.Errorf("no executable /etc/init.d/tapedeck in the throwaway root")
	}
	status("stopped", 3)

	if code, out, errOut := root.run(t, exe, "start"); code != 0 {
		t.Fatalf("start: exit %d, %s %s", code, out, errOut)
	}
	t.Cleanup(func() { root.run(t, "sh", "-c", "kill $(cat /var/run/tapedeck.pid) 2>/dev/null") })
	testenv.Eventually(t, 10*time.Second, "status running", func() bool {
		code, out, _ := root.run(t, exe, "status")
		return code == 0 && out == "running\n"
	})
	// It serves, and as the tapedeck user: every id of the process is the
	// user's, none root's.
	var dialErr error
	testenv.Eventually(t, 10*time.Second, "an RTMP connect to the service", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, _, err := rtmp.Dial(ctx, "rtmp://"+rtmpAddr+"/live/x", rtmp.ClientConfig{Timeout: 3 * time.Second})
		if err == nil {
			c.Close()
		}
		dialErr = err
		return err == nil
	})
	if dialErr != nil {
		t.Errorf("connect: %v", dialErr)
	}
	_, uid, _ := root.run(t, "id", "-u", "tapedeck")
	_, ids, _ := root.run(t, "sh", "-c", "grep -E '^(Uid|Gid|Groups):' /proc/$(cat /var/run/tapedeck.pid)/status")
	uid = strings.TrimSpace(uid)
	for _, line := range strings.Split(strings.TrimSpace(ids), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		for _, id := range f[1:] {
			if id == "0" || (f[0] == "Uid:" && id != uid) {
				t.Errorf("the service's %s, want every uid %s and no root id", line, uid)
				break
			}
		}
	}
	if len(strings.Fields(ids)) < 9 {
		t.Errorf("no ids of the service process: %q", ids)
	}

	if code, out, errOut := root.run(t, exe, "stop"); code != 0 {
		t.Errorf("stop: exit %d, %s %s", code, out, errOut)
	}
	status("stopped", 3)
	if code, out, errOut := root.run(t, exe, "uninstall"); code != 0 || out != "tapedeck uninstall: done\n" {
		t.Errorf("uninstall: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	status("not installed", 4)
	if code, links, _ := root.run(t, "sh", "-c", "ls /etc/rc?.d/ | grep tapedeck"); code == 0 {
		t.Errorf("uninstall left rc links: %s", links)
	}
}
