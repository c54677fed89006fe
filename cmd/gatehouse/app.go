package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/handlers"
	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/backchannel"
	"github.com/gatehouse-dev/gatehouse/provider/clientjwks"
	"github.com/gatehouse-dev/gatehouse/provider/federation"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/provider/mail"
	"github.com/gatehouse-dev/gatehouse/provider/outbound"
	"github.com/gatehouse-dev/gatehouse/provider/passkey"
	"github.com/gatehouse-dev/gatehouse/provider/registration"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// loadConfig reads the file and environment, applies --dev, and validates.
// needSecret is false for commands that never use the system secret
// (migrate, users), so they run without one.
func (g *globals) loadConfig(needSecret bool) (config.Config, error) {
	cfg, err := config.Load(g.configPath, os.Environ())
	if err != nil {
		return cfg, usageError{err}
	}
	cfg.Dev = g.dev
	if g.dev && cfg.Secret == "" {
		if cfg.Secret, err = devSecret(cfg, g.stderr); err != nil {
			return cfg, err
		}
	}
	check := cfg
	if !needSecret && check.Secret == "" {
		check.Dev = true // the secret's absence is not this command's problem
	}
	if err := check.Validate(); err != nil {
		return cfg, usageError{fmt.Errorf("invalid configuration:\n%w", indent(err))}
	}
	return cfg, nil
}

// indent puts each joined problem on its own indented line.
func indent(err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = "  - " + l
	}
	return errors.New(strings.Join(lines, "\n"))
}

// devSecret returns the development secret stored next to the SQLite
// database (./data/secret for PostgreSQL), generating it on first use.
func devSecret(cfg config.Config, stderr io.Writer) (string, error) {
	dir := "data"
	if p, ok := cfg.SQLitePath(); ok {
		dir = filepath.Dir(p)
	}
	path := filepath.Join(dir, "secret")
	if b, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < secret.MinSecretLen {
			return "", fmt.Errorf("development secret %s is shorter than %d bytes; delete it to generate a new one", path, secret.MinSecretLen)
		}
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read development secret: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write development secret: %w", err)
	}
	fmt.Fprintf(stderr, "WARNING: development mode generated a system secret and stored it in %s.\n"+
		"WARNING: never use --dev in production; set GATEHOUSE_SECRET (>= 32 random bytes) instead.\n", path)
	return s, nil
}

// newLogger builds the process logger from the configuration. Records
// logged with a request's context carry its request_id. Format auto is JSON
// (what log collectors parse) except in development, where people read it.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if cfg.Log.Format == "json" || cfg.Log.Format == "auto" && !cfg.Dev {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(reqctx.LogHandler(h))
}

// commandLogger is newLogger for the commands other than serve: a person
// reads their standard error, so below warnings (INFO lines, audit events)
// it shows only with --verbose. serve logs at the configured level.
func (g *globals) commandLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	if !g.verbose && level < slog.LevelWarn {
		cfg.Log.Level = slog.LevelWarn.String()
	}
	return newLogger(cfg, g.stderr)
}

