package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// Sign-in through upstream identity providers: federated identities (an
// upstream account linked to a user) and upstream states (a sign-in
// waiting for the upstream's answer, used once).

func federatedIdentityTests() []test {
	return []test{
		{"CreateAndGet", testFederatedIdentityCreateAndGet},
		{"Conflict", testFederatedIdentityConflict},
		{"UnknownUser", testFederatedIdentityUnknownUser},
		{"EmptyKeyRejected", testFederatedIdentityEmptyKey},
		{"ListOfUserOldestFirst", testFederatedIdentityList},
		{"Touch", testFederatedIdentityTouch},
		{"Delete", testFederatedIdentityDelete},
		{"DeleteUserRemovesTheirs", testFederatedIdentityDeleteUser},
	}
}

func upstreamStateTests() []test {
	return []test{
		{"CreateAndConsume", testUpstreamState},
		{"Invalid", testUpstreamStateInvalid},
		{"Expiry", testUpstreamStateExpiry},
		{"ConsumeJoinsTransaction", testUpstreamStateInTx},
	}
}

func (e *env) newFederatedIdentity(upstreamID, subject, userID string) *storage.FederatedIdentity {
	return &storage.FederatedIdentity{
		UpstreamID: upstreamID,
		Subject:    subject,
		UserID:     userID,
		Email:      subject + "@" + upstreamID + ".example",
	}
}

func (e *env) createFederatedIdentity(upstreamID, subject, userID string) *storage.FederatedIdentity {
	e.t.Helper()
	fi := e.newFederatedIdentity(upstreamID, subject, userID)
	e.must(e.s.CreateFederatedIdentity(e.ctx, fi), fmt.Sprintf("CreateFederatedIdentity(%s, %s)", upstreamID, subject))
	return fi
}

func (e *env) wantFederatedIdentity(got, want *storage.FederatedIdentity, what string) {
	e.t.Helper()
	e.wantEqual(got.UpstreamID, want.UpstreamID, what+" UpstreamID")
	e.wantEqual(got.Subject, want.Subject, what+" Subject")
	e.wantEqual(got.UserID, want.UserID, what+" UserID")
	e.wantEqual(got.Email, want.Email, what+" Email")
	e.wantTime(got.CreatedAt, want.CreatedAt, what+" CreatedAt")
	e.wantTime(got.LastLoginAt, want.LastLoginAt, what+" LastLoginAt")
}

func (e *env) getFederatedIdentity(upstreamID, subject string) *storage.FederatedIdentity {
	e.t.Helper()
	fi, err := e.s.FederatedIdentity(e.ctx, upstreamID, subject)
	e.must(err, fmt.Sprintf("FederatedIdentity(%s, %s)", upstreamID, subject))
	return fi
}

// identityKeys lists "upstream/subject" of each identity, in order.
func identityKeys(list []*storage.FederatedIdentity) []string {
	var keys []string
	for _, fi := range list {
		keys = append(keys, fi.UpstreamID+"/"+fi.Subject)
	}
	return keys
}

func (e *env) identitiesOf(userID string) []string {
	e.t.Helper()
	list, err := e.s.FederatedIdentitiesOfUser(e.ctx, userID)
	e.must(err, "FederatedIdentitiesOfUser "+userID)
	for _, fi := range list {
		e.wantEqual(fi.UserID, userID, "UserID of a listed identity")
	}
	return identityKeys(list)
}

