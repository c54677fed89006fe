package login

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	gmail "github.com/gatehouse-dev/gatehouse/provider/mail"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Self-service sign-up: a person gives an address, a name and a password;
// the answer is the same whatever the address ("check your e-mail"). The
// account is made only when the person opens the link e-mailed to the
// address and presses the button, so its address is verified; the owner
// of an address that already has an account gets an e-mail saying someone
// tried, and no second account is made (no enumeration, OWASP ASVS 5
// V6.4.1 and the Authentication Cheat Sheet's "account creation"). The
// request does the same work for both: the argon2id hash of the password
// and one INSERT of a deferred message; the outbox decides later.

// SignupLifespan is how long a sign-up link works.
const SignupLifespan = 24 * time.Hour

// PathSignup is the sign-up page; PathSignupComplete the page its link
// opens.
const (
	PathSignup         = "/signup"
	PathSignupComplete = "/signup/complete"
)

// MailKindSignup names the deferred sign-up message.
const MailKindSignup = "signup"

// maxNameLen bounds a name given at sign-up (admin.MaxUserNameLen).
const maxNameLen = 200

// ErrSignupLink: the sign-up link is unknown, used or expired, or the
// address got an account meanwhile.
var ErrSignupLink = errors.New("login: the sign-up link is not valid")

// SignupError is input that cannot make an account; its message is fit to
// show. It never depends on whether the address has an account.
type SignupError struct{ Msg string }

func (e *SignupError) Error() string { return e.Msg }

