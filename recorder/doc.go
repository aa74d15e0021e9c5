// Package recorder writes live streams to disk as segmented fragmented MP4,
// progressive MP4 or FLV files.
//
// Record consumes the media messages of one stream (a hub subscriber),
// cuts segments at video keyframes, rebases each segment's timestamps to
// zero, survives timestamp discontinuities and write errors, and never
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
package recorder
