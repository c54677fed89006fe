// Package mail sends gatehouse's e-mail (password reset, address
// verification, sign-up) through a durable outbox: Queue seals the message
// and stores it (storage.MailOutboxStore) and returns at once; an
// Outbox's Run loop on every instance claims due messages under a lease
// and hands them to a Sender (SMTP, or the log in development), with
// back-off between attempts. A mail server that is down or slow thus
// loses nothing and blocks no request; a message the server rejects for
// good, or that could not be sent within the retry bounds, becomes a dead
// letter (recipient, subject and reason, never the body) the
// administrator lists.
package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Defaults for Options.
const (
	DefaultInterval    = 5 * time.Second
	DefaultTimeout     = 30 * time.Second
	DefaultLease       = 2 * time.Minute
	DefaultMaxAttempts = 10
	// DefaultMaxAge bounds the retries: the links in the messages live
	// for minutes to a day, so a message older than this is of no use.
	DefaultMaxAge = 24 * time.Hour
	DefaultBatch  = 8
	// firstRetry doubles after each failure, up to maxRetry.
	firstRetry = 30 * time.Second
	maxRetry   = time.Hour
	// sealPurpose derives the key the bodies are sealed under at rest.
	sealPurpose = "mail-outbox"
	// MaxDeadLetters is the most dead letters DeadLetters lists.
	MaxDeadLetters = 500
)

// Message is one e-mail: a plain-text body and its HTML alternative.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Sender hands a message to a mail server. An error wrapping ErrRejected
// means the server refused the message for good (SMTP 5xx to the
// recipient or the data, RFC 5321 §4.2.1): it is not tried again. Any
// other error is temporary.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrRejected marks a permanent refusal by the mail server.
var ErrRejected = errors.New("mail: rejected by the mail server")

// Store is the storage the outbox needs.
type Store interface {
	EnqueueMail(ctx context.Context, m *storage.MailMessage) error
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*storage.MailMessage, error)
	RescheduleMail(ctx context.Context, id string, next time.Time, lastError string) error
	BuryMail(ctx context.Context, id string, at time.Time, lastError string) error
	DeleteMail(ctx context.Context, id string) error
	DeadMail(ctx context.Context, limit int) ([]*storage.MailMessage, error)
}

var _ Store = storage.MailOutboxStore(nil)

// Options configure an Outbox. Store and Keyring are required.
type Options struct {
	Store   Store
	Keyring *secret.Keyring
	// Sender sends; nil makes an outbox that only queues (the CLI: the
	// servers send), whose Run and RunOnce do nothing.
	Sender Sender
	// Timeout bounds one delivery (DefaultTimeout).
	Timeout time.Duration
	// Interval is how often the queue is looked at without a Wake
	// (DefaultInterval).
	Interval time.Duration
	// Lease is how long a claimed message is this instance's
	// (DefaultLease); it must exceed Timeout.
	Lease time.Duration
	// MaxAttempts and MaxAge bound the retries (DefaultMaxAttempts,
	// DefaultMaxAge).
	MaxAttempts int
	MaxAge      time.Duration
	// Batch is how many messages are claimed and sent at once
	// (DefaultBatch).
	Batch  int
	Audit  *audit.Recorder
	Now    func() time.Time
	Logger *slog.Logger
}

// A Composer builds a deferred message (Defer) when it is sent, from the
// recipient and the data stored with it; send false drops it unsent (the
// address has no account, say). An error is temporary: the message is
// tried again later.
type Composer func(ctx context.Context, to string, data map[string]string) (m Message, send bool, err error)

// Outbox queues messages and delivers them. Safe for concurrent use.
type Outbox struct {
	o         Options
	wake      chan struct{}
	mu        sync.RWMutex
	composers map[string]Composer
}

