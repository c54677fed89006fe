package admin

import (
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// UserSpec describes a person to create.
type UserSpec struct {
	Email         string
	Password      string
	Name          string
	Roles         []string
	EmailVerified bool
}

// MinPasswordLen is the shortest password accepted (NIST SP 800-63B).
const MinPasswordLen = login.MinPasswordLen

// BuildUser validates spec and returns the user to store, with the
// password hashed (argon2id). Problems come as a *ValidationError.
func BuildUser(spec UserSpec, now time.Time) (*storage.User, error) {
	ve := &ValidationError{}
	email, name, roles := checkUserFields(ve, spec.Email, spec.Name, spec.Roles)
	checkPassword(ve, spec.Password)
	if err := ve.err(); err != nil {
		return nil, err
	}
	hash, err := secret.HashPassword(spec.Password)
	if err != nil {
		return nil, err
	}
	return &storage.User{
		ID:            uuid.NewString(),
		Email:         email,
		EmailVerified: spec.EmailVerified,
		Name:          name,
		PasswordHash:  hash,
		Roles:         roles,
		CreatedAt:     now.UTC(),
		UpdatedAt:     now.UTC(),
	}, nil
}

// checkUserFields validates what describes a person and returns the
// normalised e-mail (lower case), name and roles.
func checkUserFields(ve *ValidationError, email, name string, roles []string) (string, string, []string) {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != strings.TrimSpace(email) || len(email) > 320 {
		ve.Add("email", "%q is not a valid address", clip(email))
	}
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > MaxUserNameLen || !printable(name) {
		ve.Add("name", "at most %d characters, no control characters", MaxUserNameLen)
	}
	roles = dedupe(roles)
	if len(roles) > MaxUserRoles {
		ve.Add("roles", "at most %d roles", MaxUserRoles)
	} else {
		for _, r := range roles {
			if !validScopeToken(r) {
				ve.Add("roles", "%q is not valid (no spaces or quotes)", clip(r))
			}
		}
	}
	if len(ve.Problems) > 0 {
		return "", "", nil
	}
	return strings.ToLower(addr.Address), name, nonNil(roles)
}

func checkPassword(ve *ValidationError, password string) {
	if len(password) < MinPasswordLen || len(password) > secret.MaxPasswordLen {
		ve.Add("password", "must be %d to %d characters", MinPasswordLen, secret.MaxPasswordLen)
	}
}
