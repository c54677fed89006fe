// Package login is how people sign in and what they allow: e-mail and
// password with lockout and device cookies, upstream identity providers,
// the browser's login session, the authorization requests waiting for the
// person (flows) and their consent, and the apps a person allowed. It
// decides who signed in; the engine (package provider) then issues the
// code and tokens for them (Provider.Complete).
package login

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/federation"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Store is the storage sign-in needs.
type Store interface {
	storage.ClientStore
	storage.UserStore
	storage.LoginSessionStore
	storage.LogoutStore
	storage.LoginThrottleStore
	storage.SecondFactorStore
	storage.ConsentStore
	storage.AuthFlowStore
	storage.FederationStore
	storage.APIKeyStore
	// PasskeysOfUser: a passkey is a way to sign in too (UnlinkIdentity).
	PasskeysOfUser(ctx context.Context, userID string) ([]*storage.Passkey, error)
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// DefaultFlowLifespan is how long a person may take on the sign-in and
// consent pages before the authorization request must start over.
const DefaultFlowLifespan = 30 * time.Minute

// Options configure sign-in. Store, Keyring and the two lifespans are
// required.
type Options struct {
	Store Store
	// Keyring signs device cookies and seals upstream sign-in state.
	Keyring *secret.Keyring
	// SessionLifespan is how long a browser stays signed in.
	SessionLifespan time.Duration
	// FlowLifespan bounds how long a person may take on the sign-in and
	// consent pages (DefaultFlowLifespan is the configuration's default).
	FlowLifespan time.Duration
	// Federation signs people in through upstream identity providers;
	// nil when none is configured.
	Federation *federation.Manager
	// DisablePasswordLogin turns e-mail and password sign-in off (people
	// then sign in only through upstreams).
	DisablePasswordLogin bool
	// Lockout backs off and locks accounts after failed password
	// sign-ins; zero fields take DefaultLockout's.
	Lockout LockoutOptions
	// SecondFactor says when sign-in asks for a second factor besides
	// the person's own choice, and names the service in authenticator
	// apps.
	SecondFactor SecondFactorOptions
	// Audit receives sign-in events; nil records nothing.
	Audit *audit.Recorder
	// Metrics, when set, receives the sign-in counters (attempts and
	// lockouts).
	Metrics prometheus.Registerer
	// LogoutQueued is called when ending a session queued back-channel
	// logout notifications (SessionsOptions.LogoutQueued).
	LogoutQueued func()
	Now          func() time.Time
	Logger       *slog.Logger
}

// Service signs people in. Safe for concurrent use.
type Service struct {
	store           Store
	ring            *secret.Keyring
	fed             *federation.Manager
	noPassword      bool
	lockout         LockoutOptions
	mfa             SecondFactorOptions
	sessionLifespan time.Duration
	flowLifespan    time.Duration
	audit           *audit.Recorder
	metrics         *metrics
	sessions        *Sessions
	now             func() time.Time
	log             *slog.Logger
	// hashSlots bounds concurrent argon2id password checks
	// (verifyPassword).
	hashSlots chan struct{}
}

// New returns sign-in as o configures it.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Keyring == nil {
		return nil, errors.New("login: Store and Keyring are required")
	}
	if o.SessionLifespan <= 0 || o.FlowLifespan <= 0 {
		return nil, errors.New("login: SessionLifespan and FlowLifespan must be positive")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m, err := newMetrics(o.Metrics)
	if err != nil {
		return nil, err
	}
	sessions, err := NewSessions(SessionsOptions{
		Store: o.Store, Audit: o.Audit, LogoutQueued: o.LogoutQueued, Now: o.Now, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Service{
		store: o.Store, ring: o.Keyring, fed: o.Federation, noPassword: o.DisablePasswordLogin,
		lockout: o.Lockout.withDefaults(), mfa: o.SecondFactor, sessionLifespan: o.SessionLifespan, flowLifespan: o.FlowLifespan,
		audit: o.Audit, metrics: m, sessions: sessions, now: o.Now, log: o.Logger,
		hashSlots: make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
	}, nil
}

// Sessions lists and ends people's login sessions.
func (s *Service) Sessions() *Sessions { return s.sessions }
