package appliance_test

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/console"
	"github.com/tapedeck/tapedeck/appliance/relay"
	"github.com/tapedeck/tapedeck/recorder"
)

// writeConfig writes a config file into a fresh temporary directory.
func writeConfig(t testing.TB, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadProblems loads path and returns its *ConfigError; it fails the test
// when the file loads or fails some other way.
func loadProblems(t testing.TB, path string) *appliance.ConfigError {
	t.Helper()
	cfg, err := appliance.LoadConfig(path)
	if err == nil {
		t.Fatalf("LoadConfig(%s) succeeded (%+v), want a *ConfigError", path, cfg)
	}
	if cfg != nil {
		t.Errorf("LoadConfig(%s) returned a config with its error", path)
	}
	var ce *appliance.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("LoadConfig(%s): %T %v, want a *appliance.ConfigError", path, err, err)
	}
	return ce
}

// expectProblems checks that path fails with exactly want (problems
// without the file name, in any order) and that Error() prints each as
// "FILE: key.path: problem".
func expectProblems(t testing.TB, path, source string, want []string) {
	t.Helper()
	ce := loadProblems(t, path)
	if ce.Source != source {
		t.Errorf("ConfigError.Source = %q, want %q", ce.Source, source)
	}
	got := slices.Clone(ce.Problems)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n  got  %q\n  want %q", got, want)
	}
	lines := make([]string, len(want))
	for i, p := range want {
		lines[i] = source + ": " + p
	}
	if e := ce.Error(); e != strings.Join(lines, "\n") {
		t.Errorf("Error():\n%s\nwant:\n%s", e, strings.Join(lines, "\n"))
	}
}

