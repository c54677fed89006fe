package audit

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

const (
	// defaultShutdownTimeout bounds the final flush when Run's context
	// ends: shutdown must not hang on a database that is down.
	defaultShutdownTimeout = 5 * time.Second
	// defaultAttemptTimeout bounds one write of a batch.
	defaultAttemptTimeout = 5 * time.Second
	// defaultRetryDelay is the wait before the first retry; it doubles.
	defaultRetryDelay = 200 * time.Millisecond
	// maxAttempts is how often a batch is tried before it is dropped:
	// enough to ride out a failover or a busy database, few enough that
	// the queue keeps moving.
	maxAttempts = 3
)

// Run writes queued events to the store in batches (BatchSize events, or
// whatever is queued FlushInterval after a batch's first event) until ctx
// ends; then it writes what is still queued, within a few seconds, and
// returns. A batch that keeps failing is dropped, logged and counted.
func (r *Recorder) Run(ctx context.Context) {
	if r == nil {
		return
	}
	r.stopped.Store(false)
	batch := r.newBatch()
	timer := time.NewTimer(r.flushInterval)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			r.shutdown(ctx, batch, false)
			return
		case ev := <-r.queue:
			batch = append(batch, ev)
			if len(batch) == 1 {
				timer.Reset(r.flushInterval)
			}
			if len(batch) < r.batchSize {
				continue
			}
			timer.Stop()
		case <-timer.C:
		}
		if !r.write(ctx, batch, false) {
			// ctx ended during the write: the final flush retries it.
			// The cut-off attempt may have committed all the same.
			r.shutdown(ctx, batch, true)
			return
		}
		batch = r.newBatch()
	}
}

func (r *Recorder) newBatch() []*storage.AuditEvent {
	return make([]*storage.AuditEvent, 0, r.batchSize)
}

// shutdown writes batch and everything queued, under a fresh context
// (ctx has ended) bounded by shutdownTimeout; what cannot be written in
// time is dropped and counted. tried says an attempt to write batch was
// cut off, so it may already be stored.
func (r *Recorder) shutdown(ctx context.Context, batch []*storage.AuditEvent, tried bool) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.shutdownTimeout)
	defer cancel()
	// From here on Record drops instead of queueing: nothing would read
	// the queue any more.
	r.stopped.Store(true)
	for {
	fill:
		for len(batch) < r.batchSize {
			select {
			case ev := <-r.queue:
				batch = append(batch, ev)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return
		}
		if !r.write(fctx, batch, tried) {
			lost := len(batch)
			for len(r.queue) > 0 {
				<-r.queue
				lost++
			}
			r.dropped.Add(uint64(lost))
			r.logger.ErrorContext(fctx, "audit events not written before shutdown; dropped",
				"events", lost, "err", fctx.Err())
			return
		}
		batch, tried = r.newBatch(), false
	}
}

// write stores batch, retrying failures up to maxAttempts times. It
// reports false when ctx ended first (the batch is then not counted, and
// may or may not be stored); a batch that fails every attempt is dropped
// and counted. tried says an earlier write of batch was cut off.
func (r *Recorder) write(ctx context.Context, batch []*storage.AuditEvent, tried bool) bool {
	delay := r.retryDelay
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, r.attemptTimeout)
		err := r.store.AppendAuditEvents(actx, batch)
		cancel()
		switch {
		case err == nil:
			return true
		case errors.Is(err, storage.ErrConflict) && (attempt > 1 || tried):
			// The batch is one statement: a conflict on a retry means an
			// earlier attempt committed although it reported an error
			// (e.g. it was cancelled after COMMIT reached the database).
			return true
		case ctx.Err() != nil:
			return false
		case errors.Is(err, storage.ErrConflict) || attempt == maxAttempts:
			// A conflict on the first attempt (a duplicate ID) would
			// repeat on every retry.
			r.dropped.Add(uint64(len(batch)))
			r.logger.ErrorContext(ctx, "writing audit events failed; dropped them (they are still in the log)",
				"events", len(batch), "attempts", attempt, "err", err)
			return true
		}
		r.logger.WarnContext(ctx, "writing audit events failed; retrying",
			"events", len(batch), "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
		delay *= 2
	}
}
