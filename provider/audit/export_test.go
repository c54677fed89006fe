package audit

import "time"

// SetTimings shortens Run's timeouts and retry delay for tests.
func SetTimings(r *Recorder, shutdown, attempt, retry time.Duration) {
	r.shutdownTimeout, r.attemptTimeout, r.retryDelay = shutdown, attempt, retry
}