func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*bunstore.Store, error) {
	st, err := bunstore.Open(ctx, cfg.DSN, bunstore.Options{MaxOpenConns: cfg.Database.MaxOpenConns, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("database (setting dsn, GATEHOUSE_DSN): %w", err)
	}
	return st, nil
}

// usableSchema returns nil when the database has every migration this
// binary knows. One that also has newer migrations is usable too, and
// reported to newer: during a rolling upgrade the new release migrates
// first, and the old one's instances keep serving — and start, when they
// restart meanwhile. That is safe because migrations only add
// (migrations.TestMigrationsOnlyAdd). Commands and readiness both decide
// here.
func usableSchema(ctx context.Context, store *bunstore.Store, newer func(error)) error {
	err := store.CheckSchema(ctx)
	if errors.Is(err, bunstore.ErrSchemaTooNew) {
		newer(err)
		return nil
	}
	return err
}

// checkSchema is usableSchema for a command: a newer schema is a warning,
// a missing migration an error that says what to run.
func checkSchema(ctx context.Context, store *bunstore.Store, log *slog.Logger) error {
	err := usableSchema(ctx, store, func(err error) {
		log.WarnContext(ctx, "the database schema is newer than this binary (a rolling upgrade?); continuing, since migrations only add", "detail", err.Error())
	})
	if errors.Is(err, bunstore.ErrSchemaNotMigrated) {
		return fmt.Errorf("%w\n(run `gatehouse migrate` with the same configuration first)", err)
	}
	return err
}

// app is the running service: one object graph, built once.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	store    *bunstore.Store
	keys     *keys.Manager
	provider *provider.Provider
	admin    *admin.Admin
	handler  *handlers.Handler
	metrics  *prometheus.Registry
	audit    *audit.Recorder
	fed      *federation.Manager
	// logout delivers the back-channel logout notifications.
	logout *backchannel.Deliverer
	// mail sends the e-mail outbox; nil when no e-mail is sent (no
	// smtp.host outside --dev).
	mail *mail.Outbox
	// closeRedis releases the Redis clients of the rate limits and the
	// DPoP replay cache (a no-op without them); call it once the
	// listeners have stopped.
	closeRedis func() error
	// tracing exports the spans of requests and their queries; nil when
	// tracing is off (see newTracing).
	tracing *sdktrace.TracerProvider
	// now and background are appOptions' (now never nil).
	now        func() time.Time
	background backgroundIntervals
}

// appOptions are what the service takes besides its configuration.
type appOptions struct {
	// now is the clock of sign-ins, sessions, rate limits, API keys,
	// refresh retry windows, signing keys and the janitor (the provider's,
	// the handlers' and the background work's); nil is time.Now. Tests
	// pass a clock they move, so that locks, windows and expiry take no
	// real time.
	now func() time.Time
	// background sets how often the background work runs; zero fields
	// keep the defaults. Tests shorten it, so that what they wait for (an
	// audit event written, a key's use recorded, another instance's change
	// seen) happens within milliseconds.
	background backgroundIntervals
	// pages are the parsed page templates; nil parses them
	// (branding.templates_dir) in newApp. serve parses them before
	// binding or migrating anything, so a broken override stops the
	// start with nothing done.
	pages *templates.Pages
}

// backgroundIntervals are the periods of the service's background loops.
type backgroundIntervals struct {
	// auditFlush is how long an audit event waits at most for its batch
	// (audit.Options.FlushInterval, default 1 s).
	auditFlush time.Duration
	// apiKeyUse is how often at most an API key's last use is written
	// (apikey.Options.TouchInterval, default 1 min).
	apiKeyUse time.Duration
	// changeCheck is how often this instance looks for what others
	// changed: API keys revoked, clients changed, signing keys rotated
	// (default 2 s each).
	changeCheck time.Duration
	// logoutDelivery is how often the back-channel logout queue is looked
	// at besides when a session ends (backchannel.DefaultInterval).
	logoutDelivery time.Duration
	// mailDelivery is how often the e-mail outbox is looked at besides
	// when a message is queued (mail.DefaultInterval).
	mailDelivery time.Duration
}

