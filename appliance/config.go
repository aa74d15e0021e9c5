package appliance

import (
	"bytes"
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"github.com/tapedeck/tapedeck/appliance/console"
	"github.com/tapedeck/tapedeck/appliance/relay"
	"github.com/tapedeck/tapedeck/recorder"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultConfigYAML returns the embedded, commented default configuration.
func DefaultConfigYAML() []byte { return bytes.Clone(defaultYAML) }

// Config is the whole appliance configuration (one YAML file).
type Config struct {
	RTMP     RTMPConfig           `mapstructure:"rtmp"`
	HTTP     HTTPConfig           `mapstructure:"http"`
	Log      LogConfig            `mapstructure:"log"`
	Storage  StorageConfig        `mapstructure:"storage"`
	VOD      VODConfig            `mapstructure:"vod"`
	Webhooks WebhooksConfig       `mapstructure:"webhooks"`
	Relay    RelayConfig          `mapstructure:"relay"`
	Apps     map[string]AppConfig `mapstructure:"apps"`

	// Source names the file the config came from ("embedded default" if none).
	Source string `mapstructure:"-"`
}

// RTMPConfig configures the RTMP listeners.
type RTMPConfig struct {
	Listen     string     `mapstructure:"listen"`
	ChunkSize  int        `mapstructure:"chunk_size"`
	WriteBatch WriteBatch `mapstructure:"write_batch"`
	// SharedWriter has one goroutine per stream write to its caught-up
	// players with non-blocking writes (linux; rtmp/fanout.go). On by
	// default: on a quiet machine it cost 0.58-0.60x nginx-rtmp's CPU at
	// 1000 players where a goroutine per player cost 0.89-0.91x
	// (rtmp/internal/loadtest/RESULTS.md).
	SharedWriter bool         `mapstructure:"shared_writer"`
	Limits       LimitsConfig `mapstructure:"limits"`
	TLS          TLSConfig    `mapstructure:"tls"`
	// ReconnectURL is the tcUrl Enhanced RTMP v2 ReconnectRequests point
	// publishers to (on shutdown and on kick?reconnect=1); empty: their
	// own, back here.
	ReconnectURL string `mapstructure:"reconnect_url"`
}

// LimitsConfig bounds what clients can make the server spend.
type LimitsConfig struct {
	MaxConnections int `mapstructure:"max_connections"`
	// MaxConnectionsPerIP bounds one client address (IPv6: one /64), so
	// one address cannot take every slot; 0 = unlimited.
	MaxConnectionsPerIP int           `mapstructure:"max_connections_per_ip"`
	MaxMessageBytes     ByteSize      `mapstructure:"max_message_bytes"`
	HandshakeTimeout    time.Duration `mapstructure:"handshake_timeout"`
	// CommandTimeout is the time to send connect after the handshake, and
	// publish or play after connect.
	CommandTimeout time.Duration `mapstructure:"command_timeout"`
	IdleTimeout    time.Duration `mapstructure:"idle_timeout"`
}

// TLSConfig enables RTMPS ingest.
type TLSConfig struct {
	Listen   string `mapstructure:"listen"`
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// HTTPConfig configures the API and metrics listener.
type HTTPConfig struct {
	Listen string `mapstructure:"listen"`
	Token  string `mapstructure:"token"`
	// MaxConnections bounds the API's open connections; 0 = unlimited.
	MaxConnections int `mapstructure:"max_connections"`
	// Pprof serves Go's profiler under /debug/pprof/ (token applies).
	Pprof bool `mapstructure:"pprof"`
	// Users may sign in to the console (config_console.go).
	Users      []console.User `mapstructure:"users"`
	SessionTTL time.Duration  `mapstructure:"session_ttl"`
	// HLS serves live streams and recordings under /hls/ (config_hls.go).
	HLS HLSConfig `mapstructure:"hls"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// StorageConfig locates the recordings.
type StorageConfig struct {
	Dir string `mapstructure:"dir"`
	// Retention over all recordings; 0 / "" is off.
	MaxAge     time.Duration      `mapstructure:"max_age"`
	MaxBytes   ByteSize           `mapstructure:"max_bytes"`
	MinFree    recorder.FreeSpace `mapstructure:"min_free"` // "2GB" or "10%", decoded by textHook
	SweepEvery time.Duration      `mapstructure:"sweep_every"`
	// Upload ships closed segments to an S3-compatible bucket (config_upload.go).
	Upload UploadConfig `mapstructure:"upload"`
}

// VODConfig configures playback of recordings.
type VODConfig struct {
	App string `mapstructure:"app"`
}

// WebhooksConfig are HTTP callbacks that can refuse a publish or play.
type WebhooksConfig struct {
	OnPublish     string        `mapstructure:"on_publish"`
	OnPlay        string        `mapstructure:"on_play"`
	OnPublishDone string        `mapstructure:"on_publish_done"`
	Timeout       time.Duration `mapstructure:"timeout"`
}

func (w WebhooksConfig) isZero() bool {
	return w.OnPublish == "" && w.OnPlay == "" && w.OnPublishDone == ""
}

// AccessConfig says who may publish or play.
type AccessConfig struct {
	// Keys are secrets; a client must give one as ?key= on the stream name
	// or the tcUrl. Empty: no key needed.
	Keys []string `mapstructure:"keys"`
	// Allow lists client networks (CIDR or single address). Empty: any.
	Allow []string `mapstructure:"allow"`
}

// AppConfig is the behaviour of one application.
type AppConfig struct {
	GOPCache       bool           `mapstructure:"gop_cache"`
	RepublishGrace time.Duration  `mapstructure:"republish_grace"`
	Publish        AccessConfig   `mapstructure:"publish"`
	Play           AccessConfig   `mapstructure:"play"`
	Webhooks       WebhooksConfig `mapstructure:"webhooks"`
	Record         RecordConfig   `mapstructure:"record"`
	// Push targets decode straight into the relay's own type.
	Push []relay.Target `mapstructure:"push"`
	// Pull maps a stream name to a source this app pulls in (cameras).
	Pull map[string]PullSource `mapstructure:"pull"`
	// PlayWait ends the wait of a player for a stream nobody publishes
	// with NetStream.Play.StreamNotFound; 0 waits as long as it stays.
	PlayWait time.Duration `mapstructure:"play_wait"`
}

// PullSource is a camera or server a stream is pulled from.
type PullSource struct {
	URL       string `mapstructure:"url"`       // rtsp://, rtsps://, rtmp://, rtmps://
	Transport string `mapstructure:"transport"` // RTSP: tcp (default) or udp
	OnDemand  bool   `mapstructure:"on_demand"` // pull only while players want it
	// CloseAfter is how long an on-demand pull outlives its last player.
	CloseAfter time.Duration `mapstructure:"close_after"`
}

// RelayConfig tunes every push target.
type RelayConfig struct {
	MinBackoff time.Duration `mapstructure:"min_backoff"`
	MaxBackoff time.Duration `mapstructure:"max_backoff"`
	Timeout    time.Duration `mapstructure:"timeout"` // connect and per-write
	// CAFile adds certificates to the system roots for rtmps:// targets
	// and rtsps:// / rtmps:// pulls.
	CAFile string `mapstructure:"ca_file"`
	// AllowTargets limits push targets added through the HTTP API; those
	// in this file are trusted.
	AllowTargets AllowTargetsConfig `mapstructure:"allow_targets"`
}

// AllowTargetsConfig is where targets added at runtime may push to.
type AllowTargetsConfig struct {
	Schemes []string `mapstructure:"schemes"` // rtmp, rtmps
	// Hosts: "public" (any public address), host names, addresses, CIDRs.
	Hosts []string `mapstructure:"hosts"`
}

// RecordConfig is an app's recording settings.
type RecordConfig struct {
	Enabled   bool          `mapstructure:"enabled"`
	Format    string        `mapstructure:"format"` // fmp4, mp4 or flv
	Path      string        `mapstructure:"path"`   // template under storage.dir
	Segment   SegmentConfig `mapstructure:"segment"`
	Fragment  time.Duration `mapstructure:"fragment"`   // fMP4 fragment target
	SyncEvery time.Duration `mapstructure:"sync_every"` // fsync schedule
	// Retention for this app's recordings (under storage.dir/<app>).
	MaxAge   time.Duration `mapstructure:"max_age"`
	MaxBytes ByteSize      `mapstructure:"max_bytes"`
	// OnSegmentDone runs when a segment is closed (upload it, index it...).
	OnSegmentDone SegmentHookConfig `mapstructure:"on_segment_done"`
	// Upload replaces storage.upload for this app (nil: that one applies).
	Upload *UploadConfig `mapstructure:"upload"`
}

// SegmentHookConfig is an HTTP POST and/or a command run per finished segment.
type SegmentHookConfig struct {
	URL     string        `mapstructure:"url"`
	Command []string      `mapstructure:"command"`
	Timeout time.Duration `mapstructure:"timeout"`
}

// SegmentConfig says when a recording starts a new file.
type SegmentConfig struct {
	Duration time.Duration `mapstructure:"duration"`
	MaxBytes ByteSize      `mapstructure:"max_bytes"`
}

// appDefaults are the settings an app gets for the keys it leaves out.
var appDefaults = map[string]any{
	"gop_cache":       true,
	"republish_grace": "10s",
	"play_wait":       "0s",
	"record": map[string]any{
		"enabled":    false,
		"format":     "fmp4",
		"path":       "{app}/{stream}/{YYYY}-{MM}-{DD}_{hh}-{mm}-{ss}",
		"segment":    map[string]any{"duration": "10m", "max_bytes": 0},
		"fragment":   "1s",
		"sync_every": "2s",
		"max_age":    "0s",
		"max_bytes":  0,
		"on_segment_done": map[string]any{
			"url": "", "command": []any{}, "timeout": "10m",
		},
	},
}

// withDefaults returns the app settings am over the defaults, merged map by
// map. A record section that does not say enabled means enabled: writing
// one is asking for recording.
func withDefaults(am map[string]any) map[string]any {
	if rec, ok := am["record"].(map[string]any); ok {
		if _, set := rec["enabled"]; !set {
			rec["enabled"] = true
		}
	}
	return deepMerge(appDefaults, am)
}

func deepMerge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		bm, bok := out[k].(map[string]any)
		om, ook := v.(map[string]any)
		if bok && ook {
			out[k] = deepMerge(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}

// ConfigError lists every problem found in a configuration, one per line
// as "FILE: key.path: problem".
type ConfigError struct {
	Source   string
	Problems []string // "key.path: problem"
	// Origins names, by key path, where a value came from when it was not
	// Source: "environment TAPEDECK_RTMP_LISTEN".
	Origins map[string]string
}

func (e *ConfigError) Error() string {
	return strings.Join(e.Lines(), "\n")
}

// Lines returns one "ORIGIN: key.path: problem" line per problem, as a
// log writes them: one event per line.
func (e *ConfigError) Lines() []string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		key, _, _ := strings.Cut(p, ": ")
		origin, ok := e.Origins[key]
		if !ok {
			origin = e.Source
		}
		lines[i] = origin + ": " + p
	}
	return lines
}

// LoadConfig reads the embedded defaults, then path (if not empty), then
// TAPEDECK_* environment overrides, and validates the result. Problems in
// the file come back as a *ConfigError naming every key at fault; a file
// that is empty or holds only comments is one (readConfigDoc).
func LoadConfig(path string) (*Config, error) {
	cfg, _, err := loadConfig(path)
	return cfg, err
}

// loadConfig is LoadConfig that also returns the file's YAML document
// (nil without a file), which the reload guard reads to tell a setting
// the file states from one it leaves out.
func loadConfig(path string) (*Config, map[string]any, error) {
	var fileDoc map[string]any
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaultYAML)); err != nil {
		return nil, nil, fmt.Errorf("embedded default config: %w", err)
	}
	defaults := v.AllSettings()
	source := "embedded default"
	// Apps are taken from the file as YAML says them: viper would lower-case
	// app names and drop an app written as "cam: {}", and a file's apps must
	// replace the default ones, not merge into them.
	var fileApps map[string]any
	hasFileApps := false
	var fileProblems, fileReplaced []string
	if path != "" {
		doc, err := readConfigDoc(path)
		if err != nil {
			return nil, nil, err
		}
		fileDoc = doc
		doc = maps.Clone(doc) // apps are cut out of viper's copy only
		if a, ok := doc["apps"]; ok {
			hasFileApps = true
			if a != nil {
				m, ok := a.(map[string]any)
				if !ok {
					return nil, nil, &ConfigError{Source: path, Problems: []string{"apps: must be a map of app name to settings"}}
				}
				fileApps = m
			}
			delete(doc, "apps")
		}
		// A list or a value written over a section ("rtmp: [x]") would
		// vanish in viper's merge: the file's own types are checked first.
		doc, fileProblems, fileReplaced = checkTypes(lowerKeys(doc).(map[string]any), defaults, noEnv)
		if err := v.MergeConfigMap(doc); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		source = path
	}
	v.SetEnvPrefix("TAPEDECK")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	raw := v.AllSettings()
	apps, _ := raw["apps"].(map[string]any)
	if hasFileApps {
		apps = map[string]any{}
		for name, a := range fileApps {
			apps[name] = lowerKeys(a)
		}
	}
	for name, a := range apps {
		am, _ := a.(map[string]any)
		apps[name] = withDefaults(am)
	}
	raw["apps"] = apps
	cerr := &ConfigError{Source: source}
	cerr.Problems = append(cerr.Problems, unknownKeys(raw, Config{})...)
	// Values of the wrong type are reported and replaced by their
	// defaults first, so that the decode cannot drop (say) a whole app
	// and hide the problems in its other values.
	typed, typeProblems, replaced := checkTypes(raw, defaults, fromEnv)
	cerr.Problems = appendNew(cerr.Problems, fileProblems...)
	cerr.Problems = appendNew(cerr.Problems, typeProblems...)
	replaced = append(replaced, fileReplaced...)
	var cfg Config
	failed := slices.Clone(replaced)
	if err := decodeConfig(typed, &cfg); err != nil {
		for _, p := range decodeProblems(err) {
			cerr.Problems = append(cerr.Problems, p)
			key, _, _ := strings.Cut(p, ": ")
			failed = append(failed, key)
		}
	}
	cfg.Source = source
	for _, e := range cfg.Validate() {
		// A key that failed to decode is reported once, not again as its
		// default or zero value.
		key, msg, _ := strings.Cut(e.Error(), ": ")
		if !underAny(key, failed) {
			cerr.Problems = append(cerr.Problems, key+": "+withValue(msg, typed, key))
		}
	}
	if len(cerr.Problems) > 0 {
		sort.Strings(cerr.Problems)
		cerr.Origins = envOrigins(cerr.Problems, raw)
		return nil, nil, cerr
	}
	return &cfg, fileDoc, nil
}

func decodeConfig(raw map[string]any, cfg *Config) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			byteSizeHook,
			durationHook,
			textHook,
		),
		WeaklyTypedInput: true,
		Result:           cfg,
	})
	if err != nil {
		return err
	}
	return dec.Decode(raw)
}

// decodeProblems turns mapstructure's error list into "key: problem" lines.
func decodeProblems(err error) []string {
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "* "))
		if !strings.HasPrefix(line, "'") {
			continue
		}
		key, msg, ok := strings.Cut(line[1:], "' ")
		if !ok {
			out = append(out, line)
			continue
		}
		if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "strconv") {
			msg = msg[:strings.Index(msg, ": ")]
		}
		out = append(out, normalizeKeyPath(key)+": "+msg)
	}
	if len(out) == 0 {
		out = append(out, err.Error())
	}
	return out
}

// Validate returns every problem in values, each naming its key path.
func (c *Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	checkAddr(bad, "rtmp.listen", c.RTMP.Listen, false)
	if c.RTMP.ChunkSize < 128 || c.RTMP.ChunkSize > 0xFFFFFF {
		bad("rtmp.chunk_size", "%d is outside 128..16777215", c.RTMP.ChunkSize)
	}
	if w := c.RTMP.WriteBatch; !w.Auto && (w.Window < 0 || w.Window > time.Second) {
		bad("rtmp.write_batch", "%v is outside 0s..1s", w.Window)
	}
	l := c.RTMP.Limits
	if l.MaxConnections < 0 {
		bad("rtmp.limits.max_connections", "must not be negative")
	}
	if l.MaxConnectionsPerIP < 0 {
		bad("rtmp.limits.max_connections_per_ip", "must not be negative")
	} else if l.MaxConnections > 0 && l.MaxConnectionsPerIP > l.MaxConnections {
		bad("rtmp.limits.max_connections_per_ip", "%d is above max_connections (%d)", l.MaxConnectionsPerIP, l.MaxConnections)
	}
	if l.MaxMessageBytes < 1024 || l.MaxMessageBytes > 0xFFFFFF {
		bad("rtmp.limits.max_message_bytes", "%d is outside 1KB..16MB-1", l.MaxMessageBytes)
	}
	if l.HandshakeTimeout <= 0 {
		bad("rtmp.limits.handshake_timeout", "must be positive")
	}
	if l.IdleTimeout <= 0 {
		bad("rtmp.limits.idle_timeout", "must be positive")
	}
	if l.CommandTimeout <= 0 {
		bad("rtmp.limits.command_timeout", "must be positive")
	} else if l.IdleTimeout > 0 && l.CommandTimeout > l.IdleTimeout {
		bad("rtmp.limits.command_timeout", "%v is above idle_timeout (%v)", l.CommandTimeout, l.IdleTimeout)
	}
	if t := c.RTMP.TLS; t.Listen != "" {
		checkAddr(bad, "rtmp.tls.listen", t.Listen, false)
		checkFile(bad, "rtmp.tls.cert_file", t.CertFile)
		checkFile(bad, "rtmp.tls.key_file", t.KeyFile)
	}
	checkReconnectURL(bad, "rtmp.reconnect_url", c.RTMP.ReconnectURL)
	checkAddr(bad, "http.listen", c.HTTP.Listen, true)
	if c.HTTP.MaxConnections < 0 {
		bad("http.max_connections", "must not be negative")
	}
	checkConsole(bad, c.HTTP)
	validateHLS(c.HTTP.HLS, bad)
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not text or json", c.Log.Format)
	}
	if c.Storage.Dir == "" {
		bad("storage.dir", "must not be empty")
	}
	if c.Storage.MaxAge < 0 {
		bad("storage.max_age", "must not be negative")
	}
	if c.Storage.MaxBytes < 0 {
		bad("storage.max_bytes", "must not be negative")
	}
	if c.Storage.SweepEvery <= 0 {
		bad("storage.sweep_every", "must be positive")
	}
	checkUpload(bad, "storage.upload", &c.Storage.Upload)
	if c.VOD.App == "" || strings.ContainsAny(c.VOD.App, "/?# ") {
		bad("vod.app", "%q is not one path element", c.VOD.App)
	}
	checkWebhooks(bad, "webhooks", c.Webhooks)
	for _, name := range slices.Sorted(maps.Keys(c.Apps)) {
		a := c.Apps[name]
		key := "apps." + name
		if name == "" || strings.ContainsAny(name, "/?# ") {
			bad(key, "app names are one path element")
		}
		if name == c.VOD.App {
			bad(key, "is the playback app (vod.app); choose another name")
		}
		if a.RepublishGrace < 0 {
			bad(key+".republish_grace", "must not be negative")
		}
		if a.PlayWait < 0 {
			bad(key+".play_wait", "must not be negative (0 waits for a publisher as long as the player stays)")
		}
		checkAccess(bad, key+".publish", a.Publish)
		checkAccess(bad, key+".play", a.Play)
		checkWebhooks(bad, key+".webhooks", a.Webhooks)
		checkRecord(bad, key+".record", a.Record)
		if a.Record.Upload != nil {
			checkUpload(bad, key+".record.upload", a.Record.Upload)
		}
		checkPush(bad, key+".push", a.Push)
		checkPull(bad, key+".pull", a.Pull)
	}
	if c.Relay.MinBackoff <= 0 || c.Relay.MaxBackoff < c.Relay.MinBackoff {
		bad("relay", "needs 0 < min_backoff <= max_backoff (got %v, %v)", c.Relay.MinBackoff, c.Relay.MaxBackoff)
	}
	if c.Relay.Timeout <= 0 {
		bad("relay.timeout", "must be positive")
	}
	if c.Relay.CAFile != "" {
		checkFile(bad, "relay.ca_file", c.Relay.CAFile)
	}
	for i, sc := range c.Relay.AllowTargets.Schemes {
		if sc != "rtmp" && sc != "rtmps" {
			bad(fmt.Sprintf("relay.allow_targets.schemes[%d]", i), "%q is not rtmp or rtmps", sc)
		}
	}
	for i, h := range c.Relay.AllowTargets.Hosts {
		if err := relay.ParsePolicyHost(h); err != nil {
			bad(fmt.Sprintf("relay.allow_targets.hosts[%d]", i), "%v", err)
		}
	}
	return errs
}

// App returns the settings of app, falling back to "*".
func (c *Config) App(app string) (AppConfig, bool) {
	if a, ok := c.Apps[app]; ok {
		return a, true
	}
	a, ok := c.Apps["*"]
	return a, ok
}

// normalizeKeyPath turns mapstructure's "apps[live].publish.keys[0]" into
// the dotted form used everywhere else: "apps.live.publish.keys[0]".
func normalizeKeyPath(key string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(key, '[')
		j := strings.IndexByte(key, ']')
		if i < 0 || j < i {
			b.WriteString(key)
			return b.String()
		}
		inner := key[i+1 : j]
		if _, err := strconv.Atoi(inner); err == nil {
			b.WriteString(key[:j+1])
		} else {
			b.WriteString(key[:i] + "." + inner)
		}
		key = key[j+1:]
	}
}

// lowerKeys lower-cases the keys of nested maps (settings keys are
// case-insensitive, as viper treats them elsewhere).
func lowerKeys(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		lk := strings.ToLower(k)
		if pulls, ok := x.(map[string]any); ok && lk == "pull" {
			// Pulled stream names keep their case; their settings do not.
			kept := make(map[string]any, len(pulls))
			for name, src := range pulls {
				kept[name] = lowerKeys(src)
			}
			out[lk] = kept
			continue
		}
		out[lk] = lowerKeys(x)
	}
	return out
}