// New returns an outbox as o configures it.
func New(o Options) (*Outbox, error) {
	if o.Store == nil || o.Keyring == nil {
		return nil, errors.New("mail: Store and Keyring are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Lease <= o.Timeout {
		o.Lease = 2 * o.Timeout
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Outbox{o: o, wake: make(chan struct{}, 1), composers: map[string]Composer{}}, nil
}

// Register makes c build the deferred messages of kind.
func (x *Outbox) Register(kind string, c Composer) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.composers[kind] = c
}

// sealedBody is what the outbox row's body holds, sealed: a rendered
// message, or the kind and data of a deferred one.
type sealedBody struct {
	Text string            `json:"text,omitempty"`
	HTML string            `json:"html,omitempty"`
	Kind string            `json:"kind,omitempty"`
	Data map[string]string `json:"data,omitempty"`
}

// Queue stores m for delivery and wakes the loop; it never talks to the
// mail server, so a request that sends mail takes one INSERT. It returns
// the message's id.
func (x *Outbox) Queue(ctx context.Context, m Message) (string, error) {
	return x.enqueue(ctx, m.To, m.Subject, sealedBody{Text: m.Text, HTML: m.HTML})
}

// Defer stores a message of kind for to, to be built by kind's Composer
// when it is sent; subject names it in the outbox (dead letters). A
// request thus does the same work — one INSERT — whatever the composer
// will decide, which is what keeps "is there an account for this
// address?" out of the request's timing.
func (x *Outbox) Defer(ctx context.Context, kind, to, subject string, data map[string]string) (string, error) {
	if kind == "" {
		return "", errors.New("mail: a deferred message needs a kind")
	}
	return x.enqueue(ctx, to, subject, sealedBody{Kind: kind, Data: data})
}

func (x *Outbox) enqueue(ctx context.Context, to, subject string, body sealedBody) (string, error) {
	if to == "" || subject == "" {
		return "", errors.New("mail: a message needs a recipient and a subject")
	}
	plain, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	// The body carries single-use links: sealed at rest like every other
	// secret (docs/security.md), readable only with GATEHOUSE_SECRET.
	sealed, err := x.o.Keyring.Seal(sealPurpose, plain)
	if err != nil {
		return "", err
	}
	now := x.o.Now()
	id := uuid.NewString()
	if err := x.o.Store.EnqueueMail(ctx, &storage.MailMessage{
		ID: id, To: to, Subject: subject, Body: sealed, CreatedAt: now, NextAttemptAt: now,
	}); err != nil {
		return "", err
	}
	x.Wake()
	return id, nil
}

// Wake asks Run to look at the queue now; it never blocks.
func (x *Outbox) Wake() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends: at every Interval, and whenever woken.
func (x *Outbox) Run(ctx context.Context) {
	if x.o.Sender == nil {
		return
	}
	t := time.NewTicker(x.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-x.wake:
		}
		for {
			n, err := x.RunOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					x.o.Logger.WarnContext(ctx, "mail: reading the outbox failed; will retry", "err", err)
				}
				break
			}
			if n < x.o.Batch {
				break
			}
		}
	}
}

// RunOnce claims the messages due now (up to a batch), sends them and
// records each outcome; it returns how many it claimed.
func (x *Outbox) RunOnce(ctx context.Context) (int, error) {
	if x.o.Sender == nil {
		return 0, nil
	}
	ms, err := x.o.Store.ClaimMail(ctx, x.o.Now(), x.o.Lease, x.o.Batch)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { x.deliver(ctx, m) })
	}
	wg.Wait()
	return len(ms), nil
}