// newApp builds the service on an open, migrated store.
func newApp(ctx context.Context, cfg config.Config, log *slog.Logger, store *bunstore.Store, opts appOptions) (_ *app, err error) {
	// Tracing first: the store's query hook must be in place before
	// anything else uses the store (bun's hook list is not synchronised).
	tp := newTracing(ctx, log)
	if tp != nil {
		store.TraceQueries(tp)
		defer func() {
			if err != nil {
				shutdownTracing(tp, log, tracingShutdownTimeout)
			}
		}()
	}
	// Weaker settings are allowed, but never silently.
	if cfg.Registration.Policy == config.RegistrationOpen {
		log.Warn("dynamic client registration is open: anyone can register a client (registration.policy=open)")
	}
	if cfg.Debug.Pprof {
		log.Warn("the Go profiler is served on the admin listener at /debug/pprof/ (debug.pprof=true)")
	}
	if cfg.HTTPClient.AllowPrivateNetworks {
		log.Warn("outbound requests may reach private and loopback addresses (http_client.allow_private_networks=true)")
	}
	ring, err := secret.NewKeyring(cfg.Secret, cfg.OldSecrets)
	if err != nil {
		return nil, err
	}
	if ring, err = withPepper(ctx, store, ring); err != nil {
		return nil, err
	}
	recorder := audit.NewRecorder(audit.Options{Store: store, Logger: log, FlushInterval: opts.background.auditFlush})
	keyOpts := keysOptions(cfg, store, ring, log, recorder, audit.ActorSystem)
	keyOpts.Now, keyOpts.CheckInterval = opts.now, opts.background.changeCheck
	km, err := keys.New(ctx, keyOpts)
	if err != nil {
		return nil, err
	}
	fed, err := newFederation(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	reg := newMetricsRegistry(store)
	rootCAs, err := outboundRootCAs(cfg, log)
	if err != nil {
		return nil, err
	}
	jwksFetcher := clientjwks.NewFetcher(clientjwks.FetcherOptions{
		Outbound: outbound.Options{AllowPrivateNetworks: cfg.HTTPClient.AllowPrivateNetworks, RootCAs: rootCAs},
		Logger:   log,
	})
	documents, err := clientDocuments(cfg, store, rootCAs, recorder, opts.now, log)
	if err != nil {
		return nil, err
	}
	// One verifier: a key revoked through the admin API is refused by this
	// instance at once.
	apiKeys := apikey.NewVerifier(apikey.Options{
		Store: store, Keyring: ring, Now: opts.now, Logger: log,
		TouchInterval: opts.background.apiKeyUse, RevocationCheckInterval: opts.background.changeCheck,
	})
	dpopOpts, closeDPoP, err := dpopOptions(ctx, cfg, opts.now, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = closeDPoP()
		}
	}()
	p, err := provider.New(provider.Options{
		Issuer:  cfg.Issuer,
		Store:   store,
		Keys:    km,
		Keyring: ring,
		Lifespans: provider.Lifespans{
			AccessToken:       cfg.Lifespans.AccessToken,
			IDToken:           cfg.Lifespans.IDToken,
			AuthorizationCode: cfg.Lifespans.AuthorizationCode,
			RefreshToken:      cfg.Lifespans.RefreshToken,
		},
		RefreshRetryWindow: cfg.RefreshRetryWindow,
		// config.Validate makes sign-up need e-mail and password sign-in,
		// so login.Signup below exists exactly when this is on.
		Signup:                cfg.Signup.Enabled,
		RegistrationPolicy:    cfg.Registration.Policy,
		PARRequired:           cfg.PAR.Required,
		PARLifespan:           cfg.PAR.Lifespan,
		DeviceCodeLifetime:    cfg.Device.CodeLifetime,
		DevicePollInterval:    cfg.Device.Interval,
		DPoP:                  dpopOpts,
		JWKSFetcher:           jwksFetcher,
		ClientDocuments:       engineDocuments(documents),
		APIKeys:               apiKeys,
		AccessTokenFormat:     cfg.AccessTokens.Format,
		AccessTokenAlg:        cfg.AccessTokens.SigningAlg,
		IDJAG:                 idJAGOptions(cfg, fed, store, log),
		TokenExchange:         tokenExchangeOptions(cfg, fed, store, log),
		Audit:                 recorder,
		IssuedSummaryInterval: cfg.Audit.SummaryInterval,
		Metrics:               reg,
		Logger:                log,
		Now:                   opts.now,
	})
	if err != nil {
		return nil, err
	}
	// Back-channel logout notifications wait in the database; this
	// instance delivers its share.
	logout, err := backchannel.New(backchannel.Options{
		Store: store, Signer: km.Signer(), Keys: km, Issuer: cfg.Issuer,
		AllowPrivateNetworks: cfg.HTTPClient.AllowPrivateNetworks, Interval: opts.background.logoutDelivery,
		Audit: recorder, Now: opts.now, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	outbox, devMail, err := newOutbox(cfg, store, ring, recorder, opts, log)
	if err != nil {
		return nil, err
	}
	// Passkeys: relying party id and origin are the issuer's (WebAuthn
	// §5.1.4.1); a password counts as a way to sign in only while
	// password sign-in is on. An issuer on an IP address cannot have
	// passkeys (browsers refuse an IP address as relying party id): they
	// are left out, with a warning.
	passkeys, err := passkey.New(passkey.Options{
		Store: store, Issuer: cfg.Issuer, PasswordLogin: cfg.Login.Password,
		Audit: recorder, Now: opts.now, Logger: log,
	})
	if errors.Is(err, passkey.ErrIssuerNotDomain) {
		log.Warn("passkeys are off: the issuer's host is an IP address, and a WebAuthn relying party id must be a domain name", "issuer", cfg.Issuer)
		passkeys, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	signIn, err := login.New(login.Options{
		Store: store, Keyring: ring,
		SessionLifespan: cfg.Lifespans.LoginSession, FlowLifespan: login.DefaultFlowLifespan,
		Federation: fed, DisablePasswordLogin: !cfg.Login.Password,
		Lockout: login.LockoutOptions{
			MaxFailures: cfg.Login.MaxFailures, Lockout: cfg.Login.Lockout,
			MaxLockout: cfg.Login.MaxLockout, FailureReset: cfg.Login.FailureReset,
		},
		SecondFactor: login.SecondFactorOptions{
			RequireAll: cfg.Login.RequireMFA, RequireAdmins: cfg.Login.RequireMFAAdmins, Issuer: authenticatorIssuer(cfg.Issuer),
			Passkeys: passkeys != nil,
		},
		Audit: recorder, Metrics: reg, LogoutQueued: logout.Wake, Now: opts.now, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	// Password reset needs e-mail and password sign-in; verification
	// e-mail only.
	var reset *login.PasswordReset
	var verify *login.EmailVerification
	var signup *login.Signup
	var enrolProofs *login.EnrolmentProofs
	var notices *login.SecurityNotices
	if outbox != nil {
		tmpl, err := mail.NewTemplates(mail.Branding{Product: cfg.Branding.ProductName, SupportURL: cfg.Branding.SupportURL})
		if err != nil {
			return nil, err
		}
		if cfg.Login.Password {
			reset, err = login.NewPasswordReset(login.PasswordResetOptions{
				Store: store, Keyring: ring, Mail: outbox, Templates: tmpl, Issuer: cfg.Issuer, Sessions: signIn.Sessions(),
				Audit: recorder, Now: opts.now, Logger: log,
			})
			if err != nil {
				return nil, err
			}
		}
		verify, err = login.NewEmailVerification(login.EmailVerificationOptions{
			Store: store, Mail: outbox, Templates: tmpl, Issuer: cfg.Issuer, Sessions: signIn.Sessions(),
			Audit: recorder, Now: opts.now, Logger: log,
		})
		if err != nil {
			return nil, err
		}
		notices, err = login.NewSecurityNotices(login.SecurityNoticeOptions{Store: store, Mail: outbox, Templates: tmpl, Logger: log})
		if err != nil {
			return nil, err
		}
		if cfg.Login.MFAEnrolment == config.MFAEnrolmentEmail {
			enrolProofs, err = login.NewEnrolmentProofs(login.EnrolmentProofOptions{
				SignIn: signIn, Mail: outbox, Templates: tmpl, Now: opts.now, Logger: log,
			})
			if err != nil {
				return nil, err
			}
		}
		if cfg.Signup.Enabled {
			signup, err = login.NewSignup(login.SignupOptions{
				Store: store, Mail: outbox, Templates: tmpl, Issuer: cfg.Issuer, AllowedDomains: cfg.Signup.AllowedDomains,
				Audit: recorder, Now: opts.now, Logger: log,
			})
			if err != nil {
				return nil, err
			}
		}
	}
	adm, err := admin.New(admin.Options{
		Store: store, Keyring: ring, APIKeys: apiKeys, Audit: recorder, Bearer: p, Grants: signIn,
		Sessions: signIn.Sessions(), Verifier: verifierOrNil(verify), Now: opts.now, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	var dcr *registration.Registration
	if provider.NormalRegistrationPolicy(cfg.Registration.Policy) != provider.RegistrationPolicyOff {
		dcr, err = registration.New(registration.Options{
			Store: store, Keyring: ring, Issuer: cfg.Issuer, Policy: cfg.Registration.Policy, JWKSFetcher: jwksFetcher,
			PublicScopes: cfg.Registration.PublicScopes, PublicResources: cfg.Registration.PublicResources,
			Audit: recorder, Now: opts.now, Logger: log,
		})
		if err != nil {
			return nil, err
		}
	}
	pages := opts.pages
	if pages == nil {
		if pages, err = templates.ParseWithOverrides(cfg.Branding.TemplatesDir); err != nil {
			return nil, err
		}
	}
	rateLimits, closeRateLimits, err := rateLimitOptions(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	var newerSchemaSeen atomic.Bool
	hopts := handlers.Options{
		Provider:     p,
		Login:        signIn,
		Passkeys:     passkeys,
		Admin:        adm,
		Registration: dcr,
		Pages:        pages,
		Product:      cfg.Branding.ProductName,
		LogoURL:      cfg.Branding.LogoURL,
		SupportURL:   cfg.Branding.SupportURL,
		AccentColor:  cfg.Branding.AccentColor,
		Keys:         km,
		Ready: func(ctx context.Context) error {
			if err := store.Ping(ctx); err != nil {
				return err
			}
			// Probed every few seconds: the newer schema is told once.
			return usableSchema(ctx, store, func(err error) {
				if !newerSchemaSeen.Swap(true) {
					log.Warn("the database schema is newer than this binary (a rolling upgrade?); still serving", "detail", err.Error())
				}
			})
		},
		Logger:         log,
		Metrics:        reg,
		RateLimits:     rateLimits,
		TrustedProxies: cfg.TrustedProxies,
		Pprof:          cfg.Debug.Pprof,
		Now:            opts.now,
	}
	if devMail != nil {
		hopts.DevMail = devMail.Recent
	}
	hopts.PasswordReset, hopts.EmailVerification, hopts.Signup = reset, verify, signup
	if documents != nil {
		hopts.TrustedDocumentHost = documents.Policy().Trusted
	}
	hopts.SecurityNotices = notices
	if enrolProofs != nil {
		hopts.EnrolmentProofs = enrolProofs
	} else {
		// A required second factor is then set up by whoever gave the
		// first factor (trust on first use): say so, as for every
		// weaker setting.
		reason := "login.mfa_enrolment is first_use"
		if cfg.Login.MFAEnrolment == config.MFAEnrolmentEmail {
			reason = "no e-mail is configured (smtp.*), so no code can be sent"
		}
		// A warning where the operator requires a second factor; where
		// only a client or a request may, a note.
		level := slog.LevelInfo
		if cfg.Login.RequireMFA || cfg.Login.RequireMFAAdmins || cfg.Login.MFAEnrolment == config.MFAEnrolmentFirstUse {
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "a person of whom a second factor is required and who has none sets one up without proving their address first: a stolen password is enough to enrol an attacker's authenticator",
			"reason", reason, "require_mfa", cfg.Login.RequireMFA, "require_mfa_admins", cfg.Login.RequireMFAAdmins)
	}
	if tp != nil {
		// Only a non-nil provider: a nil *TracerProvider in the interface
		// would look like tracing on.
		hopts.TracerProvider = tp
	}
	h, err := handlers.New(hopts)
	if err != nil {
		_ = closeRateLimits()
		return nil, err
	}
	now := opts.now
	if now == nil {
		now = time.Now
	}
	return &app{cfg: cfg, log: log, store: store, keys: km, provider: p, admin: adm, handler: h, metrics: reg, audit: recorder, fed: fed,
		logout: logout, mail: outbox, closeRedis: func() error { return errors.Join(closeRateLimits(), closeDPoP()) },
		tracing: tp, now: now, background: opts.background}, nil
}

// verifierOrNil keeps a nil *login.EmailVerification a nil interface.
func verifierOrNil(v *login.EmailVerification) admin.Verifier {
	if v == nil {
		return nil
	}
	return v
}

// newOutbox builds the e-mail outbox on the configured mail server; under
// --dev without one, on the log (devMail, listed on the admin listener);
// otherwise nil: no e-mail is sent.
func newOutbox(cfg config.Config, store *bunstore.Store, ring *secret.Keyring, rec *audit.Recorder, opts appOptions, log *slog.Logger) (*mail.Outbox, *mail.Log, error) {
	var sender mail.Sender
	var devMail *mail.Log
	switch {
	case cfg.SMTP.Enabled():
		s, err := mail.NewSMTP(mail.SMTPOptions{
			Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, From: cfg.SMTP.From, FromName: cfg.SMTP.FromName,
			Username: cfg.SMTP.Username, Password: cfg.SMTP.Password, TLS: cfg.SMTP.TLS, Timeout: cfg.SMTP.Timeout,
		})
		if err != nil {
			return nil, nil, err
		}
		sender = s
	case cfg.Dev:
		log.Warn("development mode without smtp.host: e-mail is printed to the log and listed at /admin/dev/mail on the admin listener, not sent")
		devMail = &mail.Log{Logger: log}
		sender = devMail
	default:
		return nil, nil, nil
	}
	outbox, err := mail.New(mail.Options{
		Store: store, Keyring: ring, Sender: sender, Timeout: cfg.SMTP.Timeout, Interval: opts.background.mailDelivery,
		Audit: rec, Now: opts.now, Logger: log,
	})
	return outbox, devMail, err
}

// withPepper makes the keyed hashes of client secrets, API keys and
// registration tokens derive from the sealed system key "hash-pepper"
// (created on first use), so rotating GATEHOUSE_SECRET never invalidates
// them.
func withPepper(ctx context.Context, store *bunstore.Store, ring *secret.Keyring) (*secret.Keyring, error) {
	pepper, err := keys.SystemKey(ctx, store, ring, secret.PurposeHashPepper)
	if err != nil {
		return nil, fmt.Errorf("load the hash key: %w", err)
	}
	return ring.WithPepper(pepper, secret.PurposeClientSecret, apikey.PurposeAPIKey), nil
}

// idJAGOptions are the identity assertion grant's settings (id_jag); nil
// when no issuer is trusted, which leaves the grant off. Issuers' keys are
// fetched as clients' are (outbound client, http_client policy, size and
// time limits, cache), by a fetcher of their own.
func idJAGOptions(cfg config.Config, fed *federation.Manager, store *bunstore.Store, log *slog.Logger) *provider.IDJAGOptions {
	if len(cfg.IDJAG.Issuers) == 0 {
		return nil
	}
	opts := &provider.IDJAGOptions{
		MaxLifetime: cfg.IDJAG.MaxLifetime,
		Keys: clientjwks.NewFetcher(clientjwks.FetcherOptions{
			Outbound: outbound.Options{AllowPrivateNetworks: cfg.HTTPClient.AllowPrivateNetworks},
			Logger:   log,
			Source:   "identity assertion issuer jwks_uri",
		}),
		Identities: store,
	}
	if fed != nil {
		opts.Upstreams = fed
	}
	for _, iss := range cfg.IDJAG.Issuers {
		issuer := iss.Issuer
		if issuer == "" && iss.Upstream != "" {
			issuer = cfg.UpstreamIssuer(iss.Upstream)
		}
		if iss.Upstream == "" {
			log.Warn("identity assertions of an issuer without an upstream are refused: its subjects map to no account (set id_jag.issuers[].upstream)", "issuer", issuer)
		}
		opts.Issuers = append(opts.Issuers, provider.IDJAGIssuer{Issuer: issuer, JWKSURI: iss.JWKSURI, Upstream: iss.Upstream})
	}
	return opts
}

// tokenExchangeOptions let token exchange take ID tokens of the configured
// upstreams (to clients an operator allowed ID tokens); nil without
// upstreams. Their keys are fetched as identity assertion issuers' are.
func tokenExchangeOptions(cfg config.Config, fed *federation.Manager, store *bunstore.Store, log *slog.Logger) *provider.TokenExchangeOptions {
	if fed == nil || len(cfg.Upstreams) == 0 {
		return nil
	}
	opts := &provider.TokenExchangeOptions{
		Keys: clientjwks.NewFetcher(clientjwks.FetcherOptions{
			Outbound: outbound.Options{AllowPrivateNetworks: cfg.HTTPClient.AllowPrivateNetworks},
			Logger:   log,
			Source:   "token exchange upstream jwks_uri",
		}),
		UpstreamKeys: fed,
		Identities:   store,
	}
	for _, up := range cfg.Upstreams {
		opts.Upstreams = append(opts.Upstreams, provider.TokenExchangeUpstream{ID: up.ID, Issuer: cfg.UpstreamIssuer(up.ID), ClientID: up.ClientID})
	}
	return opts
}

// newFederation builds the upstream identity providers from the
// configuration (the google settings, then the upstreams list); nil when
// there are none. Unreachable upstreams do not stop the start: they are
// retried in the background.
func newFederation(ctx context.Context, cfg config.Config, log *slog.Logger) (*federation.Manager, error) {
	var ups []federation.UpstreamConfig
	if cfg.Google.Enabled() {
		g := federation.Google(cfg.Google.ClientID, cfg.Google.ClientSecret, cfg.Google.Issuer)
		g.AllowSignup, g.HostedDomain, g.AllowedDomains = cfg.Google.AllowSignup, cfg.Google.HostedDomain, cfg.Google.AllowedDomains
		ups = append(ups, g)
	}
	for _, u := range cfg.Upstreams {
		ups = append(ups, federation.UpstreamConfig{
			ID: u.ID, Name: u.Name, Issuer: u.Issuer, ClientID: u.ClientID, ClientSecret: u.ClientSecret,
			Scopes: u.Scopes, AllowedDomains: u.AllowedDomains, HostedDomain: u.HostedDomain, AllowSignup: u.AllowSignup,
		})
	}
	if len(ups) == 0 {
		return nil, nil
	}
	return federation.New(ctx, federation.Options{Upstreams: ups, RedirectBase: cfg.Issuer, Logger: log})
}

// serve runs the public and admin listeners, the key reloader and the
// janitor until ctx ends, then shuts down gracefully.
func (a *app) serve(ctx context.Context, public, admin net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pub := handlers.Server(a.handler.Public(), a.log)
	adm := handlers.Server(a.handler.Admin(a.metrics), a.log)

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for _, s := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{pub, public}, {adm, admin}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	// Background work outlives the listeners, so what the last requests
	// record (audit events, key use) is still flushed. The audit recorder
	// stops last: the others record events as they stop (the provider its
	// last machine-token summary).
	bg, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	auditCtx, stopAudit := context.WithCancel(context.Background())
	defer stopAudit()
	auditDone := make(chan struct{})
	go func() { defer close(auditDone); a.audit.Run(auditCtx) }()
	var bgWG sync.WaitGroup
	for _, run := range []func(context.Context){
		a.keys.Run,
		// Clients changed by other instances leave this one's cache.
		func(ctx context.Context) { a.store.WatchClients(ctx, a.background.changeCheck, a.log) },
		func(ctx context.Context) { janitorLoop(ctx, a.store, a.cfg, a.now, a.log) },
		a.provider.Run,
		a.logout.Run,
		func(ctx context.Context) {
			if a.mail != nil {
				a.mail.Run(ctx)
			}
		},
		func(ctx context.Context) {
			if a.fed != nil {
				a.fed.Run(ctx)
			}
		},
	} {
		bgWG.Add(1)
		go func() { defer bgWG.Done(); run(bg) }()
	}

	a.log.Info("gatehouse is serving", "issuer", a.cfg.Issuer, "public", public.Addr().String(), "admin", admin.Addr().String(), "database", a.store.Dialect())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		a.log.Error("listener failed", "err", err)
	}
	cancel()
	shutdown, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	_ = pub.Shutdown(shutdown)
	_ = adm.Shutdown(shutdown)
	wg.Wait()
	if a.closeRedis != nil {
		_ = a.closeRedis()
	}
	stopBackground()
	bgWG.Wait()
	stopAudit()
	<-auditDone
	// Last: the spans of the final requests and of the background work's
	// last queries have ended by now.
	if a.tracing != nil {
		shutdownTracing(a.tracing, a.log, tracingShutdownTimeout)
	}
	a.log.Info("gatehouse stopped")
	return err
}

// authenticatorIssuer names this deployment in authenticator apps (the
// otpauth URI's issuer): the issuer's host name, which tells one
// deployment's entry from another's.
func authenticatorIssuer(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "gatehouse"
}
