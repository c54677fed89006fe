package apikey_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/storage"
)

func TestLastUsedAtMostOncePerInterval(t *testing.T) {
	fx := newOutcomeFixture(t, apikey.Options{TouchInterval: time.Minute})
	ctx := context.Background()
	id, _, _ := apikey.Parse(fx.good)
	t0 := fx.clock.Now()
	use := func() {
		t.Helper()
		if _, err := fx.v.Verify(ctx, "svc", fx.good); err != nil {
			t.Fatal(err)
		}
	}
	want := func(times ...time.Time) {
		t.Helper()
		apikey.Flush(fx.v, false)
		if got := fx.store.touchesOf(id); !slices.EqualFunc(got, times, time.Time.Equal) {
			t.Fatalf("touches %v, want %v", got, times)
		}
	}

	want() // nothing used yet
	use()
	want(t0) // the first use is written at once
	fx.clock.Advance(10 * time.Second)
	use()
	want(t0)
	fx.clock.Advance(20 * time.Second)
	use()
	want(t0) // the latest use waits for the interval ...
	fx.clock.Advance(31 * time.Second)
	want(t0, t0.Add(30*time.Second)) // ... and is written once it has passed
	want(t0, t0.Add(30*time.Second))
	fx.clock.Advance(2 * time.Minute)
	want(t0, t0.Add(30*time.Second)) // no new use, no write

	// Failures are not uses.
	bad := withSecret(fx.good, strings.Repeat("A", 43))
	if _, err := fx.v.Verify(ctx, "svc", bad); !errors.Is(err, apikey.ErrInvalid) {
		t.Fatal(err)
	}
	if _, err := fx.v.Verify(ctx, "other", fx.good); !errors.Is(err, apikey.ErrInvalid) {
		t.Fatal(err)
	}
	want(t0, t0.Add(30*time.Second))

	// Long after the last write, a use is written at once again.
	use()
	want(t0, t0.Add(30*time.Second), fx.clock.Now())
}

func TestLastUsedRetriesFailedWrites(t *testing.T) {
	var logs bytes.Buffer
	fx := newOutcomeFixture(t, apikey.Options{
		TouchInterval: time.Minute,
		Logger:        slog.New(slog.NewTextHandler(&logs, nil)),
	})
	id, _, _ := apikey.Parse(fx.good)
	t0 := fx.clock.Now()
	if _, err := fx.v.Verify(context.Background(), "svc", fx.good); err != nil {
		t.Fatal(err)
	}
	fx.store.set(func(s *fakeStore) { s.touchErr = storage.ErrUnavailable })
	apikey.Flush(fx.v, false)
	if !strings.Contains(logs.String(), "recording API key use failed") {
		t.Fatalf("failure not logged: %q", logs.String())
	}
	fx.store.set(func(s *fakeStore) { s.touchErr = nil })
	apikey.Flush(fx.v, false)
	if got := fx.store.touchesOf(id); len(got) != 0 {
		t.Fatalf("retried before the interval: %v", got)
	}
	fx.clock.Advance(time.Minute)
	apikey.Flush(fx.v, false)
	if got := fx.store.touchesOf(id); len(got) != 1 || !got[0].Equal(t0) {
		t.Fatalf("touches %v, want the failed use %v", got, t0)
	}
}

// TestLastUsedIgnoresDeletedKeys: a key deleted after its use is not
// retried or logged.
func TestLastUsedIgnoresDeletedKeys(t *testing.T) {
	var logs bytes.Buffer
	fx := newOutcomeFixture(t, apikey.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	id, _, _ := apikey.Parse(fx.good)
	if _, err := fx.v.Verify(context.Background(), "svc", fx.good); err != nil {
		t.Fatal(err)
	}
	fx.store.set(func(s *fakeStore) { delete(s.keys, id) })
	apikey.Flush(fx.v, false)
	fx.clock.Advance(time.Hour)
	apikey.Flush(fx.v, false)
	if logs.Len() != 0 {
		t.Fatalf("logged %q", logs.String())
	}
}

func TestRunWritesUsesAndFlushesOnStop(t *testing.T) {
	fx := newOutcomeFixture(t, apikey.Options{TouchInterval: time.Minute})
	apikey.SetTick(fx.v, 5*time.Millisecond)
	id, _, _ := apikey.Parse(fx.good)
	t0 := fx.clock.Now()
	if _, err := fx.v.Verify(context.Background(), "svc", fx.good); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fx.v.Run(ctx); close(done) }()
	waitFor(t, func() bool { return len(fx.store.touchesOf(id)) == 1 })

	// A use within the interval waits in memory; stopping writes it.
	fx.clock.Advance(time.Second)
	if _, err := fx.v.Verify(context.Background(), "svc", fx.good); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if got := fx.store.touchesOf(id); len(got) != 2 || !got[0].Equal(t0) || !got[1].Equal(t0.Add(time.Second)) {
		t.Fatalf("touches %v", got)
	}
}

// waitFor polls cond until it holds (or fails the test after 10 s).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
