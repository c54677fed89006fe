package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// ErrInvalidCredentials is the one answer for an unknown e-mail, a wrong
// password and a disabled account, so sign-in reveals nothing about which
// accounts exist.
var ErrInvalidCredentials = errors.New("provider: invalid e-mail or password")

// Authenticate checks an e-mail and password. Unknown accounts are checked
// against a dummy hash, so both failures cost the same argon2id time.
func (p *Provider) Authenticate(ctx context.Context, email, password string) (*storage.User, error) {
	email = strings.TrimSpace(email)
	if email == "" || password == "" || len(email) > 320 || len(password) > secret.MaxPasswordLen {
		return nil, ErrInvalidCredentials
	}
	u, err := p.store.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		_, _ = secret.VerifyPassword(secret.DummyPasswordHash(), password)
		return nil, ErrInvalidCredentials
	case err != nil:
		return nil, err
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = secret.DummyPasswordHash()
	}
	ok, err := secret.VerifyPassword(hash, password)
	if err != nil {
		p.log.ErrorContext(ctx, "stored password hash is unreadable", "user_id", u.ID, "err", err)
		return nil, ErrInvalidCredentials
	}
	if !ok || u.PasswordHash == "" || u.Disabled {
		return nil, ErrInvalidCredentials
	}
	return u, nil
}

// Login is a browser's signed-in state with its user.
type Login struct {
	Session *storage.LoginSession
	User    *storage.User
}

// StartLogin creates a browser session for u, signed in by method, and
// returns the handle for the cookie (only its hash is stored).
func (p *Provider) StartLogin(ctx context.Context, u *storage.User, authTime time.Time, method LoginMethod) (string, *Login, error) {
	handle, err := secret.NewHandle()
	if err != nil {
		return "", nil, err
	}
	now := p.now().UTC()
	s := &storage.LoginSession{
		ID:        secret.HashHandle(handle),
		UserID:    u.ID,
		AuthTime:  authTime.UTC().Truncate(time.Second),
		ExpiresAt: now.Add(p.opts.Lifespans.LoginSession),
		CreatedAt: now,
		AMR:       method.AMR,
		ACR:       method.ACR,
	}
	if err := p.store.CreateLoginSession(ctx, s); err != nil {
		return "", nil, fmt.Errorf("provider: create login session: %w", err)
	}
	return handle, &Login{Session: s, User: u}, nil
}

// CurrentLogin resolves a cookie handle. It returns (nil, nil) when the
// handle is empty, unknown, expired, or its user is gone or disabled.
func (p *Provider) CurrentLogin(ctx context.Context, handle string) (*Login, error) {
	if handle == "" || len(handle) > 100 {
		return nil, nil
	}
	s, err := p.store.LoginSession(ctx, secret.HashHandle(handle))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	u, err := p.store.UserByID(ctx, s.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, nil
	}
	return &Login{Session: s, User: u}, nil
}

// EndLogin deletes the browser session behind a cookie handle.
func (p *Provider) EndLogin(ctx context.Context, handle string) error {
	if handle == "" {
		return nil
	}
	return p.store.DeleteLoginSession(ctx, secret.HashHandle(handle))
}
