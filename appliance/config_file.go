package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// configReadAttempts bounds how often a file that changes while it is
// read is read again before the load gives up.
const configReadAttempts = 5

// configReadRetry is the pause between those attempts: long enough for
// an editor to finish a save.
const configReadRetry = 100 * time.Millisecond

// readConfigDoc reads path whole and parses it. A file that is empty or
// holds only comments is refused rather than taken as "all defaults": a
// truncating save, a full disk or ": > file" would otherwise drop every
// key and the API token on the next reload.
func readConfigDoc(path string) (map[string]any, error) {
	data, err := readWhole(path, os.Stat, os.ReadFile, configReadRetry)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &ConfigError{Source: path, Problems: []string{yamlProblem(err)}}
	}
	if doc == nil {
		what := "is empty"
		if len(bytes.TrimSpace(data)) > 0 {
			what = "holds only comments"
		}
		return nil, &ConfigError{Source: path, Problems: []string{
			"the file " + what + ": refused, as a cut-off save would drop every setting (start from `tapedeck config`, or run without a file for the defaults)",
		}}
	}
	return doc, nil
}

// readWhole reads a file that may be being written: it reads again when
// the size or modification time changed during the read, or when fewer
// bytes came than the file has, so a reload never parses half a save.
func readWhole(path string, stat func(string) (os.FileInfo, error), read func(string) ([]byte, error), retry time.Duration) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		before, err := stat(path)
		if err != nil {
			// The read's error says it best ("open FILE: no such file...").
			if _, rerr := read(path); rerr != nil {
				err = rerr
			}
			return nil, fmt.Errorf("config: %w", err)
		}
		data, err := read(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		after, err := stat(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if before.Size() == after.Size() && before.ModTime().Equal(after.ModTime()) && int64(len(data)) == after.Size() {
			return data, nil
		}
		if attempt == configReadAttempts {
			return nil, fmt.Errorf("config: %s changed during each of %d reads; not loaded", path, attempt)
		}
		time.Sleep(retry)
	}
}

// yamlProblem is the parser's error on one line (a problem is one log
// line), in our words for a file that is not a map of settings.
func yamlProblem(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 && strings.Contains(te.Errors[0], "into map[string]interface") {
		line, _, _ := strings.Cut(te.Errors[0], ":")
		return line + ": the file must be a map of settings (rtmp:, http:, apps: ...), not a list or a single value"
	}
	return "not valid YAML: " + strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
