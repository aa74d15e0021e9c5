package recorder

import "time"

// minArrivalLag is the least lag behind a frame's arrival that dates a
// segment by the arrival rather than by the recorder's clock. Names are
// to the second; a recorder a few milliseconds behind is on time, and an
// injected test clock then stays the only clock its segments are dated by.
const minArrivalLag = 100 * time.Millisecond

// arrivalLag is how long ago a frame that arrived at arrived (zero when
// unknown) reached the hub, when that is long enough to matter.
func arrivalLag(arrived time.Time) time.Duration {
	if arrived.IsZero() {
		return 0
	}
	lag := time.Since(arrived)
	if lag < minArrivalLag {
		return 0
	}
	return lag
}