func TestConfigProblems(t *testing.T) {
	keyFile := writeConfig(t, "key.pem", "not really a key")
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown key with suggestion", "rtmp:\n  chunk_sise: 4096\n",
			[]string{"rtmp.chunk_sise: unknown key (did you mean chunk_size?)"}},
		{"unknown top-level key with suggestion", "rtmpp:\n  listen: \":1935\"\n",
			[]string{"rtmpp: unknown key (did you mean rtmp?)"}},
		{"unknown key without suggestion", "bogus_thing: 1\n",
			[]string{"bogus_thing: unknown key"}},
		{"unknown key in an app", "apps:\n  live:\n    publsh:\n      keys: [a]\n",
			[]string{"apps.live.publsh: unknown key (did you mean publish?)"}},
		{"bad duration", "rtmp:\n  write_batch: fast\n",
			[]string{`rtmp.write_batch: "fast" is neither auto nor a duration (e.g. auto, 0s, 20ms)`}},
		{"bad size unit", "rtmp:\n  limits:\n    max_message_bytes: 8XB\n",
			[]string{`rtmp.limits.max_message_bytes: "8XB" has an unknown unit "XB" (use B, KB, MB, GB, TB)`}},
		{"size out of range", "rtmp:\n  limits:\n    max_message_bytes: 16MB\n",
			[]string{"rtmp.limits.max_message_bytes: 16777216 is outside 1KB..16MB-1"}},
		{"chunk_size too small", "rtmp:\n  chunk_size: 64\n",
			[]string{"rtmp.chunk_size: 64 is outside 128..16777215"}},
		{"chunk_size too large", "rtmp:\n  chunk_size: 16777216\n",
			[]string{"rtmp.chunk_size: 16777216 is outside 128..16777215"}},
		{"chunk_size not a number", "rtmp:\n  chunk_size: big\n",
			[]string{`rtmp.chunk_size: "big" is not a whole number`}},
		{"write_batch out of range", "rtmp:\n  write_batch: 2s\n",
			[]string{"rtmp.write_batch: 2s is outside 0s..1s"}},
		{"bad listen address", "rtmp:\n  listen: nonsense\n",
			[]string{`rtmp.listen: "nonsense" is not host:port (e.g. ":1935" or "127.0.0.1:8080")`}},
		{"bad listen port", "rtmp:\n  listen: \":99999\"\n",
			[]string{`rtmp.listen: ":99999" has an invalid port`}},
		{"empty rtmp listen", "rtmp:\n  listen: \"\"\n",
			[]string{"rtmp.listen: must not be empty"}},
		{"bad http listen", "http:\n  listen: localhost\n",
			[]string{`http.listen: "localhost" is not host:port (e.g. ":1935" or "127.0.0.1:8080")`}},
		{"bad CIDR", "apps:\n  live:\n    publish:\n      allow: [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n",
			[]string{`apps.live.publish.allow[1]: "10.0.0.0/33" is not a CIDR or an IP address`}},
		{"bad CIDR first", "apps:\n  live:\n    publish:\n      allow: [\"10.0.0.0/33\"]\n",
			[]string{`apps.live.publish.allow[0]: "10.0.0.0/33" is not a CIDR or an IP address`}},
		{"empty play key", "apps:\n  live:\n    play:\n      keys: [\"a\", \"\"]\n",
			[]string{"apps.live.play.keys[1]: empty key"}},
		{"bad webhook URL", "webhooks:\n  on_publish: ftp://example.com/hook\n",
			[]string{`webhooks.on_publish: "ftp://example.com/hook" is not an http(s) URL`}},
		{"webhook URL without host", "apps:\n  live:\n    webhooks:\n      on_play: \"http:///x\"\n",
			[]string{`apps.live.webhooks.on_play: "http:///x" is not an http(s) URL`}},
		{"missing cert file", "rtmp:\n  tls:\n    listen: \":1936\"\n    cert_file: /nonexistent/tapedeck/cert.pem\n    key_file: " + keyFile + "\n",
			[]string{"rtmp.tls.cert_file: cannot read /nonexistent/tapedeck/cert.pem: no such file or directory"}},
		{"tls without cert and key", "rtmp:\n  tls:\n    listen: \":1936\"\n",
			[]string{"rtmp.tls.cert_file: must be set", "rtmp.tls.key_file: must be set"}},
		{"reconnect_url with another scheme", "rtmp:\n  reconnect_url: http://box/live\n",
			[]string{`rtmp.reconnect_url: "http://box/live": scheme "http" is not rtmp or rtmps`}},
		{"reconnect_url without an app", "rtmp:\n  reconnect_url: rtmp://box:1935\n",
			[]string{`rtmp.reconnect_url: "rtmp://box:1935" has no app (rtmp://host/app)`}},
		{"reconnect_url neither absolute nor rooted", "rtmp:\n  reconnect_url: box/live\n",
			[]string{`rtmp.reconnect_url: "box/live" is neither rtmp://host/app, rtmps://host/app nor relative (//host/app, /app)`}},
		{"reconnect_url without a host", "rtmp:\n  reconnect_url: rtmp:///live\n",
			[]string{`rtmp.reconnect_url: "rtmp:///live" has no host`}},
		{"bad log level", "log:\n  level: loud\n",
			[]string{`log.level: "loud" is not one of debug, info, warn, error`}},
		{"bad log format", "log:\n  format: xml\n",
			[]string{`log.format: "xml" is not text or json`}},
		{"empty storage dir", "storage:\n  dir: \"\"\n",
			[]string{"storage.dir: must not be empty"}},
		{"app named like vod.app", "apps:\n  vod:\n    gop_cache: true\n",
			[]string{"apps.vod: is the playback app (vod.app); choose another name"}},
		{"app named like a renamed vod.app", "vod:\n  app: replay\napps:\n  replay:\n    gop_cache: true\n",
			[]string{"apps.replay: is the playback app (vod.app); choose another name"}},
		{"negative republish_grace", "apps:\n  live:\n    republish_grace: -1s\n",
			[]string{`apps.live.republish_grace: must not be negative (got "-1s")`}},
		{"negative max_connections", "rtmp:\n  limits:\n    max_connections: -1\n",
			[]string{"rtmp.limits.max_connections: must not be negative (got -1)"}},
		{"zero idle_timeout", "rtmp:\n  limits:\n    idle_timeout: 0s\n",
			[]string{`rtmp.limits.idle_timeout: must be positive (got "0s")`}},
		{"negative max_connections_per_ip", "rtmp:\n  limits:\n    max_connections_per_ip: -1\n",
			[]string{"rtmp.limits.max_connections_per_ip: must not be negative (got -1)"}},
		{"max_connections_per_ip above max_connections", "rtmp:\n  limits:\n    max_connections: 100\n    max_connections_per_ip: 101\n",
			[]string{"rtmp.limits.max_connections_per_ip: 101 is above max_connections (100)"}},
		{"negative http max_connections", "http:\n  max_connections: -1\n",
			[]string{"http.max_connections: must not be negative (got -1)"}},
		{"push policy with a bad scheme and host", "relay:\n  allow_targets:\n    schemes: [rtmp, http]\n    hosts: [public, \"10.0.0.0/33\"]\n",
			[]string{
				`relay.allow_targets.schemes[1]: "http" is not rtmp or rtmps`,
				`relay.allow_targets.hosts[1]: "10.0.0.0/33" is not "public", a CIDR, an address or a host name`,
			}},
		{"zero command_timeout", "rtmp:\n  limits:\n    command_timeout: 0s\n",
			[]string{`rtmp.limits.command_timeout: must be positive (got "0s")`}},
		{"command_timeout above idle_timeout", "rtmp:\n  limits:\n    command_timeout: 2m\n",
			[]string{"rtmp.limits.command_timeout: 2m0s is above idle_timeout (1m0s)"}},
		{"close_after without on_demand", "apps:\n  cams:\n    pull:\n      door:\n        url: rtsp://cam/x\n        close_after: 30s\n",
			[]string{`apps.cams.pull.door.close_after: only applies with on_demand: true (got "30s")`}},
		{"pull with a bad transport", "apps:\n  cams:\n    pull:\n      door:\n        url: rtsp://cam/x\n        transport: sctp\n",
			[]string{`apps.cams.pull.door: transport "sctp": want tcp or udp`}},
		{"rtsps pull over udp", "apps:\n  cams:\n    pull:\n      door:\n        url: rtsps://cam/x\n        transport: udp\n",
			[]string{`apps.cams.pull.door: transport "udp": rtsps works over tcp only (rtsps with udp needs SRTP, which is not supported)`}},
		{"min_free not a size", "storage:\n  min_free: lots\n",
			[]string{`storage.min_free: free space "lots": no number (want a size like 2GB or 512MB, or a percentage like 10%)`}},
		{"min_free percentage too large", "storage:\n  min_free: 100%\n",
			[]string{`storage.min_free: free space "100%": a percentage must be below 100 (want a size like 2GB or 512MB, or a percentage like 10%)`}},
		{"push target with a bad URL", "apps:\n  live:\n    push:\n      - url: ftp://host/live/key\n",
			[]string{`apps.live.push[0]: rtmp url "ftp://host/live/****": scheme must be rtmp or rtmps`}},
		{"push target with an unknown key", "apps:\n  live:\n    push:\n      - url: rtmp://host/live/key\n        stream: [a]\n",
			[]string{"apps.live.push[0].stream: unknown key (did you mean streams?)"}},
		{"invalid YAML", "rtmp: [\n",
			[]string{"not valid YAML: yaml: line 1: did not find expected node content"}},
		{"many problems at once",
			"rtmp:\n  chunk_sise: 1\n  write_batch: fast\n  limits:\n    max_message_bytes: 8XB\n" +
				"bogus_thing: 1\nlog:\n  level: loud\n" +
				"webhooks:\n  on_publish: ftp://x/y\n" +
				"apps:\n  vod:\n    gop_cache: true\n  live:\n    publish:\n      allow: [nope]\n",
			[]string{
				"rtmp.chunk_sise: unknown key (did you mean chunk_size?)",
				`rtmp.write_batch: "fast" is neither auto nor a duration (e.g. auto, 0s, 20ms)`,
				`rtmp.limits.max_message_bytes: "8XB" has an unknown unit "XB" (use B, KB, MB, GB, TB)`,
				"bogus_thing: unknown key",
				`log.level: "loud" is not one of debug, info, warn, error`,
				`webhooks.on_publish: "ftp://x/y" is not an http(s) URL`,
				"apps.vod: is the playback app (vod.app); choose another name",
				`apps.live.publish.allow[0]: "nope" is not a CIDR or an IP address`,
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeConfig(t, "tapedeck.yaml", c.yaml)
			expectProblems(t, p, p, c.want)
		})
	}
}

