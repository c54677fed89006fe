package backchannel_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider/backchannel"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// countingRP is a back-channel logout endpoint that counts the logout
// tokens it gets per sub and answers status.
type countingRP struct {
	srv    *httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	subs   map[string]int
	calls  atomic.Int32
}

func newCountingRP(t *testing.T) *countingRP {
	rp := &countingRP{subs: map[string]int{}}
	rp.status.Store(http.StatusOK)
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp.calls.Add(1)
		status := int(rp.status.Load())
		if status == http.StatusOK {
			parts := strings.Split(r.PostFormValue("logout_token"), ".")
			var claims struct{ Sub string }
			if len(parts) == 3 {
				b, _ := base64.RawURLEncoding.DecodeString(parts[1])
				_ = json.Unmarshal(b, &claims)
			}
			rp.mu.Lock()
			rp.subs[claims.Sub]++
			rp.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rp.srv.Close)
	return rp
}

// instance is one gatehouse instance's deliverer on a shared database.
func instance(t *testing.T, dsn string, clock *clocktest.Clock, mod func(*backchannel.Options)) (*backchannel.Deliverer, *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	st, err := bunstore.Open(ctx, dsn, bunstore.Options{Now: clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	km, err := keys.New(ctx, keys.Options{Store: st, Keyring: providertest.Ring(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	o := backchannel.Options{
		Store: st, Signer: km.Signer(), Keys: km, Issuer: providertest.Issuer, AllowPrivateNetworks: true,
		Batch: 4, Now: clock.Now, Logger: quiet,
	}
	if mod != nil {
		mod(&o)
	}
	d, err := backchannel.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return d, st
}

func createRPClient(t *testing.T, st *bunstore.Store, uri string) {
	t.Helper()
	err := st.CreateClient(context.Background(), &storage.Client{
		ID: "rp", Name: "RP", RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code"},
		ResponseTypes: []string{"code"}, Scopes: []string{"openid"}, Public: true, BackchannelLogoutURI: uri,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestInstancesDeliverEachNotificationOnce: two instances on one database
// drain the queue together; every notification reaches the app exactly
// once (on PostgreSQL the claims skip each other's locked rows).
func TestInstancesDeliverEachNotificationOnce(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
		dsn := bunstoretest.NewMigratedDSN(t, dialect)
		a, st := instance(t, dsn, clock, nil)
		b, _ := instance(t, dsn, clock, nil)
		rp := newCountingRP(t)
		createRPClient(t, st, rp.srv.URL+"/bc")
		const n = 40
		var ds []*storage.LogoutDelivery
		for i := range n {
			ds = append(ds, &storage.LogoutDelivery{ID: fmt.Sprintf("d%02d", i), ClientID: "rp", Subject: fmt.Sprintf("u%02d", i)})
		}
		if err := st.EnqueueLogoutDeliveries(context.Background(), ds); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, d := range []*backchannel.Deliverer{a, b, a, b} {
			wg.Go(func() {
				for {
					got, err := d.RunOnce(context.Background())
					if err != nil {
						t.Errorf("RunOnce: %v", err)
						return
					}
					if got == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		rp.mu.Lock()
		defer rp.mu.Unlock()
		for i := range n {
			if sub := fmt.Sprintf("u%02d", i); rp.subs[sub] != 1 {
				t.Errorf("%s was told %d times, want once", sub, rp.subs[sub])
			}
		}
		if c := rp.calls.Load(); c != n {
			t.Errorf("%d calls for %d notifications", c, n)
		}
	})
}

// TestRetryBacksOffThenGivesUp: an app that stays down is tried again
// after 30 s, 60 s, ... and given up after MaxAttempts, each attempt
// audited; nothing is sent before it is due.
func TestRetryBacksOffThenGivesUp(t *testing.T) {
	clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
	dsn := bunstoretest.NewMigratedDSN(t, "sqlite")
	log := providertest.NewAuditLog(t, clock.Now)
	d, st := instance(t, dsn, clock, func(o *backchannel.Options) { o.MaxAttempts = 3; o.Audit = log.Recorder })
	rp := newCountingRP(t)
	rp.status.Store(http.StatusServiceUnavailable)
	createRPClient(t, st, rp.srv.URL+"/bc")
	ctx := context.Background()
	if err := st.EnqueueLogoutDeliveries(ctx, []*storage.LogoutDelivery{{ID: "d", ClientID: "rp", Subject: "u", SID: "s"}}); err != nil {
		t.Fatal(err)
	}
	for i, wait := range []time.Duration{0, 30 * time.Second, 60 * time.Second} {
		clock.Advance(wait - time.Second)
		if wait > 0 {
			if n, err := d.RunOnce(ctx); err != nil || n != 0 {
				t.Fatalf("attempt %d a second early: %d, %v", i+1, n, err)
			}
		}
		clock.Advance(time.Second)
		if n, err := d.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("attempt %d: %d, %v", i+1, n, err)
		}
	}
	clock.Advance(time.Hour)
	if n, err := d.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("after giving up: %d, %v", n, err)
	}
	if c := rp.calls.Load(); c != 3 {
		t.Errorf("%d calls, want 3", c)
	}
	providertest.WantEvents(t, log.Events(),
		"logout.backchannel.failed", "logout.backchannel.failed", "logout.backchannel.abandoned too_many_attempts")
}

// TestOldNotificationIsGivenUp: a notification older than MaxAge (the
// instances were down for long) is not sent.
func TestOldNotificationIsGivenUp(t *testing.T) {
	clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
	dsn := bunstoretest.NewMigratedDSN(t, "sqlite")
	log := providertest.NewAuditLog(t, clock.Now)
	d, st := instance(t, dsn, clock, func(o *backchannel.Options) { o.MaxAge = time.Hour; o.Audit = log.Recorder })
	rp := newCountingRP(t)
	createRPClient(t, st, rp.srv.URL+"/bc")
	ctx := context.Background()
	if err := st.EnqueueLogoutDeliveries(ctx, []*storage.LogoutDelivery{{ID: "d", ClientID: "rp", Subject: "u"}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	if n, err := d.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce: %d, %v", n, err)
	}
	if c := rp.calls.Load(); c != 0 {
		t.Errorf("an expired notification was sent (%d calls)", c)
	}
	providertest.WantEvents(t, log.Events(), "logout.backchannel.abandoned too_old")
}

// TestPrivateAddressRefused: without AllowPrivateNetworks the outbound
// policy refuses a loopback logout URI, and the notification is given up.
func TestPrivateAddressRefused(t *testing.T) {
	clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
	dsn := bunstoretest.NewMigratedDSN(t, "sqlite")
	log := providertest.NewAuditLog(t, clock.Now)
	d, st := instance(t, dsn, clock, func(o *backchannel.Options) { o.AllowPrivateNetworks = false; o.Audit = log.Recorder })
	rp := newCountingRP(t)
	createRPClient(t, st, rp.srv.URL+"/bc")
	ctx := context.Background()
	if err := st.EnqueueLogoutDeliveries(ctx, []*storage.LogoutDelivery{{ID: "d", ClientID: "rp", Subject: "u"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := d.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce: %d, %v", n, err)
	}
	if c := rp.calls.Load(); c != 0 {
		t.Errorf("a loopback address was reached (%d calls)", c)
	}
	providertest.WantEvents(t, log.Events(), "logout.backchannel.abandoned refused")
}
