package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// algKeys is one algorithm's part of the stored key set.
type algKeys struct {
	current *storage.SigningKey
	next    *storage.SigningKey
	retired []*storage.SigningKey
}

// split picks alg's keys out of rows (newest first, so the newest current
// and next win should storage ever hold two).
func split(rows []*storage.SigningKey, alg string) algKeys {
	var ks algKeys
	for _, r := range rows {
		if r.Algorithm != alg {
			continue
		}
		switch r.State {
		case storage.KeyStateCurrent:
			if ks.current == nil {
				ks.current = r
			}
		case storage.KeyStateNext:
			if ks.next == nil {
				ks.next = r
			}
		case storage.KeyStateRetired:
			ks.retired = append(ks.retired, r)
		}
	}
	return ks
}

// rotationDue is when current should stop signing: RotationInterval after
// it started.
func (m *Manager) rotationDue(current *storage.SigningKey) time.Time {
	at := current.ActivatedAt
	if at.IsZero() {
		at = current.CreatedAt
	}
	return at.Add(m.opts.RotationInterval)
}

// promotable is the earliest time next may sign: once it has been
// published for the pre-publication period.
func (m *Manager) promotable(next *storage.SigningKey) time.Time {
	return next.CreatedAt.Add(m.prepublish)
}

// scheduled is when Maintain promotes next: as soon as it has been
// published long enough. Maintain itself publishes next prepublish before
// the rotation is due, so on schedule this is the due time; a next key an
// operator published early (`keys rotate`) takes over as soon as relying
// parties can know it, which is what the operator asked for.
func (m *Manager) scheduled(next *storage.SigningKey) time.Time {
	return m.promotable(next)
}