func testFederatedIdentityCreateAndGet(e *env) {
	e.createUser("u")
	e.createUser("v")
	now := e.clock.Now()

	// CreatedAt is set by the store when zero; no sign-in yet is zero.
	fi := e.newFederatedIdentity("google", "1234567890", "u")
	e.must(e.s.CreateFederatedIdentity(e.ctx, fi), "CreateFederatedIdentity")
	e.wantTime(fi.CreatedAt, now, "CreatedAt set on the identity")
	e.wantFederatedIdentity(e.getFederatedIdentity("google", "1234567890"), fi, "identity")

	// Given times are kept, at microsecond precision; awkward strings
	// survive.
	full := &storage.FederatedIdentity{
		UpstreamID:  `corp "EU" (O'Brien \ co)`,
		Subject:     "ünï 🔑 'sub'--",
		UserID:      "u",
		Email:       "Mixed.Case@Upstream.Example",
		CreatedAt:   now.Add(-time.Hour + 123456*time.Microsecond),
		LastLoginAt: now.Add(-time.Minute + 654321*time.Microsecond),
	}
	e.must(e.s.CreateFederatedIdentity(e.ctx, full), "CreateFederatedIdentity with times")
	e.wantFederatedIdentity(e.getFederatedIdentity(full.UpstreamID, full.Subject), full, "identity with times")

	// The same subject at another upstream is another account, and may
	// belong to another user.
	other := e.createFederatedIdentity("github", "1234567890", "v")
	e.wantFederatedIdentity(e.getFederatedIdentity("github", "1234567890"), other, "same subject at another upstream")
	e.wantFederatedIdentity(e.getFederatedIdentity("google", "1234567890"), fi, "identity after another upstream's")

	// Upstream IDs and subjects match exactly.
	for _, k := range [][2]string{
		{"google", "123456789"}, {"google", "12345678900"}, {"Google", "1234567890"}, {"gitlab", "1234567890"},
		{"google", ""}, {"", "1234567890"}, {"", ""}, {"corp", full.Subject},
	} {
		_, err := e.s.FederatedIdentity(e.ctx, k[0], k[1])
		e.wantNotFound(err, fmt.Sprintf("FederatedIdentity(%q, %q)", k[0], k[1]))
	}
	subjectCase := e.createFederatedIdentity("okta", "AbC", "u")
	_, err := e.s.FederatedIdentity(e.ctx, "okta", "abc")
	e.wantNotFound(err, "FederatedIdentity with the subject in another case")
	e.createFederatedIdentity("okta", "abc", "v")
	e.wantEqual(e.getFederatedIdentity("okta", "AbC").UserID, subjectCase.UserID, "user of the subject AbC")
	e.wantEqual(e.getFederatedIdentity("okta", "abc").UserID, "v", "user of the subject abc")
}

// An upstream account is linked to one user at most: linking it again,
// to anyone, is ErrConflict and changes nothing.
func testFederatedIdentityConflict(e *env) {
	e.createUser("u")
	e.createUser("v")
	first := e.createFederatedIdentity("google", "sub-1", "u")
	for _, user := range []string{"u", "v"} {
		dup := e.newFederatedIdentity("google", "sub-1", user)
		dup.Email = "other@example.com"
		dup.CreatedAt = e.clock.Now().Add(time.Hour)
		e.wantIs(e.s.CreateFederatedIdentity(e.ctx, dup), "linking a linked account to "+user, storage.ErrConflict)
	}
	e.wantFederatedIdentity(e.getFederatedIdentity("google", "sub-1"), first, "identity after the conflicts")
	e.wantEqual(e.identitiesOf("u"), []string{"google/sub-1"}, "identities of u after the conflicts")
	e.wantEqual(e.identitiesOf("v"), []string(nil), "identities of v after the conflicts")

	// In a transaction the conflict is the same error.
	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		return e.s.CreateFederatedIdentity(ctx, e.newFederatedIdentity("google", "sub-1", "v"))
	})
	e.wantIs(err, "linking a linked account in a transaction", storage.ErrConflict)
}

// A link needs its user: ErrNotFound otherwise, and nothing is stored,
// alone or in a transaction.
func testFederatedIdentityUnknownUser(e *env) {
	e.wantNotFound(e.s.CreateFederatedIdentity(e.ctx, e.newFederatedIdentity("google", "sub-1", "ghost")),
		"CreateFederatedIdentity for an unknown user")
	e.wantNotFound(e.s.CreateFederatedIdentity(e.ctx, e.newFederatedIdentity("google", "sub-2", "")),
		"CreateFederatedIdentity without a user")
	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		return e.s.CreateFederatedIdentity(ctx, e.newFederatedIdentity("google", "sub-3", "ghost"))
	})
	e.wantNotFound(err, "CreateFederatedIdentity for an unknown user in a transaction")
	for _, sub := range []string{"sub-1", "sub-2", "sub-3"} {
		_, err := e.s.FederatedIdentity(e.ctx, "google", sub)
		e.wantNotFound(err, "FederatedIdentity "+sub+" after the failed create")
	}
	e.wantEqual(e.identitiesOf("ghost"), []string(nil), "identities of an unknown user")

	// Once the user exists, the same link can be made.
	e.createUser("ghost")
	e.createFederatedIdentity("google", "sub-1", "ghost")
	e.wantEqual(e.identitiesOf("ghost"), []string{"google/sub-1"}, "identities of the new user")
}