// A value inside an app that fails to decode is reported under its key
// path, "apps.live.republish_grace", like every other problem (the
// documented "FILE: key.path: problem" format), not in mapstructure's
// path syntax "apps[live].republish_grace".
func TestConfigProblemPathInApp(t *testing.T) {
	p := writeConfig(t, "tapedeck.yaml", "apps:\n  live:\n    republish_grace: soon\n    webhooks:\n      timeout: never\n")
	expectProblems(t, p, p, []string{
		`apps.live.republish_grace: "soon" is not a duration (e.g. 500ms, 10s, 1m30s)`,
		`apps.live.webhooks.timeout: "never" is not a duration (e.g. 500ms, 10s, 1m30s)`,
	})
}

// storage.min_free and push targets are decoded into their runtime types
// (recorder.FreeSpace, relay.Target) at load, once.
func TestConfigTypedValues(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        recorder.FreeSpace
	}{
		{"size", `"2GB"`, recorder.FreeSpace{Bytes: 2 << 30}},
		{"percentage", `"10%"`, recorder.FreeSpace{Percent: 10}},
		{"bare number", "1048576", recorder.FreeSpace{Bytes: 1 << 20}},
		{"zero", "0", recorder.FreeSpace{}},
		{"empty: off", `""`, recorder.FreeSpace{}},
	} {
		t.Run("min_free "+tc.name, func(t *testing.T) {
			cfg, err := appliance.LoadConfig(writeConfig(t, "tapedeck.yaml", "storage:\n  min_free: "+tc.value+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Storage.MinFree != tc.want {
				t.Errorf("min_free %s = %+v, want %+v", tc.value, cfg.Storage.MinFree, tc.want)
			}
		})
	}
	cfg, err := appliance.LoadConfig(writeConfig(t, "tapedeck.yaml",
		"apps:\n  live:\n    push:\n      - name: yt\n        url: rtmp://a.example/live2/{stream}\n        streams: [cam*]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []relay.Target{{Name: "yt", URL: "rtmp://a.example/live2/{stream}", Streams: []string{"cam*"}}}
	if got := cfg.Apps["live"].Push; !reflect.DeepEqual(got, want) {
		t.Errorf("push = %+v, want %+v", got, want)
	}
}

func TestConfigMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "absent.yaml")
	cfg, err := appliance.LoadConfig(p)
	if cfg != nil || err == nil || err.Error() != "config: open "+p+": no such file or directory" {
		t.Fatalf("LoadConfig of a missing file: %v, %v", cfg, err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v does not wrap os.ErrNotExist", err)
	}
}

func TestConfigEmbeddedDefault(t *testing.T) {
	def, err := appliance.LoadConfig("")
	if err != nil {
		t.Fatalf("LoadConfig(\"\"): %v", err)
	}
	if def.Source != "embedded default" {
		t.Errorf("Source = %q, want \"embedded default\"", def.Source)
	}
	r := def.RTMP
	if r.Listen != ":1935" || r.ChunkSize != 4096 || r.WriteBatch != (appliance.WriteBatch{Auto: true}) ||
		r.Limits.MaxConnections != 2000 || r.Limits.MaxMessageBytes != 8<<20 ||
		r.Limits.HandshakeTimeout != 10*time.Second || r.Limits.IdleTimeout != 60*time.Second ||
		r.Limits.MaxConnectionsPerIP != 200 || r.Limits.CommandTimeout != 5*time.Second ||
		!slices.Equal(def.Relay.AllowTargets.Schemes, []string{"rtmp", "rtmps"}) || !slices.Equal(def.Relay.AllowTargets.Hosts, []string{"public"}) ||
		r.TLS != (appliance.TLSConfig{}) {
		t.Errorf("rtmp defaults: %+v", r)
	}
	if !reflect.DeepEqual(def.HTTP, appliance.HTTPConfig{Listen: "127.0.0.1:8080", MaxConnections: 64, Users: []console.User{}, SessionTTL: 12 * time.Hour, HLS: def.HTTP.HLS}) || def.Log != (appliance.LogConfig{Level: "info", Format: "text"}) ||
		def.Storage.Dir != "./recordings" || def.VOD.App != "vod" ||
		def.Webhooks != (appliance.WebhooksConfig{Timeout: 5 * time.Second}) {
		t.Errorf("defaults: http %+v log %+v storage %+v vod %+v webhooks %+v", def.HTTP, def.Log, def.Storage, def.VOD, def.Webhooks)
	}
	if len(def.Apps) != 1 {
		t.Errorf("default apps: %+v, want only live", def.Apps)
	}
	live, ok := def.Apps["live"]
	if !ok || !live.GOPCache || live.RepublishGrace != 10*time.Second ||
		len(live.Publish.Keys)+len(live.Publish.Allow)+len(live.Play.Keys)+len(live.Play.Allow) != 0 {
		t.Errorf("default live app: %+v", live)
	}
	if errs := def.Validate(); len(errs) != 0 {
		t.Errorf("the default config does not validate: %v", errs)
	}

	// The printed default, saved to a file, is the same configuration.
	p := writeConfig(t, "tapedeck.yaml", string(appliance.DefaultConfigYAML()))
	fromFile, err := appliance.LoadConfig(p)
	if err != nil {
		t.Fatalf("LoadConfig of the printed default: %v", err)
	}
	if fromFile.Source != p {
		t.Errorf("Source = %q, want %q", fromFile.Source, p)
	}
	fromFile.Source = def.Source
	if !reflect.DeepEqual(fromFile, def) {
		t.Errorf("printed default loads as\n%+v\nwant\n%+v", fromFile, def)
	}

	// DefaultConfigYAML hands out a copy.
	b := appliance.DefaultConfigYAML()
	b[0] = 'X'
	if appliance.DefaultConfigYAML()[0] == 'X' {
		t.Errorf("DefaultConfigYAML returns the embedded bytes themselves")
	}
}

// An empty or comment-only file is refused, not taken as the defaults:
// a cut-off save must not drop the keys and the token (issue 15).
func TestConfigEmptyFileRefused(t *testing.T) {
	for _, c := range []struct{ name, text, what string }{
		{"empty", "", "is empty"},
		{"blank", "\n  \n", "is empty"},
		{"comments", "# nothing set\n", "holds only comments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeConfig(t, "tapedeck.yaml", c.text)
			expectProblems(t, p, p, []string{
				"the file " + c.what + ": refused, as a cut-off save would drop every setting (start from `tapedeck config`, or run without a file for the defaults)",
			})
		})
	}
}

func TestConfigValues(t *testing.T) {
	p := writeConfig(t, "tapedeck.yaml", `
rtmp:
  listen: "0.0.0.0:1940"
  chunk_size: 60000
  write_batch: 0s
  limits:
    max_message_bytes: 512 KiB
    idle_timeout: 1m30s
http:
  listen: ""
  token: abc
log:
  level: DEBUG
  format: json
webhooks:
  on_publish: https://hooks.example/pub
  timeout: 750ms
`)
	cfg, err := appliance.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RTMP.Listen != "0.0.0.0:1940" || cfg.RTMP.ChunkSize != 60000 || cfg.RTMP.WriteBatch != (appliance.WriteBatch{}) ||
		cfg.RTMP.Limits.MaxMessageBytes != 512<<10 || cfg.RTMP.Limits.IdleTimeout != 90*time.Second ||
		cfg.RTMP.Limits.HandshakeTimeout != 10*time.Second {
		t.Errorf("rtmp: %+v", cfg.RTMP)
	}
	if !reflect.DeepEqual(cfg.HTTP, appliance.HTTPConfig{Token: "abc", MaxConnections: 64, Users: []console.User{}, SessionTTL: 12 * time.Hour, HLS: cfg.HTTP.HLS}) || cfg.Log != (appliance.LogConfig{Level: "DEBUG", Format: "json"}) {
		t.Errorf("http %+v log %+v", cfg.HTTP, cfg.Log)
	}
	if cfg.Webhooks != (appliance.WebhooksConfig{OnPublish: "https://hooks.example/pub", Timeout: 750 * time.Millisecond}) {
		t.Errorf("webhooks %+v", cfg.Webhooks)
	}
}

func TestConfigEnvOverrides(t *testing.T) {
	t.Setenv("TAPEDECK_RTMP_LISTEN", "127.0.0.1:1999")
	t.Setenv("TAPEDECK_STORAGE_DIR", "/srv/tapedeck")
	p := writeConfig(t, "tapedeck.yaml", "rtmp:\n  listen: \":1940\"\nstorage:\n  dir: /data\n")
	for _, path := range []string{p, ""} {
		cfg, err := appliance.LoadConfig(path)
		if err != nil {
			t.Fatalf("LoadConfig(%q): %v", path, err)
		}
		if cfg.RTMP.Listen != "127.0.0.1:1999" || cfg.Storage.Dir != "/srv/tapedeck" {
			t.Errorf("LoadConfig(%q) with env overrides: rtmp.listen %q storage.dir %q, want 127.0.0.1:1999 and /srv/tapedeck",
				path, cfg.RTMP.Listen, cfg.Storage.Dir)
		}
	}

	// Invalid values from the environment are blamed on their variable,
	// not on the file (or the embedded default) they override.
	t.Setenv("TAPEDECK_RTMP_LISTEN", "nope")
	t.Setenv("TAPEDECK_RTMP_CHUNK_SIZE", "huge")
	want := "environment TAPEDECK_RTMP_CHUNK_SIZE: rtmp.chunk_size: \"huge\" is not a whole number\n" +
		"environment TAPEDECK_RTMP_LISTEN: rtmp.listen: \"nope\" is not host:port (e.g. \":1935\" or \"127.0.0.1:8080\")"
	for _, path := range []string{p, ""} {
		ce := loadProblems(t, path)
		if got := ce.Error(); got != want {
			t.Errorf("LoadConfig(%q) with bad env values:\n%s\nwant:\n%s", path, got, want)
		}
	}
}

// An app's missing keys get the app defaults, not Go zero values.
func TestConfigAppDefaults(t *testing.T) {
	p := writeConfig(t, "tapedeck.yaml", "apps:\n  cam:\n    publish:\n      keys: [k]\n  slow:\n    gop_cache: false\n    republish_grace: 0s\n")
	cfg, err := appliance.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	cam, ok := cfg.Apps["cam"]
	if !ok || !cam.GOPCache || cam.RepublishGrace != 10*time.Second || !slices.Equal(cam.Publish.Keys, []string{"k"}) ||
		len(cam.Play.Keys) != 0 || len(cam.Publish.Allow) != 0 {
		t.Errorf("apps.cam = %+v (present %v), want gop_cache true, republish_grace 10s, publish.keys [k]", cam, ok)
	}
	slow, ok := cfg.Apps["slow"]
	if !ok || slow.GOPCache || slow.RepublishGrace != 0 {
		t.Errorf("apps.slow = %+v (present %v), want gop_cache false, republish_grace 0s", slow, ok)
	}
}

// The file's apps replace the default ones rather than merge (as
// config.go documents): a box configured with only a locked-down app has
// no open "live" app, which anyone could publish to.
func TestConfigAppsReplaceDefault(t *testing.T) {
	p := writeConfig(t, "tapedeck.yaml", "apps:\n  cam:\n    publish:\n      keys: [k]\n")
	cfg, err := appliance.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Apps["cam"]; !ok {
		t.Errorf("apps.cam missing")
	}
	if live, ok := cfg.Apps["live"]; ok {
		t.Errorf("the default app \"live\" (open: %+v) survives a file that lists its own apps: apps = %v", live, slices.Sorted(maps.Keys(cfg.Apps)))
	}
}

// An app given with no settings ("cam: {}") exists, with the app
// defaults, rather than disappearing.
func TestConfigAppWithoutSettings(t *testing.T) {
	p := writeConfig(t, "tapedeck.yaml", "apps:\n  live:\n    gop_cache: true\n  cam: {}\n")
	cfg, err := appliance.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	cam, ok := cfg.Apps["cam"]
	if !ok || !cam.GOPCache || cam.RepublishGrace != 10*time.Second {
		t.Errorf("apps.cam given as {} loads as %+v (present %v); apps = %v", cam, ok, slices.Sorted(maps.Keys(cfg.Apps)))
	}
}

// App names are the first element of rtmp://box/<app>/..., which is
// case-sensitive on the wire (OnConnect looks the client's app up as
// sent): an app "Studio" is found under its own name, not lower-cased as
// viper would have it.
func TestConfigAppNameCase(t *testing.T) {
	p := writeConfig(t, "tapedeck.yaml", "apps:\n  Studio:\n    gop_cache: false\n")
	cfg, err := appliance.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.App("Studio"); !ok {
		t.Errorf("app \"Studio\" is not found under its own name; apps = %v", slices.Sorted(maps.Keys(cfg.Apps)))
	}
}

// A duration written as a bare number ("idle_timeout: 10") is reported
// like any other value that is not a duration, rather than taken as 10ns.
func TestConfigBareNumberDuration(t *testing.T) {
	p := writeConfig(t, "tapedeck.yaml", "rtmp:\n  limits:\n    idle_timeout: 10\n")
	cfg, err := appliance.LoadConfig(p)
	if err == nil {
		t.Fatalf("idle_timeout: 10 loads without a problem as %v", cfg.RTMP.Limits.IdleTimeout)
	}
	ce := loadProblems(t, p)
	if len(ce.Problems) != 1 || !strings.HasPrefix(ce.Problems[0], "rtmp.limits.idle_timeout: ") {
		t.Errorf("problems %q, want one about rtmp.limits.idle_timeout", ce.Problems)
	}
}

func TestConfigAppLookup(t *testing.T) {
	cfg := &appliance.Config{Apps: map[string]appliance.AppConfig{
		"live": {GOPCache: true},
		"*":    {RepublishGrace: time.Second},
	}}
	if a, ok := cfg.App("live"); !ok || !a.GOPCache {
		t.Errorf("App(live) = %+v, %v", a, ok)
	}
	if a, ok := cfg.App("other"); !ok || a.RepublishGrace != time.Second {
		t.Errorf("App(other) with a \"*\" app = %+v, %v, want the \"*\" settings", a, ok)
	}
	delete(cfg.Apps, "*")
	if _, ok := cfg.App("other"); ok {
		t.Errorf("App(other) without a \"*\" app found something")
	}
}

func TestConfigParseByteSize(t *testing.T) {
	good := []struct {
		in   string
		want appliance.ByteSize
	}{
		{"0", 0},
		{"1048576", 1048576},
		{"100B", 100},
		{"1K", 1 << 10},
		{"512KB", 512 << 10},
		{"512 KiB", 512 << 10},
		{"512kib", 512 << 10},
		{"8MB", 8 << 20},
		{"8mb", 8 << 20},
		{"8 MiB", 8 << 20},
		{"1.5MB", 3 << 19},
		{"0.5K", 512},
		{"2G", 2 << 30},
		{"2GB", 2 << 30},
		{"2GiB", 2 << 30},
		{"1TB", 1 << 40},
		{"  4K  ", 4 << 10},
	}
	for _, c := range good {
		got, err := appliance.ParseByteSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, err string }{
		{"", `"" is not a size (e.g. 512KB, 8MB, 2GB)`},
		{"MB", `"MB" is not a size (e.g. 512KB, 8MB, 2GB)`},
		{"-1", `"-1" is not a size (e.g. 512KB, 8MB, 2GB)`},
		{"1.2.3MB", `"1.2.3MB" is not a size (e.g. 512KB, 8MB, 2GB)`},
		{"8XB", `"8XB" has an unknown unit "XB" (use B, KB, MB, GB, TB)`},
		{"8 bytes", `"8 bytes" has an unknown unit "BYTES" (use B, KB, MB, GB, TB)`},
		{"1e3", `"1e3" has an unknown unit "E3" (use B, KB, MB, GB, TB)`},
		{"8PB", `"8PB" has an unknown unit "PB" (use B, KB, MB, GB, TB)`},
	}
	for _, c := range bad {
		got, err := appliance.ParseByteSize(c.in)
		if err == nil || err.Error() != c.err {
			t.Errorf("ParseByteSize(%q) = %d, %v; want error %q", c.in, got, err, c.err)
		}
	}
}
