package appliance_test

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
)

// /metrics parses with Prometheus's own text-format parser and carries
// the go_* and process_* families client_golang's collectors export,
// with sane values: what dashboards for Go programs expect.
func TestMetricsRuntimeFamilies(t *testing.T) {
	a, _ := apptest.Start(t, nil)
	code, _, text := apptest.Do(t, a, "GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("GET /metrics: %d %s", code, text)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus's parser refuses /metrics: %v\n%s", err, text)
	}
	value := func(name string) (float64, bool) {
		f, ok := fams[name]
		if !ok || len(f.Metric) == 0 {
			return 0, false
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return f.Metric[0].GetCounter().GetValue(), true
		case dto.MetricType_SUMMARY:
			return float64(f.Metric[0].GetSummary().GetSampleCount()), true
		default:
			return f.Metric[0].GetGauge().GetValue(), true
		}
	}
	for _, c := range []struct {
		name string
		typ  dto.MetricType
		ok   func(float64) bool
	}{
		{"go_info", dto.MetricType_GAUGE, func(v float64) bool { return v == 1 }},
		{"go_goroutines", dto.MetricType_GAUGE, func(v float64) bool { return v >= 2 }},
		{"go_threads", dto.MetricType_GAUGE, func(v float64) bool { return v >= 1 }},
		{"go_gc_duration_seconds", dto.MetricType_SUMMARY, func(v float64) bool { return v >= 0 }},
		{"go_memstats_alloc_bytes", dto.MetricType_GAUGE, func(v float64) bool { return v > 0 }},
		{"go_memstats_alloc_bytes_total", dto.MetricType_COUNTER, func(v float64) bool { return v > 0 }},
		{"go_memstats_sys_bytes", dto.MetricType_GAUGE, func(v float64) bool { return v > 0 }},
		{"go_memstats_heap_inuse_bytes", dto.MetricType_GAUGE, func(v float64) bool { return v > 0 }},
		{"go_memstats_heap_objects", dto.MetricType_GAUGE, func(v float64) bool { return v > 0 }},
		{"go_memstats_mallocs_total", dto.MetricType_COUNTER, func(v float64) bool { return v > 0 }},
		{"go_memstats_next_gc_bytes", dto.MetricType_GAUGE, func(v float64) bool { return v > 0 }},
		{"process_cpu_seconds_total", dto.MetricType_COUNTER, func(v float64) bool { return v > 0 }},
		{"process_resident_memory_bytes", dto.MetricType_GAUGE, func(v float64) bool { return v > 1<<20 }},
		{"process_virtual_memory_bytes", dto.MetricType_GAUGE, func(v float64) bool { return v > 1<<20 }},
		{"process_open_fds", dto.MetricType_GAUGE, func(v float64) bool { return v >= 3 }},
		{"process_max_fds", dto.MetricType_GAUGE, func(v float64) bool { return v >= 3 }},
		{"process_start_time_seconds", dto.MetricType_GAUGE, func(v float64) bool { return v > 1.7e9 && v < 4e9 }},
		{"tapedeck_rtmp_connections", dto.MetricType_GAUGE, func(v float64) bool { return v >= 0 }},
	} {
		f, ok := fams[c.name]
		if !ok {
			t.Errorf("no %s family", c.name)
			continue
		}
		if f.GetType() != c.typ {
			t.Errorf("%s is a %v, want %v", c.name, f.GetType(), c.typ)
		}
		if v, _ := value(c.name); !c.ok(v) {
			t.Errorf("%s = %v", c.name, v)
		}
	}
	if q := fams["go_gc_duration_seconds"].GetMetric()[0].GetSummary().GetQuantile(); len(q) != 5 {
		t.Errorf("go_gc_duration_seconds has %d quantiles, want 5 (0, 0.25, 0.5, 0.75, 1)", len(q))
	}
	if l := fams["go_info"].GetMetric()[0].GetLabel(); len(l) != 1 || l[0].GetName() != "version" || !strings.HasPrefix(l[0].GetValue(), "go") {
		t.Errorf("go_info labels %v", l)
	}
}
