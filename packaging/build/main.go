// Command build makes a tapedeck release in dist/: a static binary for
// every platform of the matrix, .deb packages for amd64, arm64 and armhf,
// and SHA256SUMS over all of them.
//
//	go run ./packaging/build                     # everything, version from git describe
//	go run ./packaging/build -version v1.2.0     # or TAPEDECK_VERSION=v1.2.0
//	go run ./packaging/build -targets linux/amd64,linux/armv7 -debs ""
//
// See packaging/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/tapedeck/tapedeck/packaging"
)

func main() {
	var (
		out     = flag.String("out", "dist", "output directory (relative to the module root)")
		version = flag.String("version", "", "release version (default $TAPEDECK_VERSION, else git describe --tags --always --dirty)")
		commit  = flag.String("commit", "", "commit to stamp (default git rev-parse --short HEAD)")
		date    = flag.String("date", "", "build date to stamp, RFC 3339 (default $SOURCE_DATE_EPOCH, else the commit's time)")
		targets = flag.String("targets", "all", "comma-separated targets: linux/amd64,linux/arm64,linux/armv7,linux/armv6,windows/amd64,darwin/amd64,darwin/arm64")
		debs    = flag.String("debs", "amd64,arm64,armhf", "comma-separated Debian architectures to package (\"\" for none)")
		jobs    = flag.Int("j", 2, "concurrent go builds")
		clean   = flag.Bool("clean", true, "first delete earlier tapedeck_* files and SHA256SUMS from the output directory")
	)
	flag.Parse()
	if err := run(*out, *version, *commit, *date, *targets, *debs, *jobs, *clean); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

func run(out, version, commit, date, targetList, debList string, jobs int, clean bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := packaging.FindRoot(wd)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	var targets []packaging.Target
	if targetList != "all" {
		targets = []packaging.Target{}
		for _, s := range splitList(targetList) {
			t, err := packaging.ParseTarget(s)
			if err != nil {
				return err
			}
			targets = append(targets, t)
		}
	}
	stamp := packaging.ResolveStamp(root, packaging.Stamp{Version: version, Commit: commit, Date: date})
	fmt.Printf("tapedeck %s (commit %s, date %s) into %s\n", stamp.Version, stamp.Commit, stamp.Date, out)
	if clean {
		old, _ := filepath.Glob(filepath.Join(out, "tapedeck_*"))
		for _, p := range append(old, filepath.Join(out, "SHA256SUMS")) {
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	_, err = packaging.Build(ctx, packaging.Options{
		Root:    root,
		Out:     out,
		Stamp:   stamp,
		Targets: targets,
		Debs:    splitList(debList),
		Jobs:    jobs,
		Log:     os.Stdout,
	})
	return err
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
