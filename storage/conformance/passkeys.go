package conformance

import (
	"errors"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// Passkeys (WebAuthn credential records) and the state of WebAuthn
// ceremonies (challenges: used once, short-lived).

func passkeyTests() []test {
	return []test{
		{"CreateAndGet", testPasskeyCreateAndGet},
		{"CredentialIDUnique", testPasskeyCredentialIDUnique},
		{"UnknownUser", testPasskeyUnknownUser},
		{"RecordUse", testPasskeyRecordUse},
		{"RenameOnlyOwn", testPasskeyRename},
		{"DeleteAskedAndOnlyOwn", testPasskeyDelete},
		{"DeleteConcurrentKeepsOne", testPasskeyDeleteConcurrent},
		{"DeleteUserRemovesTheirs", testPasskeyDeleteUser},
	}
}

func webauthnChallengeTests() []test {
	return []test{
		{"ConsumeOnce", testChallengeConsumeOnce},
		{"KindMustMatch", testChallengeKind},
		{"Expired", testChallengeExpired},
		{"ConcurrentConsumeOneWinner", testChallengeConcurrent},
	}
}

func (e *env) createPasskey(userID, id string, cred []byte) *storage.Passkey {
	e.t.Helper()
	p := &storage.Passkey{
		ID: id, UserID: userID, CredentialID: cred, Name: "Key " + id, PublicKey: []byte{0xa5, 0x01, 0x02, 0x03},
		AttestationType: "none", AttestationFormat: "none", AAGUID: make([]byte, 16), SignCount: 7,
		Transports: []string{"internal", "hybrid"}, UserVerified: true, BackupEligible: true, BackupState: true,
	}
	e.must(e.s.CreatePasskey(e.ctx, p), "CreatePasskey("+id+")")
	return p
}

func testPasskeyCreateAndGet(e *env) {
	u := e.createUser(randomID("user-"))
	cred := []byte{0, 1, 2, 0xff, 0xfe}
	want := e.createPasskey(u.ID, randomID("pk-"), cred)
	e.clock.Advance(time.Second)
	second := e.createPasskey(u.ID, randomID("pk-"), []byte("second"))

	got, err := e.s.PasskeyByCredentialID(e.ctx, cred)
	e.must(err, "PasskeyByCredentialID")
	e.wantEqual(got.ID, want.ID, "ID")
	e.wantEqual(got.UserID, u.ID, "UserID")
	e.wantEqual(got.CredentialID, cred, "CredentialID")
	e.wantEqual(got.PublicKey, want.PublicKey, "PublicKey")
	e.wantEqual(got.AAGUID, want.AAGUID, "AAGUID")
	e.wantEqual(got.SignCount, uint32(7), "SignCount")
	e.wantList(got.Transports, want.Transports, "Transports")
	e.wantEqual([]bool{got.UserVerified, got.BackupEligible, got.BackupState, got.CloneWarning},
		[]bool{true, true, true, false}, "flags UV BE BS clone")
	e.wantEqual(got.AttestationFormat, "none", "AttestationFormat")
	e.wantTime(got.CreatedAt, want.CreatedAt, "CreatedAt")
	e.wantTime(got.LastUsedAt, time.Time{}, "LastUsedAt")

	list, err := e.s.PasskeysOfUser(e.ctx, u.ID)
	e.must(err, "PasskeysOfUser")
	if len(list) != 2 || list[0].ID != want.ID || list[1].ID != second.ID {
		e.t.Fatalf("PasskeysOfUser = %v, want both, oldest first", list)
	}
	_, err = e.s.PasskeyByCredentialID(e.ctx, []byte("unknown"))
	e.wantNotFound(err, "PasskeyByCredentialID(unknown)")
}

func testPasskeyCredentialIDUnique(e *env) {
	a, b := e.createUser(randomID("user-")), e.createUser(randomID("user-"))
	e.createPasskey(a.ID, randomID("pk-"), []byte("same"))
	p := &storage.Passkey{ID: randomID("pk-"), UserID: b.ID, CredentialID: []byte("same"), Name: "x", PublicKey: []byte{1}}
	e.wantIs(e.s.CreatePasskey(e.ctx, p), "CreatePasskey(taken credential id)", storage.ErrConflict)
}

func testPasskeyUnknownUser(e *env) {
	p := &storage.Passkey{ID: randomID("pk-"), UserID: "nobody", CredentialID: []byte("c"), Name: "x", PublicKey: []byte{1}}
	e.wantNotFound(e.s.CreatePasskey(e.ctx, p), "CreatePasskey(unknown user)")
}

func testPasskeyRecordUse(e *env) {
	u := e.createUser(randomID("user-"))
	p := e.createPasskey(u.ID, randomID("pk-"), []byte("c"))
	p.SignCount, p.BackupState, p.CloneWarning = 9, false, true
	at := e.clock.Now().Add(time.Minute)
	e.must(e.s.RecordPasskeyUse(e.ctx, p, at), "RecordPasskeyUse")
	got, err := e.s.PasskeyByCredentialID(e.ctx, []byte("c"))
	e.must(err, "PasskeyByCredentialID")
	e.wantEqual(got.SignCount, uint32(9), "SignCount")
	e.wantEqual(got.BackupState, false, "BackupState")
	e.wantEqual(got.CloneWarning, true, "CloneWarning")
	e.wantTime(got.LastUsedAt, at, "LastUsedAt")
	// A counter near the top of uint32 survives the round trip.
	p.SignCount = 1<<32 - 1
	e.must(e.s.RecordPasskeyUse(e.ctx, p, time.Time{}), "RecordPasskeyUse(max count)")
	got, _ = e.s.PasskeyByCredentialID(e.ctx, []byte("c"))
	e.wantEqual(got.SignCount, uint32(1<<32-1), "SignCount max")
	e.wantTime(got.LastUsedAt, at, "LastUsedAt unchanged without usedAt")
	p.ID = "gone"
	e.wantNotFound(e.s.RecordPasskeyUse(e.ctx, p, at), "RecordPasskeyUse(unknown)")
}

func testPasskeyRename(e *env) {
	u, other := e.createUser(randomID("user-")), e.createUser(randomID("user-"))
	p := e.createPasskey(u.ID, randomID("pk-"), []byte("c"))
	e.wantNotFound(e.s.RenamePasskey(e.ctx, other.ID, p.ID, "stolen"), "RenamePasskey(someone else's)")
	e.must(e.s.RenamePasskey(e.ctx, u.ID, p.ID, "Phone"), "RenamePasskey")
	got, _ := e.s.PasskeyByCredentialID(e.ctx, []byte("c"))
	e.wantEqual(got.Name, "Phone", "Name")
}

func testPasskeyDelete(e *env) {
	u, other := e.createUser(randomID("user-")), e.createUser(randomID("user-"))
	p1 := e.createPasskey(u.ID, randomID("pk-"), []byte("c1"))
	p2 := e.createPasskey(u.ID, randomID("pk-"), []byte("c2"))
	e.wantNotFound(e.s.DeletePasskey(e.ctx, other.ID, p1.ID, nil), "DeletePasskey(someone else's)")
	refuse := errors.New("last one")
	var saw []*storage.Passkey
	err := e.s.DeletePasskey(e.ctx, u.ID, p1.ID, func(others []*storage.Passkey) error { saw = others; return refuse })
	if !errors.Is(err, refuse) {
		e.t.Fatalf("DeletePasskey refused = %v, want the check's error", err)
	}
	if len(saw) != 1 || saw[0].ID != p2.ID {
		e.t.Errorf("the check saw %v, want only the other passkey", saw)
	}
	if list, _ := e.s.PasskeysOfUser(e.ctx, u.ID); len(list) != 2 {
		e.t.Fatalf("a refused delete deleted: %d left", len(list))
	}
	e.must(e.s.DeletePasskey(e.ctx, u.ID, p1.ID, func([]*storage.Passkey) error { return nil }), "DeletePasskey")
	e.wantNotFound(e.s.DeletePasskey(e.ctx, u.ID, p1.ID, nil), "DeletePasskey(again)")
	if list, _ := e.s.PasskeysOfUser(e.ctx, u.ID); len(list) != 1 || list[0].ID != p2.ID {
		e.t.Fatalf("after delete: %v", list)
	}
}

// testPasskeyDeleteConcurrent: two removals at once under a check that
// keeps at least one passkey: exactly one succeeds.
func testPasskeyDeleteConcurrent(e *env) {
	u := e.createUser(randomID("user-"))
	p1 := e.createPasskey(u.ID, randomID("pk-"), []byte("c1"))
	p2 := e.createPasskey(u.ID, randomID("pk-"), []byte("c2"))
	keepOne := errors.New("keep one")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{p1.ID, p2.ID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.s.DeletePasskey(e.ctx, u.ID, id, func(others []*storage.Passkey) error {
				if len(others) == 0 {
					return keepOne
				}
				return nil
			})
		}()
	}
	wg.Wait()
	list, err := e.s.PasskeysOfUser(e.ctx, u.ID)
	e.must(err, "PasskeysOfUser")
	if len(list) != 1 {
		e.t.Fatalf("concurrent removals left %d passkeys (errors %v), want 1", len(list), errs)
	}
}

