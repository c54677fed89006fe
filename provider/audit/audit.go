// Package audit records security-relevant events: each one is written to
// the log at once and, in batches, to the database (storage.AuditStore).
//
// Recording never blocks or fails the request that records: events wait in
// a bounded in-memory queue for Run to write them, and when the queue is
// full (the database is down or too slow) they are dropped and counted
// rather than queued without bound. The log line is written either way, so
// the log is the complete trail and the database the queryable one.
package audit

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// Event types gatehouse records.
const (
	APIKeyCreated   = "apikey.created"
	APIKeyRevoked   = "apikey.revoked"
	APIKeyUseFailed = "apikey.use_failed"
)

// Event is what a caller records. Actor is who acted ("user:<id>",
// "client:<id>", "operator", "anonymous"); Subject is whom or what it
// concerned. Details are extra facts; never put secrets, tokens or
// passwords in any field (values that look like gatehouse secrets are
// redacted anyway, as a last line of defence).
type Event struct {
	Type     string
	Actor    string
	Subject  string
	ClientID string
	IP       string
	Details  map[string]string
}

// Store is the storage the recorder writes to (storage.AuditStore).
type Store interface {
	AppendAuditEvents(ctx context.Context, events []*storage.AuditEvent) error
}

var _ Store = storage.AuditStore(nil)

// Options configure a Recorder. Store is required.
type Options struct {
	Store  Store
	Logger *slog.Logger
	Now    func() time.Time
	// QueueSize is how many events may wait for the database; default
	// 4096. Beyond it events are dropped (and counted).
	QueueSize int
	// BatchSize is the most events written in one statement; default 200.
	BatchSize int
	// FlushInterval is how long at most an event waits for its batch to
	// fill before it is written; default 1s.
	FlushInterval time.Duration
}

const (
	defaultQueueSize     = 4096
	defaultBatchSize     = 200
	defaultFlushInterval = time.Second
	// dropWarnEvery limits the "events dropped" warning, which a full queue
	// would otherwise repeat for every event.
	dropWarnEvery = 10 * time.Second
	// maxFieldLen bounds each stored value: fields may carry what a client
	// sent.
	maxFieldLen = 1024
)

// Recorder records events. Safe for concurrent use; a nil *Recorder
// records nothing.
type Recorder struct {
	store         Store
	logger        *slog.Logger
	now           func() time.Time
	queue         chan *storage.AuditEvent
	batchSize     int
	flushInterval time.Duration
	// Tunables of Run, fields so that tests can shorten them.
	shutdownTimeout time.Duration
	attemptTimeout  time.Duration
	retryDelay      time.Duration

	// dropped counts the events that never reached the database (full
	// queue, failed writes, or recorded after Run stopped); the warning
	// reports it as dropped_total.
	dropped  atomic.Uint64
	lastWarn atomic.Int64 // UnixNano of the last "dropped" warning
	// stopped is set once Run has made its final flush: later events could
	// only be stranded in the queue, so they are dropped and counted.
	stopped atomic.Bool
}