func testFederatedIdentityEmptyKey(e *env) {
	e.createUser("u")
	for _, fi := range []*storage.FederatedIdentity{
		{UpstreamID: "", Subject: "sub", UserID: "u"},
		{UpstreamID: "google", Subject: "", UserID: "u"},
	} {
		if err := e.s.CreateFederatedIdentity(e.ctx, fi); err == nil {
			e.t.Errorf("CreateFederatedIdentity(%q, %q) succeeded", fi.UpstreamID, fi.Subject)
		}
	}
	e.wantEqual(e.identitiesOf("u"), []string(nil), "identities after the refused creates")
}

func testFederatedIdentityList(e *env) {
	e.createUser("u")
	e.createUser("v")
	e.createUser("lonely")
	now := e.clock.Now()
	want := map[string]*storage.FederatedIdentity{}
	for _, l := range []struct {
		upstream, subject, user string
		age                     time.Duration
	}{
		{"google", "g-2", "u", time.Minute},
		{"okta", "o-1", "u", 0},
		{"github", "h-1", "u", time.Hour},
		{"google", "g-1", "u", 0}, // the same time as okta: by upstream, then subject
		{"google", "g-0", "u", 0},
		{"google", "g-3", "v", 2 * time.Hour},
		{"okta", "o-2", "u", 1500 * time.Millisecond},
	} {
		fi := e.newFederatedIdentity(l.upstream, l.subject, l.user)
		fi.CreatedAt = now.Add(-l.age)
		e.must(e.s.CreateFederatedIdentity(e.ctx, fi), "CreateFederatedIdentity")
		want[l.upstream+"/"+l.subject] = fi
	}
	list, err := e.s.FederatedIdentitiesOfUser(e.ctx, "u")
	e.must(err, "FederatedIdentitiesOfUser")
	for _, fi := range list {
		e.wantFederatedIdentity(fi, want[fi.UpstreamID+"/"+fi.Subject], "listed identity")
	}
	e.wantEqual(identityKeys(list),
		[]string{"github/h-1", "google/g-2", "okta/o-2", "google/g-0", "google/g-1", "okta/o-1"},
		"identities of u, oldest first")
	e.wantEqual(e.identitiesOf("v"), []string{"google/g-3"}, "identities of v")
	for _, user := range []string{"lonely", "ghost", "", "U", "u'--"} {
		list, err := e.s.FederatedIdentitiesOfUser(e.ctx, user)
		e.must(err, fmt.Sprintf("FederatedIdentitiesOfUser(%q)", user))
		if len(list) != 0 {
			e.t.Errorf("FederatedIdentitiesOfUser(%q) = %q, want none", user, identityKeys(list))
		}
	}
}

func testFederatedIdentityTouch(e *env) {
	e.createUser("u")
	e.createUser("v")
	fi := e.createFederatedIdentity("google", "sub-1", "u")
	other := e.createFederatedIdentity("google", "sub-2", "v")
	sameSubject := e.createFederatedIdentity("github", "sub-1", "u")

	e.clock.Advance(time.Minute)
	at := e.clock.Now().Add(-123456 * time.Microsecond)
	e.must(e.s.TouchFederatedIdentity(e.ctx, "google", "sub-1", "New.Address@Example.COM", at), "TouchFederatedIdentity")
	fi.LastLoginAt, fi.Email = at, "New.Address@Example.COM"
	e.wantFederatedIdentity(e.getFederatedIdentity("google", "sub-1"), fi, "touched identity")

	// Every sign-in records its time and e-mail, an empty one too.
	later := at.Add(time.Second)
	e.must(e.s.TouchFederatedIdentity(e.ctx, "google", "sub-1", "", later), "TouchFederatedIdentity without an e-mail")
	fi.LastLoginAt, fi.Email = later, ""
	e.wantFederatedIdentity(e.getFederatedIdentity("google", "sub-1"), fi, "identity touched without an e-mail")

	// A zero time means now.
	e.clock.Advance(time.Minute)
	e.must(e.s.TouchFederatedIdentity(e.ctx, "google", "sub-1", "again@example.com", time.Time{}), "TouchFederatedIdentity without a time")
	fi.LastLoginAt, fi.Email = e.clock.Now(), "again@example.com"
	e.wantFederatedIdentity(e.getFederatedIdentity("google", "sub-1"), fi, "identity touched without a time")

	// Nothing else changes.
	e.wantFederatedIdentity(e.getFederatedIdentity("google", "sub-2"), other, "another user's identity")
	e.wantFederatedIdentity(e.getFederatedIdentity("github", "sub-1"), sameSubject, "the same subject at another upstream")

	for _, k := range [][2]string{{"google", "sub-3"}, {"gitlab", "sub-1"}, {"Google", "sub-1"}, {"google", "SUB-1"}, {"", ""}} {
		e.wantNotFound(e.s.TouchFederatedIdentity(e.ctx, k[0], k[1], "x@example.com", e.clock.Now()),
			fmt.Sprintf("TouchFederatedIdentity(%q, %q)", k[0], k[1]))
		_, err := e.s.FederatedIdentity(e.ctx, k[0], k[1])
		e.wantNotFound(err, "TouchFederatedIdentity must not create an identity")
	}
}

