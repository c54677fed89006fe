package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// fakeStore keeps appended batches in memory; fail, when set, decides the
// result of each call (by call number, from 1) before anything is stored.
type fakeStore struct {
	mu      sync.Mutex
	calls   int
	batches [][]storage.AuditEvent
	fail    func(call int) error
	// block makes every call wait for its context to end.
	block bool
	// commitThenBlock makes the first call store its events, then wait
	// for its context to end and report that: a write cancelled after
	// its COMMIT.
	commitThenBlock bool
}

func (s *fakeStore) AppendAuditEvents(ctx context.Context, events []*storage.AuditEvent) error {
	s.mu.Lock()
	s.calls++
	call, block, fail := s.calls, s.block, s.fail
	if s.commitThenBlock && call == 1 {
		s.batches = append(s.batches, copyEvents(events))
		s.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	for _, b := range s.batches {
		for _, old := range b {
			for _, ev := range events {
				if ev.ID == old.ID {
					s.mu.Unlock()
					return fmt.Errorf("append audit events: duplicate id %s: %w", ev.ID, storage.ErrConflict)
				}
			}
		}
	}
	s.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail != nil {
		if err := fail(call); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.batches = append(s.batches, copyEvents(events))
	s.mu.Unlock()
	return nil
}

func copyEvents(events []*storage.AuditEvent) []storage.AuditEvent {
	batch := make([]storage.AuditEvent, len(events))
	for i, ev := range events {
		batch[i] = *ev
	}
	return batch
}

func (s *fakeStore) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, b := range s.batches {
		out = append(out, len(b))
	}
	return out
}

func (s *fakeStore) events() []storage.AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.AuditEvent
	for _, b := range s.batches {
		out = append(out, b...)
	}
	return out
}

func (s *fakeStore) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// logBuffer collects JSON log lines; safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the decoded log records.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// count returns how many records have the message msg.
func (b *logBuffer) count(t *testing.T, msg string) int {
	n := 0
	for _, l := range b.lines(t) {
		if l["msg"] == msg {
			n++
		}
	}
	return n
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testStart is where the tests' clocks start.
var testStart = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// running starts r.Run and returns a function that stops it and waits
// (failing the test if Run does not return within 10 s).
func running(t *testing.T, r *audit.Recorder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds (or fails the test after 10 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func record(r *audit.Recorder, n int) {
	for i := range n {
		r.Record(context.Background(), audit.Event{Type: audit.APIKeyUseFailed, Subject: string(rune('a' + i%26))})
	}
}

var errDown = errors.Join(storage.ErrUnavailable, errors.New("connection refused"))