// NewRecorder returns a recorder; start Run to write events to the store.
// It panics without a Store (a wiring mistake).
func NewRecorder(o Options) *Recorder {
	if o.Store == nil {
		panic("audit: NewRecorder needs a Store")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QueueSize <= 0 {
		o.QueueSize = defaultQueueSize
	}
	if o.BatchSize <= 0 {
		o.BatchSize = defaultBatchSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = defaultFlushInterval
	}
	return &Recorder{
		store:           o.Store,
		logger:          o.Logger,
		now:             o.Now,
		queue:           make(chan *storage.AuditEvent, o.QueueSize),
		batchSize:       o.BatchSize,
		flushInterval:   o.FlushInterval,
		shutdownTimeout: defaultShutdownTimeout,
		attemptTimeout:  defaultAttemptTimeout,
		retryDelay:      defaultRetryDelay,
	}
}

// Record logs e at once (info, with audit=true; ctx goes to the logger, so
// a handler can add the request id) and queues it for the database. It
// never blocks: when the queue is full the event is dropped from the
// database trail and counted (the warning's dropped_total).
func (r *Recorder) Record(ctx context.Context, e Event) {
	if r == nil {
		return
	}
	ev := &storage.AuditEvent{
		ID:       newID(),
		Time:     r.now(),
		Type:     clean(e.Type),
		Actor:    clean(e.Actor),
		Subject:  clean(e.Subject),
		ClientID: clean(e.ClientID),
		IP:       clean(e.IP),
	}
	if len(e.Details) > 0 {
		// A copy: the caller may reuse its map.
		ev.Details = make(map[string]string, len(e.Details))
		for k, v := range e.Details {
			ev.Details[clean(k)] = clean(v)
		}
	}
	r.log(ctx, ev)
	if r.stopped.Load() {
		r.drop(ctx, 1, "the recorder has stopped")
		return
	}
	select {
	case r.queue <- ev:
	default:
		r.drop(ctx, 1, "the queue is full")
	}
}

func (r *Recorder) log(ctx context.Context, ev *storage.AuditEvent) {
	attrs := []slog.Attr{
		slog.Bool("audit", true),
		slog.String("type", ev.Type),
		slog.String("event_id", ev.ID),
		slog.String("actor", ev.Actor),
		slog.String("subject", ev.Subject),
		slog.String("client_id", ev.ClientID),
		slog.String("ip", ev.IP),
	}
	if len(ev.Details) > 0 {
		details := make([]slog.Attr, 0, len(ev.Details))
		for _, k := range slices.Sorted(maps.Keys(ev.Details)) {
			details = append(details, slog.String(k, ev.Details[k]))
		}
		attrs = append(attrs, slog.Attr{Key: "details", Value: slog.GroupValue(details...)})
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "audit event", attrs...)
}

// drop counts n lost events and warns, at most once per dropWarnEvery.
func (r *Recorder) drop(ctx context.Context, n int, why string) {
	total := r.dropped.Add(uint64(n))
	now := r.now().UnixNano()
	last := r.lastWarn.Load()
	if last != 0 && now-last < int64(dropWarnEvery) {
		return
	}
	if r.lastWarn.CompareAndSwap(last, now) {
		r.logger.WarnContext(ctx, "audit events dropped from the database trail (they are still logged)",
			"why", why, "dropped_total", total)
	}
}

// newID returns a UUIDv7: random (74 bits) and time-ordered, so inserts
// land at the end of the primary-key index.
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// Only when the system's randomness fails; v4 tries it again.
		return uuid.NewString()
	}
	return id.String()
}

// ClipID bounds an identifier a request named (a client id, an upstream's
// subject or error code) to the 100 bytes an event needs to tell it
// apart: the trail keeps no more of what a client chose to send.
func ClipID(s string) string {
	if len(s) > 100 {
		return s[:100]
	}
	return s
}

// clean makes a value safe to log and store: at most maxFieldLen bytes,
// valid UTF-8 without NUL (PostgreSQL refuses both in text, which would
// fail the whole batch), and never a gatehouse secret.
func clean(s string) string {
	if len(s) > maxFieldLen {
		s = s[:maxFieldLen]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if looksLikeSecret(s) {
		return "[redacted]"
	}
	return s
}

// looksLikeSecret reports whether s contains a gatehouse secret prefix
// ("gth_" + two lower-case letters + "_": gth_ak_, gth_cs_, gth_at_, ...).
func looksLikeSecret(s string) bool {
	for {
		i := strings.Index(s, "gth_")
		if i < 0 {
			return false
		}
		s = s[i+len("gth_"):]
		if len(s) >= 3 && isLower(s[0]) && isLower(s[1]) && s[2] == '_' {
			return true
		}
	}
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
