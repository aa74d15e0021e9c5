package appliance

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// ensureServiceUser returns the tapedeck system user, creating it (and its
// group) the way the .deb does when it does not exist: useradd, or
// BusyBox's addgroup/adduser where there is no useradd (Alpine).
func ensureServiceUser(log io.Writer) (account, error) {
	if a, err := lookupAccount(serviceUser); err == nil {
		return a, nil
	}
	var cmds [][]string
	if _, err := exec.LookPath("useradd"); err == nil {
		cmds = [][]string{{"useradd", "--system", "--user-group", "--home-dir", serviceHome,
			"--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "tapedeck RTMP appliance", serviceUser}}
	} else {
		cmds = [][]string{{"addgroup", "-S", serviceUser},
			{"adduser", "-S", "-D", "-H", "-h", serviceHome, "-s", "/sbin/nologin", "-G", serviceUser, serviceUser}}
	}
	for _, c := range cmds {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return account{}, fmt.Errorf("create user %s: %s: %w: %s", serviceUser, c[0], err, out)
		}
	}
	a, err := lookupAccount(serviceUser)
	if err != nil {
		return account{}, fmt.Errorf("create user %s: %w", serviceUser, err)
	}
	fmt.Fprintf(log, "tapedeck install: created system user %s (uid %d)\n", serviceUser, a.uid)
	return a, nil
}

// lookupAccount reads name's ids. With CGO off, os/user reads /etc/passwd
// and /etc/group, which is where system users live.
func lookupAccount(name string) (account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return account{}, err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return account{}, fmt.Errorf("user %s: %w", name, err)
	}
	return account{name: name, uid: uid, gid: gid}, nil
}

// dropPrivileges makes the process user name's (its uid, its group and no
// other groups) for good: `run -user NAME`, which init scripts that start
// the service as root (SysV, OpenRC) pass. Go's Setuid applies to every
// thread. Already running as name is fine; any other user is refused.
func dropPrivileges(name string) error {
	a, err := lookupAccount(name)
	if err != nil {
		return fmt.Errorf("-user %s: %w", name, err)
	}
	switch os.Geteuid() {
	case a.uid:
		return nil
	case 0:
	default:
		return fmt.Errorf("-user %s: switching user needs to start as root (this is uid %d)", name, os.Geteuid())
	}
	if err := errors.Join(syscall.Setgroups([]int{a.gid}), syscall.Setgid(a.gid), syscall.Setuid(a.uid)); err != nil {
		return fmt.Errorf("-user %s: %w", name, err)
	}
	if os.Geteuid() != a.uid || os.Getegid() != a.gid {
		return fmt.Errorf("-user %s: still uid %d gid %d after the switch", name, os.Geteuid(), os.Getegid())
	}
	return nil
}