func testPasskeyDeleteUser(e *env) {
	u := e.createUser(randomID("user-"))
	e.createPasskey(u.ID, randomID("pk-"), []byte("c"))
	e.must(e.s.DeleteUser(e.ctx, u.ID), "DeleteUser")
	_, err := e.s.PasskeyByCredentialID(e.ctx, []byte("c"))
	e.wantNotFound(err, "passkey of a deleted user")
}

func (e *env) createChallenge(kind string, ttl time.Duration) *storage.WebAuthnChallenge {
	e.t.Helper()
	c := &storage.WebAuthnChallenge{
		ID: randomID("ch-"), Kind: kind, UserID: "u1", Data: []byte(`{"challenge":"abc"}`),
		ExpiresAt: e.clock.Now().Add(ttl),
	}
	e.must(e.s.CreateWebAuthnChallenge(e.ctx, c), "CreateWebAuthnChallenge")
	return c
}

func testChallengeConsumeOnce(e *env) {
	c := e.createChallenge("login", 5*time.Minute)
	e.wantIs(e.s.CreateWebAuthnChallenge(e.ctx, c), "CreateWebAuthnChallenge(duplicate)", storage.ErrConflict)
	got, err := e.s.ConsumeWebAuthnChallenge(e.ctx, c.ID, "login")
	e.must(err, "ConsumeWebAuthnChallenge")
	e.wantEqual(string(got.Data), string(c.Data), "Data")
	e.wantEqual(got.UserID, "u1", "UserID")
	e.wantTime(got.ExpiresAt, c.ExpiresAt, "ExpiresAt")
	_, err = e.s.ConsumeWebAuthnChallenge(e.ctx, c.ID, "login")
	e.wantNotFound(err, "ConsumeWebAuthnChallenge(again)")
}

