package appliance

import (
	"bytes"
	"fmt"
	"path/filepath"
)

// serviceUser is the unprivileged account the service runs as, the same
// one the .deb creates, so that a bare-binary install and the package run
// with the same unit and the same file ownership.
//
// A created system user rather than systemd's DynamicUser=: the config
// must be readable by the service's group while nobody else can read it,
// and a dynamic user's group exists only while the service runs; storage.dir
// may be anywhere (a USB disk), where StateDirectory= cannot reach; and
// systemd re-chowns a dynamic user's state directory when the id changes,
// which on an SD card full of recordings takes minutes.
const serviceUser = "tapedeck"

// serviceHome is the service user's home, as the .deb sets it.
const serviceHome = "/var/lib/tapedeck"

// configMode is the mode of the config file: it holds stream keys and the
// API token, so root writes it, the service's group reads it, others
// nothing.
const configMode = 0o640

// serviceConfigYAML is the default config with storage.dir set to dir,
// comments kept: what install writes when there is no config yet.
func serviceConfigYAML(dir string) ([]byte, error) {
	const key = "\n  dir: ./recordings\n"
	if n := bytes.Count(defaultYAML, []byte(key)); n != 1 {
		return nil, fmt.Errorf("default config: found %d storage.dir lines to set, want 1", n)
	}
	return bytes.Replace(defaultYAML, []byte(key), []byte("\n  dir: "+dir+"\n"), 1), nil
}

// checkServiceStorage refuses a config whose storage.dir is relative: the
// shell install runs in is not the service's working directory (systemd
// starts it in /, read-only under ProtectSystem=strict), so the unit
// would let it write one place and it would record in another. A missing
// config passes: install writes one with an absolute dir.
func checkServiceStorage(configPath string) error {
	cfg, err := LoadConfig(configPath)
	if err != nil || filepath.IsAbs(cfg.Storage.Dir) {
		return nil
	}
	return fmt.Errorf("%s: storage.dir %q is relative; the service does not run in this directory: give an absolute path (e.g. %s)", configPath, cfg.Storage.Dir, serviceHome)
}