// Unlinking needs the right user: another user's link is ErrNotFound and
// stays.
func testFederatedIdentityDelete(e *env) {
	e.createUser("u")
	e.createUser("v")
	e.createFederatedIdentity("google", "sub-1", "u")
	e.createFederatedIdentity("github", "sub-1", "u")
	theirs := e.createFederatedIdentity("google", "sub-2", "v")

	for _, d := range [][3]string{
		{"v", "google", "sub-1"}, // another user
		{"", "google", "sub-1"},
		{"u", "google", "sub-2"}, // another user's link
		{"u", "gitlab", "sub-1"},
		{"u", "google", "SUB-1"},
		{"U", "google", "sub-1"},
	} {
		e.wantNotFound(e.s.DeleteFederatedIdentity(e.ctx, d[0], d[1], d[2]),
			fmt.Sprintf("DeleteFederatedIdentity(%q, %q, %q)", d[0], d[1], d[2]))
	}
	e.wantEqual(e.identitiesOf("u"), []string{"github/sub-1", "google/sub-1"}, "identities of u after the refused deletes")
	e.wantFederatedIdentity(e.getFederatedIdentity("google", "sub-2"), theirs, "v's identity after the refused deletes")

	e.must(e.s.DeleteFederatedIdentity(e.ctx, "u", "google", "sub-1"), "DeleteFederatedIdentity")
	_, err := e.s.FederatedIdentity(e.ctx, "google", "sub-1")
	e.wantNotFound(err, "FederatedIdentity after the delete")
	e.wantEqual(e.identitiesOf("u"), []string{"github/sub-1"}, "identities of u after the delete")
	e.wantNotFound(e.s.DeleteFederatedIdentity(e.ctx, "u", "google", "sub-1"), "second DeleteFederatedIdentity")
	_, err = e.s.UserByID(e.ctx, "u")
	e.must(err, "the user after unlinking")

	// The account is free again, for anyone.
	e.createFederatedIdentity("google", "sub-1", "v")
	e.wantEqual(e.identitiesOf("v"), []string{"google/sub-1", "google/sub-2"}, "identities of v after the relink")

	// Inside a transaction that rolls back, the link stays.
	abort := errors.New("abort")
	err = e.s.InTx(e.ctx, func(ctx context.Context) error {
		if err := e.s.DeleteFederatedIdentity(ctx, "v", "google", "sub-2"); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) {
		e.t.Fatalf("InTx = %v, want the abort error", err)
	}
	e.wantFederatedIdentity(e.getFederatedIdentity("google", "sub-2"), theirs, "identity after a rolled-back delete")
}

// DeleteUser removes exactly the user's identities, in its transaction.
func testFederatedIdentityDeleteUser(e *env) {
	e.createUser("gone")
	e.createUser("kept")
	e.createFederatedIdentity("google", "g-gone", "gone")
	e.createFederatedIdentity("github", "h-gone", "gone")
	kept := e.createFederatedIdentity("google", "g-kept", "kept")

	// Rolled back: everything stays.
	abort := errors.New("abort")
	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		if err := e.s.DeleteUser(ctx, "gone"); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) {
		e.t.Fatalf("InTx = %v, want the abort error", err)
	}
	e.wantEqual(e.identitiesOf("gone"), []string{"github/h-gone", "google/g-gone"}, "identities after a rolled-back DeleteUser")

	e.must(e.s.DeleteUser(e.ctx, "gone"), "DeleteUser")
	for _, k := range [][2]string{{"google", "g-gone"}, {"github", "h-gone"}} {
		_, err := e.s.FederatedIdentity(e.ctx, k[0], k[1])
		e.wantNotFound(err, "identity "+k[1]+" of the deleted user")
	}
	e.wantEqual(e.identitiesOf("gone"), []string(nil), "identities of the deleted user")
	e.wantFederatedIdentity(e.getFederatedIdentity("google", "g-kept"), kept, "the other user's identity")

	// A new user with the same ID starts without links; the accounts can
	// be linked again.
	e.createUser("gone")
	e.wantEqual(e.identitiesOf("gone"), []string(nil), "identities of the recreated user")
	e.createFederatedIdentity("google", "g-gone", "kept")
}

