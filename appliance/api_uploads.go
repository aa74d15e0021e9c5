package appliance

import (
	"maps"
	"net/http"
	"slices"

	"github.com/tapedeck/tapedeck/appliance/upload"
)

// uploadsJSON is GET /api/v1/uploads.
type uploadsJSON struct {
	Enabled bool `json:"enabled"` // some app uploads
	upload.Status
}

// listUploads answers the state of the uploads: backlog, rate, failures
// by reason, the last error (credentials scrubbed), the oldest pending
// segments.
func (a *Appliance) listUploads(w http.ResponseWriter, r *http.Request) {
	j := uploadsJSON{Enabled: a.config().uploadsEnabled()}
	if up := a.rec.uploader(); up != nil {
		j.Status = up.Status()
	} else {
		j.Failures, j.Jobs = map[string]int64{}, []upload.JobStatus{}
	}
	writeJSON(w, http.StatusOK, j)
}

// uploadsEnabled reports whether storage.upload or some app's
// record.upload is on.
func (c *Config) uploadsEnabled() bool {
	if c.Storage.Upload.enabled() {
		return true
	}
	for _, ac := range c.Apps {
		if ac.Record.Upload.enabled() {
			return true
		}
	}
	return false
}

// uploadMetrics writes the upload series.
func (a *Appliance) uploadMetrics(m metricWriter) {
	up := a.rec.uploader()
	if up == nil {
		return
	}
	s := up.Status()
	m.single("tapedeck_upload_backlog_segments", "gauge", "Segments waiting for their upload.", float64(s.Pending))
	m.single("tapedeck_upload_backlog_bytes", "gauge", "Bytes of the segments waiting for their upload.", float64(s.PendingBytes))
	m.single("tapedeck_upload_oldest_pending_seconds", "gauge", "Age of the oldest segment waiting for its upload.", s.OldestPendingAge)
	m.single("tapedeck_upload_rate_bytes_per_second", "gauge", "Upload rate over the last 10 s.", s.Rate)
	m.single("tapedeck_upload_sent_bytes_total", "counter", "Bytes sent to the bucket, retries included.", float64(s.BytesSent))
	m.single("tapedeck_uploaded_segments_total", "counter", "Segments uploaded and verified.", float64(s.Uploaded))
	m.single("tapedeck_uploaded_bytes_total", "counter", "Bytes of the segments uploaded and verified.", float64(s.UploadedBytes))
	m.single("tapedeck_upload_lost_segments_total", "counter", "Segments deleted before their upload (free-space floor, file gone).", float64(s.Lost))
	m.family("tapedeck_upload_failures_total", "counter", "Failed upload attempts, by reason.")
	for _, reason := range slices.Sorted(maps.Keys(s.Failures)) {
		m.sample("tapedeck_upload_failures_total", []string{"reason", reason}, float64(s.Failures[reason]))
	}
}