// SignupStore is the storage sign-up needs.
type SignupStore interface {
	UserByEmail(ctx context.Context, email string) (*storage.User, error)
	CreateUser(ctx context.Context, u *storage.User) error
	storage.SignupStore
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// SignupOptions configure sign-up; Audit, Now and Logger are optional.
type SignupOptions struct {
	Store     SignupStore
	Mail      Mailer
	Templates *gmail.Templates
	Issuer    string
	// AllowedDomains, when set, are the only e-mail domains that may
	// sign up.
	AllowedDomains []string
	Audit          *audit.Recorder
	Now            func() time.Time
	Logger         *slog.Logger
}

// Signup runs self-service sign-up. Safe for concurrent use.
type Signup struct {
	o SignupOptions
}

// NewSignup returns sign-up as o configures it and registers its message.
func NewSignup(o SignupOptions) (*Signup, error) {
	if o.Store == nil || o.Mail == nil || o.Templates == nil || o.Issuer == "" {
		return nil, errors.New("login: sign-up needs Store, Mail, Templates and Issuer")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Signup{o: o}
	o.Mail.Register(MailKindSignup, s.compose)
	return s, nil
}

// Request checks the input and queues the deferred message; flow is the
// authorization flow the person came from ("" for none). A *SignupError
// for bad input (never about whether the address has an account).
func (s *Signup) Request(ctx context.Context, email, name, password, flow string) error {
	addr := normalEmail(email)
	if addr == "" {
		return &SignupError{Msg: "Enter a valid e-mail address."}
	}
	if len(s.o.AllowedDomains) > 0 {
		_, domain, _ := strings.Cut(addr, "@")
		if !slices.Contains(s.o.AllowedDomains, domain) {
			return &SignupError{Msg: "Addresses of this domain cannot sign up here."}
		}
	}
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxNameLen || !utf8.ValidString(name) || strings.ContainsFunc(name, isControl) {
		return &SignupError{Msg: "The name must be at most 200 characters, without control characters."}
	}
	if err := CheckPasswordRules(password); err != nil {
		return &SignupError{Msg: err.Error()}
	}
	if len(flow) > 100 {
		flow = ""
	}
	// Hashed here, for every address alike: the same cost whether or not
	// the address has an account.
	hash, err := secret.HashPassword(password)
	if err != nil {
		return err
	}
	_, err = s.o.Mail.Defer(ctx, MailKindSignup, addr, "Finish creating your account",
		map[string]string{"name": name, "password_hash": hash, "flow": flow})
	return err
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// compose, when the outbox sends: an address with an account gets "someone
// tried to sign up" (with a reset link to the forgot-password page);
// otherwise a sign-up link is made.
func (s *Signup) compose(ctx context.Context, to string, data map[string]string) (gmail.Message, bool, error) {
	u, err := s.o.Store.UserByEmail(ctx, to)
	switch {
	case err == nil:
		m, err := s.o.Templates.Render(gmail.SignupExists, to, gmail.Data{Email: to, Link: s.o.Issuer + "/password/forgot"})
		if err != nil {
			return gmail.Message{}, false, err
		}
		s.o.Audit.Record(ctx, audit.Event{Type: audit.SignupExisting, Actor: audit.ActorSystem, Subject: audit.UserSubject(u.ID)})
		return m, true, nil
	case !errors.Is(err, storage.ErrNotFound):
		return gmail.Message{}, false, err
	}
	token, err := secret.NewHandle()
	if err != nil {
		return gmail.Message{}, false, err
	}
	now := s.o.Now()
	if err := s.o.Store.PutSignup(ctx, &storage.Signup{
		TokenHash: secret.HashHandle(token), Email: to, Name: data["name"], PasswordHash: data["password_hash"],
		Flow: data["flow"], CreatedAt: now, ExpiresAt: now.Add(SignupLifespan),
	}); err != nil {
		return gmail.Message{}, false, err
	}
	link := s.o.Issuer + PathSignupComplete + "?" + url.Values{"token": {token}}.Encode()
	m, err := s.o.Templates.Render(gmail.SignupConfirm, to, gmail.Data{Email: to, Link: link, Expires: "24 hours"})
	if err != nil {
		return gmail.Message{}, false, err
	}
	s.o.Audit.Record(ctx, audit.Event{Type: audit.SignupRequested, Actor: audit.ActorSystem})
	return m, true, nil
}

// Check says whether token is a working sign-up link, and returns the
// flow the person came from.
func (s *Signup) Check(ctx context.Context, token string) (string, error) {
	if token == "" || len(token) > 100 {
		return "", ErrSignupLink
	}
	su, err := s.o.Store.SignupByHash(ctx, secret.HashHandle(token))
	if errors.Is(err, storage.ErrNotFound) {
		return "", ErrSignupLink
	} else if err != nil {
		return "", err
	}
	return su.Flow, nil
}

// Complete makes the account of a sign-up link, its address verified, and
// returns it with the flow the person came from. ErrSignupLink when the
// link does not work or the address got an account meanwhile.
func (s *Signup) Complete(ctx context.Context, token string) (*storage.User, string, error) {
	if token == "" || len(token) > 100 {
		return nil, "", ErrSignupLink
	}
	var u *storage.User
	var flow string
	err := s.o.Store.InTx(ctx, func(ctx context.Context) error {
		su, err := s.o.Store.TakeSignup(ctx, secret.HashHandle(token))
		if errors.Is(err, storage.ErrNotFound) {
			return ErrSignupLink
		} else if err != nil {
			return err
		}
		now := s.o.Now().UTC()
		u = &storage.User{
			ID: uuid.NewString(), Email: su.Email, EmailVerified: true, Name: su.Name, PasswordHash: su.PasswordHash,
			Roles: []string{}, CreatedAt: now, UpdatedAt: now,
		}
		flow = su.Flow
		if err := s.o.Store.CreateUser(ctx, u); errors.Is(err, storage.ErrConflict) {
			return ErrSignupLink
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	s.o.Audit.Record(ctx, audit.Event{
		Type: audit.SignupCompleted, Actor: audit.UserSubject(u.ID), Subject: audit.UserSubject(u.ID), IP: reqctx.ClientIP(ctx),
	})
	return u, flow, nil
}
