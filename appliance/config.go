package appliance

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/viper"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultConfigYAML returns the embedded, commented default configuration.
func DefaultConfigYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Config is the whole appliance configuration (one YAML file).
type Config struct {
	RTMP RTMPConfig           `mapstructure:"rtmp"`
	Log  LogConfig            `mapstructure:"log"`
	Apps map[string]AppConfig `mapstructure:"apps"`

	// Source names the file the config came from ("embedded default" if none).
	Source string `mapstructure:"-"`
}

// RTMPConfig configures the RTMP listener.
type RTMPConfig struct {
	Listen     string        `mapstructure:"listen"`
	ChunkSize  int           `mapstructure:"chunk_size"`
	WriteBatch time.Duration `mapstructure:"write_batch"`
	Limits     LimitsConfig  `mapstructure:"limits"`
}

// LimitsConfig bounds what clients can make the server spend.
type LimitsConfig struct {
	MaxConnections   int           `mapstructure:"max_connections"`
	MaxMessageBytes  int           `mapstructure:"max_message_bytes"`
	HandshakeTimeout time.Duration `mapstructure:"handshake_timeout"`
	IdleTimeout      time.Duration `mapstructure:"idle_timeout"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// AppConfig is the behaviour of one application.
type AppConfig struct {
	GOPCache       bool          `mapstructure:"gop_cache"`
	RepublishGrace time.Duration `mapstructure:"republish_grace"`
}

// LoadConfig reads the embedded defaults, then path (if not empty), then
// TAPEDECK_* environment overrides, and validates the result.
func LoadConfig(path string) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(string(defaultYAML))); err != nil {
		return nil, fmt.Errorf("embedded default config: %w", err)
	}
	source := "embedded default"
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		// The file replaces the default apps rather than merging into them.
		v.Set("apps", nil)
		if err := v.MergeConfig(f); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		source = path
	}
	v.SetEnvPrefix("TAPEDECK")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	var cfg Config
	if err := v.UnmarshalExact(&cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	cfg.Source = source
	if errs := cfg.Validate(); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = source + ": " + e.Error()
		}
		return nil, errors.New(strings.Join(msgs, "\n"))
	}
	return &cfg, nil
}

// Validate returns every problem found, each naming its key path.
func (c *Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.RTMP.Listen == "" {
		bad("rtmp.listen", "must not be empty")
	} else if !strings.Contains(c.RTMP.Listen, ":") {
		bad("rtmp.listen", "%q is not host:port", c.RTMP.Listen)
	}
	if c.RTMP.ChunkSize < 128 || c.RTMP.ChunkSize > 0xFFFFFF {
		bad("rtmp.chunk_size", "%d is outside 128..16777215", c.RTMP.ChunkSize)
	}
	if c.RTMP.WriteBatch < 0 || c.RTMP.WriteBatch > time.Second {
		bad("rtmp.write_batch", "%v is outside 0..1s", c.RTMP.WriteBatch)
	}
	l := c.RTMP.Limits
	if l.MaxConnections < 0 {
		bad("rtmp.limits.max_connections", "must not be negative")
	}
	if l.MaxMessageBytes < 1024 || l.MaxMessageBytes > 0xFFFFFF {
		bad("rtmp.limits.max_message_bytes", "%d is outside 1024..16777215", l.MaxMessageBytes)
	}
	if l.HandshakeTimeout <= 0 {
		bad("rtmp.limits.handshake_timeout", "must be positive")
	}
	if l.IdleTimeout <= 0 {
		bad("rtmp.limits.idle_timeout", "must be positive")
	}
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
	names := make([]string, 0, len(c.Apps))
	for name := range c.Apps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a := c.Apps[name]
		if name == "" || strings.ContainsAny(name, "/?# ") {
			bad("apps."+name, "app names are one path element")
		}
		if a.RepublishGrace < 0 {
			bad("apps."+name+".republish_grace", "must not be negative")
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
