package appliance

import "github.com/tapedeck/tapedeck/recorder"

// reconcileBoot checks the names of the segments an earlier run named on
// a clock the kernel said was not synchronised (recorder.ReconcileBoot):
// on the same boot they are renamed to their true start (a pending upload
// follows, a hook that was told of them gets a rename event), on another
// they are marked unverified. Run after recovery and the uploader's
// start, before anything records.
func (a *Appliance) reconcileBoot(cfg *Config) {
	r := a.rec
	r.mu.Lock()
	up := r.up
	r.mu.Unlock()
	var renamer recorder.Renamer
	if up != nil {
		renamer = up.Rename
	}
	fixes, err := recorder.ReconcileBoot(cfg.Storage.Dir, recorder.BootOptions{Clock: r.clock, Renamer: renamer, Logger: r.log,
		Journal: r.journal(cfg.Storage.Dir)})
	if err != nil {
		r.log.Error("segment names of earlier runs not checked against the clock", "dir", cfg.Storage.Dir, "err", err)
	}
	for _, f := range fixes {
		if f.Unverified {
			continue
		}
		ac, ok := cfg.App(f.Segment.App)
		if !ok {
			continue
		}
		if h := r.hook(f.Segment.App, ac.Record.OnSegmentDone); h != nil {
			s := f.Segment
			s.RenamedFrom = f.Old // told by the earlier run
			h.Run(s)
		}
	}
}

// segmentRenamed passes a rename after a step of the wall clock in this
// run to the app's segment hook (ClockSteps.SetOnRename).
func (r *recordings) segmentRenamed(old string, s recorder.Segment) {
	r.mu.Lock()
	h := r.hooks[s.App]
	r.mu.Unlock()
	if h != nil {
		h.Renamed(old, s)
	}
}
