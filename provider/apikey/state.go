package apikey

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// The states of a key, as State names them.
const (
	StateActive  = "active"
	StateExpired = "expired"
	StateRevoked = "revoked"
)

// State is the state of key k at now: "active", "expired" or "revoked".
func State(k *storage.APIKey, now time.Time) string {
	switch {
	case !k.RevokedAt.IsZero():
		return StateRevoked
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return StateExpired
	}
	return StateActive
}
