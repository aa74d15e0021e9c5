// Package recorder writes live streams to disk as segmented fragmented MP4,
// progressive MP4 or FLV files.
//
// Record consumes the media messages of one stream (a hub subscriber),
// cuts segments at video keyframes (every track at the keyframe's time,
// however far the audio leads the video: lead.go), rebases each segment's
// timestamps to zero, survives timestamp discontinuities and write errors, and never
// blocks the publisher: it only reads from its Source, so a disk slower
// than the stream shows up as the subscriber skipping to newer keyframes
// (hub.Subscriber.Skips) and as Stats.SlowSyncs, never as back-pressure.
//
// Formats:
//   - fmp4 (default): ftyp+moov, then one moof+mdat per fragment (Config.Fragment,
//     rounded up to the next keyframe), each written as one block, flushed
//     and fsynced. A file cut at any moment plays up to its last complete
//     fragment. Memory: one fragment, held as references to the shared
//     message buffers (no copy).
//   - mp4: recorded exactly like fmp4; at close the file is rewritten as
//     ftyp, moov, mdat (moov first) into NAME.tmp and renamed over NAME. The
//     sample tables of the open segment stay in memory (~14 B per sample).
//     A crash leaves the fMP4 file (playable) and possibly a NAME.tmp.
//   - flv: tags as received through a 256 KiB buffer, fsync every SyncEvery.
//     The first tag is an onMetaData of reserved size; at close it is
//     rewritten in place (one small pwrite, no whole-file rewrite) with
//     duration, filesize and a keyframes {times, filepositions} index.
//
// For fmp4 and mp4, an H.264/H.265 publisher whose sequence header is empty
// or lacks the parameter sets (they come only inside its keyframes) gets
// its avcC/hvcC built from the first keyframe carrying them; when later
// keyframes carry different ones, a new segment starts (inband.go).
//
// Wiring as a hub subscriber (the recorder releases every message it gets;
// the caller owns the subscriber and closes it):
//
//	sub := h.Subscribe(app, name, streamCfg)
//	go func() {
//		defer sub.Close()
//		err := recorder.Record(ctx, sub, app, name, recCfg)
//		// hub.ErrEnded: the stream ended for good; ctx.Err(): shutdown.
//	}()
//
// Cancelling ctx unblocks Record even while Next is blocked, because Record
// calls the source's Close method (hub.Subscriber has one).
//
// Around the recorder:
//   - Config.OnSegmentOpen and Config.OnSegmentDone bracket every segment
//     file (each open gets exactly one done); OpenSegments keeps the set of
//     files being written from them, for Sweep's inUse (feed Done with
//     Segment.OpenPath: a clock step may rename a segment at close).
//   - Sweep applies a retention Policy (MaxAge, MaxBytes, a MinFree floor
//     from ParseFreeSpace and a DiskUsage such as StatfsUsage) to a storage
//     tree, oldest first, never deleting a file in use or anything that is
//     not an .mp4/.flv recording.
//   - Recover, run at start before recording resumes, makes the segments
//     an earlier run left open playable (each has a NAME.open marker while
//     it is written: truncates torn fragments and tags, rewrites an FLV's
//     placeholder onMetaData, removes NAME.mp4.tmp leftovers), once; closed
//     and hand-placed recordings are only checked, and reported if damaged.
//   - Config.Clock and Policy.Clock (one ClockSteps shared by both) keep
//     names truthful and retention by age right when the wall clock steps,
//     as on boxes without a real-time clock: see clockstep.go.
//   - Hook runs an HTTP POST and/or a command for each closed segment (call
//     Run from OnSegmentDone), off the recording path, bounded in number
//     and time.
//   - Index is the recordings index of a storage directory: it lists the
//     streams and their segments in play order (CompareSegments),
//     optionally between two times, looks one up by its path under the
//     directory, and tells each file's start (ParseSegmentName, or its
//     start sidecar after a clock step: clockfix.go), format
//     as it is on disk (fmp4, mp4 or flv), size, whether it is still being
//     written, and its duration (the recorder's via Index.Closed, else read
//     from the file within a time budget, cached by size and mtime).
//   - DamageScanner checks closed recordings for damage, whole, once per
//     file, in the background, and remembers what it found across
//     restarts (damagescan.go, damagecheck.go); it never writes them.
//     Playback, the HTTP API, the console and the uploader read through it.
package recorder