// upstreamStateID is what the provider uses as the ID: the hex SHA-256 of
// the state parameter.
func upstreamStateID() string {
	sum := sha256.Sum256([]byte(randomID("state-")))
	return hex.EncodeToString(sum[:])
}

func (e *env) newUpstreamState(upstreamID string, ttl time.Duration) *storage.UpstreamState {
	browser := sha256.Sum256([]byte(randomID("browser-")))
	return &storage.UpstreamState{
		ID:          upstreamStateID(),
		UpstreamID:  upstreamID,
		BrowserHash: hex.EncodeToString(browser[:]),
		Nonce:       randomID("nonce-"),
		// Sealed bytes are binary: NUL, high bytes, invalid UTF-8.
		Sealed:    []byte{0x00, 0x01, 0xff, 0xfe, 'o', 'k', 0x00, 0xc3, 0x28, 0x80},
		ExpiresAt: e.clock.Now().Add(ttl),
	}
}

func (e *env) createUpstreamState(upstreamID string, ttl time.Duration) *storage.UpstreamState {
	e.t.Helper()
	st := e.newUpstreamState(upstreamID, ttl)
	e.must(e.s.CreateUpstreamState(e.ctx, st), "CreateUpstreamState")
	return st
}

func (e *env) wantUpstreamState(got, want *storage.UpstreamState, what string) {
	e.t.Helper()
	if got == nil {
		e.t.Fatalf("%s: got a nil state", what)
	}
	e.wantEqual(got.ID, want.ID, what+" ID")
	e.wantEqual(got.UpstreamID, want.UpstreamID, what+" UpstreamID")
	e.wantEqual(got.BrowserHash, want.BrowserHash, what+" BrowserHash")
	e.wantEqual(got.Nonce, want.Nonce, what+" Nonce")
	if string(got.Sealed) != string(want.Sealed) {
		e.t.Errorf("%s Sealed = %x, want %x", what, got.Sealed, want.Sealed)
	}
	e.wantTime(got.CreatedAt, want.CreatedAt, what+" CreatedAt")
	e.wantTime(got.ExpiresAt, want.ExpiresAt, what+" ExpiresAt")
}

