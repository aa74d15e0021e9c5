package appliance

import (
	"fmt"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/relay"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// serveMetrics writes the Prometheus text exposition format (version 0.0.4).
// It is written by hand: the handful of series tapedeck exports does not
// justify client_golang's weight in a binary meant for a Pi (3.5 MB more
// for linux/arm64 with its Go and process collectors, measured).
func (a *Appliance) serveMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m := metricWriter{w: w}
	st := a.rtmp.Stats()
	m.single("tapedeck_rtmp_connections", "gauge", "Open RTMP connections.", float64(st.Connections))
	m.single("tapedeck_rtmp_connections_accepted_total", "counter", "RTMP connections accepted.", float64(st.Accepted))
	m.single("tapedeck_rtmp_connections_refused_total", "counter", "RTMP connections refused by rtmp.limits.max_connections or max_connections_per_ip.", float64(st.Refused))
	m.single("tapedeck_rtmp_bytes_in_total", "counter", "Bytes received on RTMP connections.", float64(st.BytesIn))
	m.single("tapedeck_rtmp_bytes_out_total", "counter", "Bytes sent on RTMP connections.", float64(st.BytesOut))

	// One snapshot per stream (Stats locks the stream and walks its
	// subscribers), then one family per counter.
	var stats []hub.Stats
	live := 0
	for _, s := range a.hub.Streams() {
		st := s.Stats()
		stats = append(stats, st)
		if st.Publishing {
			live++
		}
	}
	m.single("tapedeck_streams", "gauge", "Streams being published.", float64(live))
	m.single("tapedeck_hls_muxers", "gauge", "Streams being served over HLS (muxers running).", float64(a.hls.Active()))
	for _, f := range []struct {
		name, typ, help string
		value           func(hub.Stats) float64
	}{
		{"tapedeck_stream_subscribers", "gauge", "Players and other consumers per stream.", func(st hub.Stats) float64 { return float64(st.Subscribers) }},
		{"tapedeck_stream_players", "gauge", "RTMP players per stream.", func(st hub.Stats) float64 { return float64(st.Players) }},
		{"tapedeck_stream_bytes_in_total", "counter", "Media bytes published per stream.", func(st hub.Stats) float64 { return float64(st.BytesIn) }},
		{"tapedeck_stream_bytes_out_total", "counter", "Media bytes handed to players, recorder and relays per stream.", func(st hub.Stats) float64 { return float64(st.BytesOut) }},
		{"tapedeck_stream_held_bytes", "gauge", "Media bytes a stream holds for its consumers: the GOP cache and what one has yet to read.", func(st hub.Stats) float64 { return float64(st.HeldBytes) }},
		{"tapedeck_stream_skips_total", "counter", "Times a slow consumer fell behind and skipped to the next keyframe (dropped frames).", func(st hub.Stats) float64 { return float64(st.Skips) }},
	} {
		m.family(f.name, f.typ, f.help)
		for _, st := range stats {
			m.sample(f.name, []string{"app", st.App, "stream", st.Name}, f.value(st))
		}
	}
	rt, active := a.rec.totals()
	m.single("tapedeck_recordings_active", "gauge", "Streams being recorded.", float64(active))
	m.single("tapedeck_recording_bytes", "gauge", "Bytes written by the running recorders.", float64(rt.Bytes))
	m.single("tapedeck_recording_write_errors", "gauge", "Write errors of the running recorders (disk full, I/O).", float64(rt.WriteErrors))
	m.single("tapedeck_recording_dropped", "gauge", "Media messages the running recorders could not write (paused, untracked codec).", float64(rt.Dropped))
	m.single("tapedeck_recording_slow_syncs", "gauge", "Flushes to disk that took over 1 s (a disk slower than the stream).", float64(rt.SlowSyncs))
	paused := 0.0
	if rt.Paused {
		paused = 1
	}
	m.single("tapedeck_recording_paused", "gauge", "1 while some recording is paused by write errors.", paused)
	runs, failures, dropped := a.rec.hookCounts()
	m.family("tapedeck_segment_hooks_total", "counter", "on_segment_done hook runs, by result.")
	m.sample("tapedeck_segment_hooks_total", []string{"result", "run"}, float64(runs-failures))
	m.sample("tapedeck_segment_hooks_total", []string{"result", "failed"}, float64(failures))
	m.sample("tapedeck_segment_hooks_total", []string{"result", "dropped"}, float64(dropped))
	a.rec.mu.Lock()
	swept := a.rec.swept
	a.rec.mu.Unlock()
	m.single("tapedeck_retention_deleted_total", "counter", "Recordings deleted by retention.", float64(swept))
	if free, ok := freeBytes(a.config().Storage.Dir); ok {
		m.single("tapedeck_storage_free_bytes", "gauge", "Free bytes on the storage.dir file system.", float64(free))
	}
	a.uploadMetrics(m)
	relays := a.push.Streams()
	for _, f := range []struct {
		name, typ, help string
		value           func(relay.Status) float64
	}{
		{"tapedeck_relay_up", "gauge", "1 while a push target is live, 0 while connecting, backing off or incompatible.", func(t relay.Status) float64 {
			if t.State == relay.StateLive {
				return 1
			}
			return 0
		}},
		{"tapedeck_relay_reconnects_total", "counter", "Reconnect attempts per push target.", func(t relay.Status) float64 { return float64(t.Retries) }},
		{"tapedeck_relay_bytes_out_total", "counter", "Bytes sent per push target.", func(t relay.Status) float64 { return float64(t.BytesOut) }},
		{"tapedeck_relay_refusals_total", "counter", "Times a push target was not sent its stream because the upstream's connect reply did not announce one of its codecs (Enhanced RTMP).", func(t relay.Status) float64 { return float64(t.Refusals) }},
	} {
		m.family(f.name, f.typ, f.help)
		for _, rs := range relays {
			for _, t := range rs.Targets {
				m.sample(f.name, []string{"app", rs.App, "stream", rs.Stream, "target", t.Name}, f.value(t))
			}
		}
	}
	writeRuntimeMetrics(m) // go_* and process_*, as client_golang names them
}

type metricWriter struct{ w io.Writer }

func (m metricWriter) family(name, typ, help string) {
	fmt.Fprintf(m.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// single writes a family of one unlabelled series, which is what most of
// tapedeck's metrics are: the name is then written once, not twice.
func (m metricWriter) single(name, typ, help string, v float64) {
	m.family(name, typ, help)
	m.sample(name, nil, v)
}

// sample writes one series; labels alternate name, value.
func (m metricWriter) sample(name string, labels []string, v float64) {
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(labelEscaper.Replace(labels[i+1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	b.WriteByte('\n')
	io.WriteString(m.w, b.String())
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
