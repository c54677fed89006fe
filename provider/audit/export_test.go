package audit

import "time"

// SetTimings shortens Run's timeouts and retry delay for tests.
func SetTimings(r *Recorder, shutdown, attempt, retry time.Duration) {
	r.shutdownTimeout, r.attemptTimeout, r.retryDelay = shutdown, attempt, retry
}

// Dropped returns how many events never reached the database (full queue,
// failed writes, or recorded after Run stopped).
func Dropped(r *Recorder) uint64 {
	if r == nil {
		return 0
	}
	return r.dropped.Load()
}