func testUpstreamState(e *env) {
	now := e.clock.Now()
	st := e.createUpstreamState("google", 10*time.Minute)
	e.wantTime(st.CreatedAt, now, "CreatedAt set on the state")
	other := e.createUpstreamState("google", 10*time.Minute)

	dup := e.newUpstreamState("github", time.Hour)
	dup.ID = st.ID
	e.wantIs(e.s.CreateUpstreamState(e.ctx, dup), "duplicate upstream state", storage.ErrConflict)

	got, err := e.s.ConsumeUpstreamState(e.ctx, st.ID)
	e.must(err, "ConsumeUpstreamState")
	e.wantUpstreamState(got, st, "consumed state")
	_, err = e.s.ConsumeUpstreamState(e.ctx, st.ID)
	e.wantNotFound(err, "second ConsumeUpstreamState")
	for _, id := range []string{upstreamStateID(), "", other.ID[:len(other.ID)-1]} {
		_, err := e.s.ConsumeUpstreamState(e.ctx, id)
		e.wantNotFound(err, fmt.Sprintf("ConsumeUpstreamState(%q)", id))
	}

	// Consuming one state leaves the others alone.
	got, err = e.s.ConsumeUpstreamState(e.ctx, other.ID)
	e.must(err, "ConsumeUpstreamState of the other state")
	e.wantUpstreamState(got, other, "the other state")

	// Given times are kept at microsecond precision; empty values stay
	// empty.
	bare := &storage.UpstreamState{
		ID:        upstreamStateID(),
		CreatedAt: now.Add(-time.Minute + 123456*time.Microsecond),
		ExpiresAt: now.Add(time.Minute + 654321*time.Microsecond),
	}
	e.must(e.s.CreateUpstreamState(e.ctx, bare), "CreateUpstreamState bare")
	got, err = e.s.ConsumeUpstreamState(e.ctx, bare.ID)
	e.must(err, "ConsumeUpstreamState bare")
	e.wantUpstreamState(got, bare, "bare state")
	if len(got.Sealed) != 0 {
		e.t.Errorf("Sealed of a state created without = %x, want empty", got.Sealed)
	}

	// A consumed ID can be used again (the provider never does: IDs are
	// hashes of random states).
	e.must(e.s.CreateUpstreamState(e.ctx, st), "CreateUpstreamState with a consumed ID")
}

func testUpstreamStateInvalid(e *env) {
	noID := e.newUpstreamState("google", time.Minute)
	noID.ID = ""
	if err := e.s.CreateUpstreamState(e.ctx, noID); err == nil {
		e.t.Error("CreateUpstreamState without an ID succeeded")
	}
	forever := e.newUpstreamState("google", time.Minute)
	forever.ExpiresAt = time.Time{}
	if err := e.s.CreateUpstreamState(e.ctx, forever); err == nil {
		e.t.Error("CreateUpstreamState without an expiry succeeded")
	}
	_, err := e.s.ConsumeUpstreamState(e.ctx, forever.ID)
	e.wantNotFound(err, "ConsumeUpstreamState of a refused state")
}

func testUpstreamStateExpiry(e *env) {
	st := e.createUpstreamState("google", 10*time.Minute)
	late := e.createUpstreamState("google", 10*time.Minute)
	e.clock.Advance(10*time.Minute - time.Second)
	got, err := e.s.ConsumeUpstreamState(e.ctx, st.ID)
	e.must(err, "ConsumeUpstreamState just before expiry")
	e.wantUpstreamState(got, st, "state consumed just before expiry")

	e.clock.Advance(time.Second)
	_, err = e.s.ConsumeUpstreamState(e.ctx, late.ID)
	e.wantNotFound(err, "ConsumeUpstreamState at expiry")
	e.clock.Advance(time.Hour)
	_, err = e.s.ConsumeUpstreamState(e.ctx, late.ID)
	e.wantNotFound(err, "ConsumeUpstreamState after expiry")

	// The expired state is left for the janitor.
	n, err := e.s.DeleteExpired(e.ctx, e.clock.Now(), 100)
	e.must(err, "DeleteExpired")
	if n != 1 {
		e.t.Errorf("DeleteExpired removed %d rows, want the expired state", n)
	}
}

// Consuming inside a transaction that rolls back leaves the state; one
// that commits consumes it.
func testUpstreamStateInTx(e *env) {
	st := e.createUpstreamState("google", 10*time.Minute)
	abort := errors.New("abort")
	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		got, err := e.s.ConsumeUpstreamState(ctx, st.ID)
		if err != nil {
			return err
		}
		e.wantUpstreamState(got, st, "state consumed in a transaction")
		if _, err := e.s.ConsumeUpstreamState(ctx, st.ID); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("second consume in the transaction: %v, want ErrNotFound", err)
		}
		return abort
	})
	if !errors.Is(err, abort) {
		e.t.Fatalf("InTx = %v, want the abort error", err)
	}
	e.must(e.s.InTx(e.ctx, func(ctx context.Context) error {
		got, err := e.s.ConsumeUpstreamState(ctx, st.ID)
		if err == nil {
			e.wantUpstreamState(got, st, "state after a rolled-back consume")
		}
		return err
	}), "ConsumeUpstreamState after a rolled-back consume")
	_, err = e.s.ConsumeUpstreamState(e.ctx, st.ID)
	e.wantNotFound(err, "ConsumeUpstreamState after a committed consume")
}