// removalDue is when a retired key is deleted; zero if its retirement time
// is unknown (then it is kept).
func (m *Manager) removalDue(retired *storage.SigningKey) time.Time {
	if retired.RetiredAt.IsZero() {
		return time.Time{}
	}
	return retired.RetiredAt.Add(m.opts.RetireRetention)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Maintain runs one pass of the life cycle for every algorithm, then
// reloads the key set:
//
//   - without a next key, one is created (and so published) once
//     now >= current.ActivatedAt + RotationInterval - prepublish;
//   - the next key is promoted (the current one retired) once
//     now >= next.CreatedAt + prepublish (on schedule that is
//     current.ActivatedAt + RotationInterval);
//   - retired keys are deleted once now >= RetiredAt + RetireRetention.
//
// prepublish is JWKSCacheTTL + ReloadInterval. Several instances may run
// Maintain at the same moment: storage refuses a second next key and a
// stale promotion (storage.ErrConflict), and the loser just reloads what
// the winner did. Errors of one algorithm do not stop the others; they are
// joined.
func (m *Manager) Maintain(ctx context.Context) error {
	rows, err := m.opts.Store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load the signing keys: %w", err)
	}
	now := m.now()
	var errs []error
	for _, alg := range Algorithms {
		if err := m.maintain(ctx, alg, split(rows, alg), now); err != nil {
			errs = append(errs, err)
		}
	}
	if err := m.Reload(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (m *Manager) maintain(ctx context.Context, alg string, ks algKeys, now time.Time) error {
	var errs []error
	switch {
	case ks.current == nil:
		// Only if the current key vanished from storage: start over as on
		// first start.
		if _, err := m.create(ctx, alg, storage.KeyStateCurrent); err != nil {
			errs = append(errs, err)
		}
	case ks.next == nil:
		if !now.Before(m.rotationDue(ks.current).Add(-m.prepublish)) {
			// A conflict (nil, nil) means another instance published one.
			if _, err := m.create(ctx, alg, storage.KeyStateNext); err != nil {
				errs = append(errs, err)
			}
		}
	default:
		if !now.Before(m.scheduled(ks.next)) {
			if err := m.promote(ctx, alg, ks.current, ks.next, now); err != nil && !errors.Is(err, storage.ErrConflict) {
				errs = append(errs, err)
			}
		}
	}
	for _, r := range ks.retired {
		due := m.removalDue(r)
		if due.IsZero() || now.Before(due) {
			continue
		}
		err := m.opts.Store.DeleteSigningKey(ctx, r.KID)
		switch {
		case err == nil:
			m.opts.Logger.Info("removed retired signing key", "kid", r.KID, "alg", alg, "retired_at", r.RetiredAt)
			m.emit(ctx, Event{Kind: EventDeleted, KID: r.KID, Algorithm: alg})
		case errors.Is(err, storage.ErrNotFound):
			// Another instance removed it.
		default:
			errs = append(errs, fmt.Errorf("remove the retired %s signing key %s: %w", alg, r.KID, err))
		}
	}
	return errors.Join(errs...)
}

// promote makes next current and retires current, at time at. It returns
// storage.ErrConflict (wrapped) when another instance rotated first.
func (m *Manager) promote(ctx context.Context, alg string, current, next *storage.SigningKey, at time.Time) error {
	err := m.opts.Store.PromoteSigningKey(ctx, alg, current.KID, next.KID, at)
	switch {
	case err == nil:
		m.opts.Logger.Info("rotated signing key", "alg", alg, "current", next.KID, "retired", current.KID,
			"published_at", next.CreatedAt, "remove_retired_at", at.Add(m.opts.RetireRetention))
		m.emit(ctx, Event{Kind: EventRotated, KID: next.KID, Algorithm: alg, RetiredKID: current.KID})
		return nil
	case errors.Is(err, storage.ErrConflict):
		m.opts.Logger.Debug("another instance rotated the signing key first", "alg", alg, "current", current.KID, "next", next.KID)
		return fmt.Errorf("promote the %s signing key %s: %w", alg, next.KID, err)
	default:
		return fmt.Errorf("promote the %s signing key %s: %w", alg, next.KID, err)
	}
}

// RotateAction says what Rotate did.
type RotateAction string

const (
	// RotateCreated: a next key was created and published; it does not
	// sign yet (see RotateResult.PromotableAt and ScheduledAt).
	RotateCreated RotateAction = "created"
	// RotatePending: a next key already existed but has not been published
	// for the pre-publication period yet; nothing changed.
	RotatePending RotateAction = "pending"
	// RotatePromoted: the next key now signs and the previous current key
	// is retired.
	RotatePromoted RotateAction = "promoted"
)

// RotateResult reports one algorithm's manual rotation.
type RotateResult struct {
	Algorithm string
	Action    RotateAction
	// CurrentKID is the key that signs after the call.
	CurrentKID string
	// NextKID is the next key created or waiting (created, pending), or
	// the key just promoted (promoted).
	NextKID string
	// RetiredKID is the key that stopped signing (promoted only).
	RetiredKID string
	// CreatedNext is true when this call created NextKID.
	CreatedNext bool
	// PublishedAt is when NextKID was created and so published.
	PublishedAt time.Time
	// PromotableAt is when NextKID has been published for the
	// pre-publication period: from then on a Rotate (without immediately)
	// promotes it.
	PromotableAt time.Time
	// ScheduledAt is when Maintain promotes NextKID on its own (created,
	// pending).
	ScheduledAt time.Time
	// ActivatedAt is when NextKID started signing (promoted).
	ActivatedAt time.Time
	// RetiredRemovalAt is when RetiredKID will be removed (promoted).
	RetiredRemovalAt time.Time
	// SkippedPrepublish is true when immediately promoted a key published
	// for less than the pre-publication period: relying parties holding a
	// cached JWKS reject tokens signed with it until they refetch.
	SkippedPrepublish bool
}

// ErrUnknownAlgorithm is returned for an algorithm this package does not
// sign with.
var ErrUnknownAlgorithm = errors.New("unknown signing algorithm")

// Rotate rotates alg by hand. If a next key exists and has been published
// for the pre-publication period (JWKSCacheTTL + ReloadInterval), or
// immediately is true, it is promoted: it signs from now on and the
// current key is retired (and removed RetireRetention later). Otherwise a
// next key is created (unless one is already waiting) and the result says
// when it can be promoted (PromotableAt: run Rotate again from then on)
// and when Maintain will promote it on its own (ScheduledAt).
//
// immediately is the operator's explicit choice to skip the
// pre-publication wait, e.g. after a key was compromised; with no next key
// one is created and promoted at once. Relying parties that cached the
// JWKS before the new key was published reject tokens signed with it until
// they refetch (up to JWKSCacheTTL), and other instances keep signing with
// the old key (and publish a JWKS without the new one) until their next
// change check (up to CheckInterval).
//
// storage.ErrConflict (wrapped) means another instance changed alg's keys
// at the same moment; run it again.
func (m *Manager) Rotate(ctx context.Context, alg string, immediately bool) (RotateResult, error) {
	res := RotateResult{Algorithm: alg}
	if !slices.Contains(Algorithms, alg) {
		return res, fmt.Errorf("%w %q (want one of %v)", ErrUnknownAlgorithm, alg, Algorithms)
	}
	rows, err := m.opts.Store.SigningKeys(ctx)
	if err != nil {
		return res, fmt.Errorf("load the signing keys: %w", err)
	}
	ks := split(rows, alg)
	if ks.current == nil {
		return res, fmt.Errorf("%w for %s", ErrNoKey, alg)
	}
	if ks.next == nil {
		k, err := m.create(ctx, alg, storage.KeyStateNext)
		if err != nil {
			return res, err
		}
		if k != nil {
			ks.next, res.CreatedNext = k, true
		} else {
			// Another instance published a next key just now: use it.
			if rows, err = m.opts.Store.SigningKeys(ctx); err != nil {
				return res, fmt.Errorf("load the signing keys: %w", err)
			}
			if ks = split(rows, alg); ks.current == nil || ks.next == nil {
				return res, fmt.Errorf("the %s signing keys changed while rotating; run it again: %w", alg, storage.ErrConflict)
			}
		}
	}
	now := m.now()
	res.CurrentKID, res.NextKID = ks.current.KID, ks.next.KID
	res.PublishedAt = ks.next.CreatedAt
	res.PromotableAt = m.promotable(ks.next)
	if !immediately && now.Before(res.PromotableAt) {
		res.Action = RotatePending
		if res.CreatedNext {
			res.Action = RotateCreated
		}
		res.ScheduledAt = m.scheduled(ks.next)
		// Publish the new key from this instance at once.
		return res, m.Reload(ctx)
	}
	if err := m.promote(ctx, alg, ks.current, ks.next, now); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			err = fmt.Errorf("the %s signing keys changed while rotating (another instance rotated?); run it again: %w", alg, err)
		}
		return res, errors.Join(err, m.Reload(ctx))
	}
	res.Action = RotatePromoted
	res.RetiredKID, res.CurrentKID = ks.current.KID, ks.next.KID
	res.ActivatedAt = now
	res.RetiredRemovalAt = now.Add(m.opts.RetireRetention)
	res.SkippedPrepublish = now.Before(res.PromotableAt)
	if res.SkippedPrepublish {
		m.opts.Logger.Info("signing key promoted by hand before the pre-publication period ended",
			"alg", alg, "kid", ks.next.KID, "published_at", ks.next.CreatedAt, "prepublish", m.prepublish)
	}
	return res, m.Reload(ctx)
}

