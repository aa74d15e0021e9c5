//go:build !linux

package appliance

// writeProcessMetrics writes nothing off Linux: the process_* families
// are read from /proc.
func writeProcessMetrics(metricWriter) {}
