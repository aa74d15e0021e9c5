package appliance_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
)

// Files with several classes of problem at once — values of the wrong
// type, values out of range, unknown keys and bad TAPEDECK_* variables —
// report every problem in one pass, each line naming the file (or the
// variable), the key path and the value read. A type error must not hide
// the value errors beside it (the decoder drops a whole app whose one
// value does not decode).
func TestConfigEveryProblemInOnePass(t *testing.T) {
	const F = "FILE" // replaced by the file's path
	cases := []struct {
		name string
		env  map[string]string
		yaml string
		want []string // whole lines of Error(), in order
	}{
		{
			name: "the newcomer's file: type, value, unknown key and env at once",
			env:  map[string]string{"TAPEDECK_RTMP_LISTEN": "nonsense"},
			yaml: `
rtmp:
  chunk_size: abc
  limits:
    max_connections: -5
storage:
  max_age: tenminutes
apps:
  live:
    gop_cache: maybe
    publsh: {}
    publish:
      keys: secret
      allow: ["192.168.1.0/33"]
    record:
      format: mkv
      segment: 10s
    push:
      - url: http://x.example/live/k
    pull:
      cam: {url: "rtsp://cam/x", transport: sctp}
`,
			want: []string{
				F + `: apps.live.gop_cache: "maybe" is not true or false`,
				F + `: apps.live.publish.allow[0]: "192.168.1.0/33" is not a CIDR or an IP address`,
				F + `: apps.live.publish.keys: a key (not shown) is one value where a list is expected: write [KEY], or one "- KEY" line per item`,
				F + `: apps.live.publsh: unknown key (did you mean publish?)`,
				F + `: apps.live.pull.cam: transport "sctp": want tcp or udp`,
				F + `: apps.live.push[0]: rtmp url "http://x.example/live/****": scheme must be rtmp or rtmps`,
				F + `: apps.live.record.format: "mkv" is not fmp4, mp4 or flv`,
				F + `: rtmp.chunk_size: "abc" is not a whole number`,
				F + `: rtmp.limits.max_connections: must not be negative (got -5)`,
				`environment TAPEDECK_RTMP_LISTEN: rtmp.listen: "nonsense" is not host:port (e.g. ":1935" or "127.0.0.1:8080")`,
				F + `: storage.max_age: "tenminutes" is not a duration (e.g. 500ms, 10s, 1m30s)`,
			},
		},
		{
			name: "a map, a list and a scalar each where another is expected",
			yaml: `
rtmp: [":1935"]
log:
  level: {debug: true}
http:
  max_connections: 12.5
  pprof: 2
apps:
  cam:
    pull: door
    push: ["rtmp://relay/live/k"]
    record: {segment: {duration: [1m]}, max_bytes: 8XB}
`,
			want: []string{
				F + `: apps.cam.pull: must be a map of names to settings, not "door"`,
				F + `: apps.cam.push[0]: must be a map of settings (keys indented under it), not "rtmp://relay/live/k"`,
				F + `: apps.cam.record.max_bytes: "8XB" has an unknown unit "XB" (use B, KB, MB, GB, TB)`,
				F + `: apps.cam.record.segment.duration: a list is not a duration (e.g. 500ms, 10s, 1m30s)`,
				F + `: http.max_connections: 12.5 is not a whole number`,
				F + `: http.pprof: 2 is not true or false`,
				F + `: log.level: must be a single value, not a map`,
				F + `: rtmp: must be a map of settings (keys indented under it), not a list`,
			},
		},
		{
			// A value replaced by its default after a type error does not
			// turn into a second, invented problem (command_timeout is
			// checked against idle_timeout).
			name: "a type error is reported once",
			env:  map[string]string{"TAPEDECK_RTMP_LIMITS_MAX_CONNECTIONS": "lots"},
			yaml: "rtmp:\n  limits:\n    idle_timeout: forever\n    command_timeout: 30s\nrelay:\n  min_backoff: [1s]\n",
			want: []string{
				F + `: relay.min_backoff: a list is not a duration (e.g. 500ms, 10s, 1m30s)`,
				F + `: rtmp.limits.idle_timeout: "forever" is not a duration (e.g. 500ms, 10s, 1m30s)`,
				`environment TAPEDECK_RTMP_LIMITS_MAX_CONNECTIONS: rtmp.limits.max_connections: "lots" is not a whole number`,
			},
		},
		{
			name: "an environment list is split on commas and its items checked",
			env:  map[string]string{"TAPEDECK_RELAY_ALLOW_TARGETS_SCHEMES": "rtmp,ftp", "TAPEDECK_LOG_FORMAT": "xml"},
			yaml: "log:\n  level: loud\n",
			want: []string{
				`environment TAPEDECK_LOG_FORMAT: log.format: "xml" is not text or json`,
				F + `: log.level: "loud" is not one of debug, info, warn, error`,
				`environment TAPEDECK_RELAY_ALLOW_TARGETS_SCHEMES: relay.allow_targets.schemes[1]: "ftp" is not rtmp or rtmps`,
			},
		},
		{
			// The section falls back to its defaults, and the variable's
			// value over them is still checked.
			name: "a section of the wrong type and a bad variable inside it",
			env:  map[string]string{"TAPEDECK_RTMP_LISTEN": "nonsense"},
			yaml: "rtmp: [\":1935\"]\n",
			want: []string{
				`environment TAPEDECK_RTMP_LISTEN: rtmp.listen: "nonsense" is not host:port (e.g. ":1935" or "127.0.0.1:8080")`,
				F + `: rtmp: must be a map of settings (keys indented under it), not a list`,
			},
		},
		{
			name: "a segment given as a bare number has no unit",
			yaml: "apps:\n  live:\n    record:\n      segment: 10\n",
			want: []string{F + `: apps.live.record.segment: 10 needs a unit (e.g. 10s for seconds)`},
		},
		{
			name: "a list of keys with a map in it",
			yaml: "apps:\n  live:\n    play:\n      keys: [a, {b: c}]\n",
			want: []string{F + `: apps.live.play.keys[1]: must be a single value, not a map`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			p := writeConfig(t, "tapedeck.yaml", c.yaml)
			ce := loadProblems(t, p)
			want := strings.ReplaceAll(strings.Join(c.want, "\n"), F, p)
			if got := ce.Error(); got != want {
				t.Errorf("Error():\n%s\nwant:\n%s", got, want)
			}
			for _, line := range ce.Lines() {
				if strings.Contains(line, "cannot parse") || strings.Contains(line, "expected type") {
					t.Errorf("library wording in %q", line)
				}
			}
			if strings.Contains(ce.Error(), "secret") {
				t.Errorf("a publish key is printed: %s", ce.Error())
			}
		})
	}
}

// "segment: 10s", as nginx-rtmp users write record_interval, is the
// segment duration; the map form still works.
func TestConfigSegmentShorthand(t *testing.T) {
	for _, c := range []struct {
		yaml     string
		duration time.Duration
		maxBytes appliance.ByteSize
	}{
		{"segment: 10s", 10 * time.Second, 0},
		{"segment: 1m30s", 90 * time.Second, 0},
		{"segment: {duration: 5m, max_bytes: 1MB}", 5 * time.Minute, 1 << 20},
		{"fragment: 2s", 10 * time.Minute, 0}, // the default
	} {
		p := writeConfig(t, "tapedeck.yaml", "apps:\n  live:\n    record:\n      "+c.yaml+"\n")
		cfg, err := appliance.LoadConfig(p)
		if err != nil {
			t.Errorf("%s: %v", c.yaml, err)
			continue
		}
		if s := cfg.Apps["live"].Record.Segment; s.Duration != c.duration || s.MaxBytes != c.maxBytes {
			t.Errorf("%s: segment %+v, want duration %v max_bytes %d", c.yaml, s, c.duration, c.maxBytes)
		}
	}
}
