//go:build !windows

package appliance

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/tapedeck/tapedeck/recorder"
)

// prepareInstall makes the files the service needs before its unit is
// written: the service user, the config (written with storage.dir
// /var/lib/tapedeck if absent, else its owner and mode fixed) and the
// storage dir, owned by the user. It returns the user to run as ("" for
// root, on systems without a service user) and what it did, one line each.
func prepareInstall(configPath string, log io.Writer) (string, error) {
	return prepareInstallFor(configPath, log, ensureServiceUser)
}

// prepareInstallFor is prepareInstall with the account lookup given, so
// that a test can run it without creating a user on the machine.
func prepareInstallFor(configPath string, log io.Writer, ensureUser func(io.Writer) (account, error)) (string, error) {
	if err := checkServiceStorage(configPath); err != nil {
		return "", err
	}
	acct, err := ensureUser(log)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(configPath), 0o755); err != nil {
		return "", fmt.Errorf("config dir: %w", err)
	}
	wrote, err := writeConfigIfAbsent(configPath, acct.gid)
	if err != nil {
		return "", err
	}
	if wrote {
		fmt.Fprintf(log, "tapedeck install: wrote %s (storage.dir %s)\n", configPath, serviceHome)
	} else if was, err := secureConfigFile(configPath, acct.gid); err != nil {
		return "", err
	} else if was != "" {
		fmt.Fprintf(log, "tapedeck install: %s was %s, now %04o root:%d\n", configPath, was, configMode, acct.gid)
	}
	cfg, err := LoadConfig(configPath)
	if err != nil {
		return "", fmt.Errorf("the config does not load:\n%w", err)
	}
	if acct.name != "" {
		dir, err := filepath.Abs(cfg.Storage.Dir)
		if err != nil {
			return "", fmt.Errorf("storage dir: %w", err)
		}
		note, err := prepareStorage(dir, acct.uid, acct.gid)
		if err != nil {
			return "", err
		}
		if note != "" {
			fmt.Fprintf(log, "tapedeck install: %s\n", note)
		}
	}
	return acct.name, nil
}

// account is the service's user and group; name "" means root.
type account struct {
	name     string
	uid, gid int
}

// writeConfigIfAbsent creates path with the service config, root:gid
// 0640, and reports whether it did; an existing file is left alone.
func writeConfigIfAbsent(path string, gid int) (bool, error) {
	body, err := serviceConfigYAML(serviceHome)
	if err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, configMode)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("write config: %w", err)
	}
	// Owner and mode before the contents, so the keys are never readable by
	// others, whatever the umask.
	err = errors.Join(f.Chown(0, gid), f.Chmod(configMode))
	if err == nil {
		_, err = f.Write(body)
	}
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return false, fmt.Errorf("write config %s: %w", path, err)
	}
	return true, nil
}

// secureConfigFile makes path a regular file owned by root and group gid
// with mode 0640, working on the open file so that a rename in between
// cannot redirect the change. It returns the old mode and owner when it
// changed them ("0644 0:0"), else "".
func secureConfigFile(path string, gid int) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return "", fmt.Errorf("config %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("config %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || !ok {
		return "", fmt.Errorf("config %s: not a regular file", path)
	}
	if fi.Mode().Perm() == configMode && st.Uid == 0 && int(st.Gid) == gid {
		return "", nil
	}
	was := fmt.Sprintf("%04o %d:%d", fi.Mode().Perm(), st.Uid, st.Gid)
	if err := f.Chown(0, gid); err != nil {
		return "", fmt.Errorf("config %s: %w", path, err)
	}
	if err := f.Chmod(configMode); err != nil {
		return "", fmt.Errorf("config %s: %w", path, err)
	}
	return was, nil
}

// prepareStorage creates dir (0750) for uid:gid. An existing dir is given
// to uid:gid, with what root owns in it (an earlier install ran the
// service as root, and the user could not record there), only when it
// holds nothing but recordings in folders: a storage.dir mistyped as / or
// /home must not hand the system to the service. Otherwise it is left as
// it is and the returned note says so.
func prepareStorage(dir string, uid, gid int) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("storage dir: %w", err)
	}
	if !onlyRecordings(dir) {
		return fmt.Sprintf("storage dir %s holds other files than recordings: left as it is (the service, user %s, must be able to write it)", dir, serviceUser), nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (p == dir || st.Uid == 0) {
			return os.Lchown(p, uid, gid)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("storage dir %s: %w", dir, err)
	}
	return "", nil
}

// onlyRecordings reports whether everything below dir is a folder or a
// file the recorder writes (a segment, its open marker or temporary
// file). It stops at the first other entry.
func onlyRecordings(dir string) bool {
	ok := true
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			ok = false
		case d.IsDir():
			return nil
		case d.Type().IsRegular() && (recorder.IsSegmentFile(p) || recorder.IsSegmentFile(strings.TrimSuffix(p, filepath.Ext(p)))):
			return nil
		default:
			ok = false
		}
		return fs.SkipAll
	})
	return ok
}

// fileOwnerMode describes path's mode and owner as install leaves them
// ("mode 0640, owner root:tapedeck"), read back from the file.
func fileOwnerMode(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Sprintf("mode %04o", fi.Mode().Perm())
	}
	owner, group := strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return fmt.Sprintf("mode %04o, owner %s:%s", fi.Mode().Perm(), owner, group)
}