// KeyInfo describes one stored key for operators.
type KeyInfo struct {
	KID       string
	Algorithm string
	// State is storage.KeyStateNext, KeyStateCurrent or KeyStateRetired.
	State       string
	CreatedAt   time.Time
	ActivatedAt time.Time // zero for next keys
	RetiredAt   time.Time // zero unless retired
	// PlannedActivation (next keys) is when Maintain promotes the key.
	PlannedActivation time.Time
	// PromotableAt (next keys) is when it has been published for the
	// pre-publication period, so a manual Rotate promotes it.
	PromotableAt time.Time
	// PlannedRetirement (current keys) is when Maintain retires it (the
	// earliest such time if no next key is published yet).
	PlannedRetirement time.Time
	// PlannedRemoval (retired keys) is when it leaves the JWKS; zero if
	// its retirement time is unknown.
	PlannedRemoval time.Time
}

// Keys lists the stored keys (read from storage, not the loaded set) with
// their planned transitions: by algorithm, then next, current, retired,
// newest first.
func (m *Manager) Keys(ctx context.Context) ([]KeyInfo, error) {
	rows, err := m.opts.Store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("load the signing keys: %w", err)
	}
	now := m.now()
	var out []KeyInfo
	algs := slices.Clone(Algorithms)
	for _, r := range rows {
		if !slices.Contains(algs, r.Algorithm) {
			algs = append(algs, r.Algorithm)
		}
	}
	for _, alg := range algs {
		ks := split(rows, alg)
		for _, state := range []string{storage.KeyStateNext, storage.KeyStateCurrent, storage.KeyStateRetired} {
			for _, r := range rows {
				if r.Algorithm != alg || r.State != state {
					continue
				}
				ki := KeyInfo{
					KID: r.KID, Algorithm: r.Algorithm, State: r.State,
					CreatedAt: r.CreatedAt, ActivatedAt: r.ActivatedAt, RetiredAt: r.RetiredAt,
				}
				switch {
				case r.State == storage.KeyStateNext && r == ks.next:
					ki.PromotableAt = m.promotable(r)
					ki.PlannedActivation = m.scheduled(r)
				case r.State == storage.KeyStateCurrent && r == ks.current:
					// Without a next key, one still has to be published
					// for the pre-publication period.
					ki.PlannedRetirement = later(m.rotationDue(r), now.Add(m.prepublish))
					if ks.next != nil {
						ki.PlannedRetirement = m.scheduled(ks.next)
					}
				case r.State == storage.KeyStateRetired:
					ki.PlannedRemoval = m.removalDue(r)
				}
				out = append(out, ki)
			}
		}
	}
	return out, nil
}