func testChallengeKind(e *env) {
	c := e.createChallenge("register", 5*time.Minute)
	_, err := e.s.ConsumeWebAuthnChallenge(e.ctx, c.ID, "login")
	e.wantNotFound(err, "ConsumeWebAuthnChallenge(other kind)")
	_, err = e.s.ConsumeWebAuthnChallenge(e.ctx, c.ID, "register")
	e.must(err, "ConsumeWebAuthnChallenge(its kind)")
}

func testChallengeExpired(e *env) {
	c := e.createChallenge("login", 5*time.Minute)
	e.clock.Advance(5*time.Minute + time.Second)
	_, err := e.s.ConsumeWebAuthnChallenge(e.ctx, c.ID, "login")
	e.wantNotFound(err, "ConsumeWebAuthnChallenge(expired)")
	n, err := e.s.DeleteExpired(e.ctx, e.clock.Now(), 100)
	e.must(err, "DeleteExpired")
	if n < 1 {
		e.t.Errorf("DeleteExpired = %d, want the expired challenge deleted", n)
	}
}

func testChallengeConcurrent(e *env) {
	c := e.createChallenge("login", 5*time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.s.ConsumeWebAuthnChallenge(e.ctx, c.ID, "login"); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		e.t.Fatalf("%d callers consumed one challenge, want exactly 1", wins)
	}
}