func (x *Outbox) deliver(ctx context.Context, row *storage.MailMessage) {
	now := x.o.Now()
	err, permanent := x.send(ctx, row, now)
	ev := audit.Event{
		Actor:   audit.ActorSystem,
		Details: map[string]string{"message": row.ID, "attempts": strconv.Itoa(row.Attempts)},
	}
	if errors.Is(err, errDropped) {
		// Nothing to send (no account for the address): gone without a
		// trace in the audit trail, which must not list addresses people
		// typed.
		if derr := x.o.Store.DeleteMail(ctx, row.ID); derr != nil {
			x.o.Logger.WarnContext(ctx, "mail: removing a dropped message failed", "message", row.ID, "err", derr)
		}
		return
	}
	if err == nil {
		ev.Type = audit.MailSent
		if derr := x.o.Store.DeleteMail(ctx, row.ID); derr != nil {
			// Its lease runs out and it is sent again: a duplicate
			// e-mail is better than a lost one.
			x.o.Logger.WarnContext(ctx, "mail: removing a sent message failed", "message", row.ID, "err", derr)
		}
		x.o.Audit.Record(ctx, ev)
		return
	}
	msg := err.Error()
	ev.Details["error"] = msg
	next := now.Add(retryDelay(row.Attempts))
	reason := ""
	switch {
	case permanent:
		reason = "rejected"
	case row.Attempts >= x.o.MaxAttempts:
		reason = "too_many_attempts"
	case next.Sub(row.CreatedAt) > x.o.MaxAge:
		reason = "too_old"
	}
	if reason != "" {
		ev.Type = audit.MailDead
		ev.Details["reason"] = reason
		if berr := x.o.Store.BuryMail(ctx, row.ID, now, msg); berr != nil && !errors.Is(berr, storage.ErrNotFound) {
			x.o.Logger.WarnContext(ctx, "mail: recording a dead letter failed", "message", row.ID, "err", berr)
		}
		x.o.Logger.WarnContext(ctx, "mail: gave up on a message; it is listed as a dead letter", "message", row.ID, "reason", reason, "err", msg)
		x.o.Audit.Record(ctx, ev)
		return
	}
	ev.Type = audit.MailFailed
	ev.Details["next_attempt_at"] = next.UTC().Format(time.RFC3339)
	if rerr := x.o.Store.RescheduleMail(ctx, row.ID, next, msg); rerr != nil && !errors.Is(rerr, storage.ErrNotFound) {
		// The lease runs out and the message is claimed again.
		x.o.Logger.WarnContext(ctx, "mail: rescheduling failed", "message", row.ID, "err", rerr)
	}
	x.o.Logger.InfoContext(ctx, "mail: sending failed; will retry", "message", row.ID, "next_attempt_at", next, "err", msg)
	x.o.Audit.Record(ctx, ev)
}

// send opens the row's body and hands it to the sender; permanent says
// trying again cannot help.
func (x *Outbox) send(ctx context.Context, row *storage.MailMessage, now time.Time) (err error, permanent bool) {
	if now.Sub(row.CreatedAt) > x.o.MaxAge {
		return errors.New("the message is older than the retry period"), true
	}
	plain, err := x.o.Keyring.Open(sealPurpose, row.Body)
	if err != nil {
		// Sealed under a secret no longer configured: it cannot be read.
		return fmt.Errorf("open the message: %w", err), true
	}
	var b sealedBody
	if err := json.Unmarshal(plain, &b); err != nil {
		return fmt.Errorf("decode the message: %w", err), true
	}
	m := Message{To: row.To, Subject: row.Subject, Text: b.Text, HTML: b.HTML}
	if b.Kind != "" {
		x.mu.RLock()
		compose := x.composers[b.Kind]
		x.mu.RUnlock()
		if compose == nil {
			return fmt.Errorf("no composer for messages of kind %q", b.Kind), false
		}
		var send bool
		if m, send, err = compose(ctx, row.To, b.Data); err != nil {
			return fmt.Errorf("compose the message: %w", err), false
		}
		if !send {
			return errDropped, false
		}
		m.To = row.To
	}
	ctx, cancel := context.WithTimeout(ctx, x.o.Timeout)
	defer cancel()
	err = x.o.Sender.Send(ctx, m)
	return err, errors.Is(err, ErrRejected)
}

// errDropped: a composer decided the message is not to be sent.
var errDropped = errors.New("mail: dropped by its composer")

// DeadLetters lists up to limit dead letters (at most MaxDeadLetters),
// most recent first.
func (x *Outbox) DeadLetters(ctx context.Context, limit int) ([]*storage.MailMessage, error) {
	if limit <= 0 || limit > MaxDeadLetters {
		limit = MaxDeadLetters
	}
	return x.o.Store.DeadMail(ctx, limit)
}

// retryDelay is the wait after the attempts-th failed attempt: 30 s,
// doubling, at most an hour.
func retryDelay(attempts int) time.Duration {
	delay := firstRetry
	for i := 1; i < attempts && delay < maxRetry; i++ {
		delay *= 2
	}
	return min(delay, maxRetry)
}
