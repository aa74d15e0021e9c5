package upload

import (
	"sort"
	"sync"
	"time"
)

// rateWindow is how far back the upload rate is measured.
const rateWindow = 10 * time.Second

// counters are the Uploader's totals since start; guarded by Uploader.mu
// but for the rate meter, which has its own lock (it is fed from the
// bodies being read).
type counters struct {
	uploaded, uploadedBytes int64
	resumed                 int64 // bytes of parts acknowledged before a resume: not sent again
	lost, lostBytes         int64
	failures                map[string]int64
	lastErr                 *ErrorInfo

	rmu     sync.Mutex
	total   int64 // bytes sent, retries included
	buckets [10]struct {
		sec int64
		n   int64
	}
}

func (c *counters) init() { c.failures = map[string]int64{} }

// sent counts n bytes read by the client for sending.
func (c *counters) sent(n int) {
	now := time.Now().Unix()
	c.rmu.Lock()
	c.total += int64(n)
	b := &c.buckets[now%int64(len(c.buckets))]
	if b.sec != now {
		b.sec, b.n = now, 0
	}
	b.n += int64(n)
	c.rmu.Unlock()
}

// rate returns the bytes sent in total and per second over the window.
func (c *counters) rate() (int64, float64) {
	now := time.Now().Unix()
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var n int64
	for _, b := range c.buckets {
		if b.sec > now-int64(len(c.buckets)) && b.sec < now {
			n += b.n
		}
	}
	return c.total, float64(n) / float64(len(c.buckets)-1)
}

// ErrorInfo is the last upload failure.
type ErrorInfo struct {
	Time    time.Time `json:"time"`
	Path    string    `json:"path"`
	Target  string    `json:"target"` // the config key path of the settings
	Reason  string    `json:"reason"`
	Message string    `json:"message"` // credentials scrubbed
}

// JobStatus is one segment waiting for its upload.
type JobStatus struct {
	Path        string    `json:"path"` // under storage.dir, with /
	App         string    `json:"app"`
	Stream      string    `json:"stream"`
	Bytes       int64     `json:"bytes"`
	Enqueued    time.Time `json:"enqueued"`
	Uploading   bool      `json:"uploading"`
	Multipart   bool      `json:"multipart"`
	PartsAcked  int       `json:"parts_acked"`
	BytesAcked  int64     `json:"bytes_acked"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// Status is the state of the uploads, for the API and metrics.
type Status struct {
	Pending          int     `json:"pending"`
	PendingBytes     int64   `json:"pending_bytes"`
	OldestPendingAge float64 `json:"oldest_pending_seconds"`
	Uploaded         int64   `json:"uploaded"`
	UploadedBytes    int64   `json:"uploaded_bytes"`
	// BytesSent counts every byte sent, retries included; ResumedBytes the
	// bytes of parts a resume did not send again.
	BytesSent    int64            `json:"bytes_sent"`
	ResumedBytes int64            `json:"resumed_bytes"`
	Rate         float64          `json:"rate_bytes_per_second"`
	Lost         int64            `json:"lost"` // deleted before upload (free-space floor, file gone)
	LostBytes    int64            `json:"lost_bytes"`
	Failures     map[string]int64 `json:"failures"` // by reason
	LastError    *ErrorInfo       `json:"last_error"`
	// Jobs are the oldest MaxListed pending segments.
	Jobs []JobStatus `json:"jobs"`
}

// MaxListed bounds Status.Jobs: a backlog of days is summed, not listed.
const MaxListed = 100

// Status returns the state now.
func (u *Uploader) Status() Status {
	now := time.Now()
	u.mu.Lock()
	s := Status{
		Pending: len(u.jobs), Uploaded: u.st.uploaded, UploadedBytes: u.st.uploadedBytes,
		ResumedBytes: u.st.resumed, Lost: u.st.lost, LostBytes: u.st.lostBytes,
		Failures: make(map[string]int64, len(u.st.failures)), Jobs: []JobStatus{},
	}
	for k, v := range u.st.failures {
		s.Failures[k] = v
	}
	if u.st.lastErr != nil {
		e := *u.st.lastErr
		s.LastError = &e
	}
	for _, j := range u.jobs {
		next := j.nextTry
		if h, held := u.hold[j.target]; held && h.until.After(next) {
			next = h.until // the slow schedule of a permanent failure
		}
		s.PendingBytes += j.Size
		s.OldestPendingAge = max(s.OldestPendingAge, now.Sub(j.Enqueued).Seconds())
		s.Jobs = append(s.Jobs, JobStatus{
			Path: j.Rel, App: j.App, Stream: j.Stream, Bytes: j.Size, Enqueued: j.Enqueued,
			Uploading: u.current == j.Rel, Multipart: j.UploadID != "", PartsAcked: len(j.Parts), BytesAcked: j.acked(),
			Attempts: j.Attempts, LastError: j.LastError, Reason: j.Reason, NextAttempt: next,
		})
	}
	u.mu.Unlock()
	s.BytesSent, s.Rate = u.st.rate()
	sort.Slice(s.Jobs, func(a, b int) bool { return s.Jobs[a].Enqueued.Before(s.Jobs[b].Enqueued) })
	if len(s.Jobs) > MaxListed {
		s.Jobs = s.Jobs[:MaxListed]
	}
	return s
}
