package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func mailTests() []test {
	return []test{
		{"EnqueueClaimRescheduleDelete", testMailOutbox},
		{"LeaseRunsOut", testMailLease},
		{"DeadLettersKeepNoBody", testMailDeadLetters},
		{"ConcurrentClaimsTakeEachMessageOnce", testMailConcurrentClaims},
	}
}

func mailIDs(ms []*storage.MailMessage) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

func testMailOutbox(e *env) {
	now := e.clock.Now()
	body := []byte{0, 1, 2, 0xff, 'x'}
	e.must(e.s.EnqueueMail(e.ctx, &storage.MailMessage{ID: "m1", To: "ann@example.com", Subject: "Reset ünïcode", Body: body}), "EnqueueMail m1")
	e.must(e.s.EnqueueMail(e.ctx, &storage.MailMessage{ID: "m2", To: "bob@example.com", Subject: "s", Body: body, NextAttemptAt: now.Add(time.Second)}), "EnqueueMail m2")
	e.must(e.s.EnqueueMail(e.ctx, &storage.MailMessage{ID: "m3", To: "cy@example.com", Subject: "s", Body: body, NextAttemptAt: now.Add(time.Hour)}), "EnqueueMail m3")
	e.wantIs(e.s.EnqueueMail(e.ctx, &storage.MailMessage{ID: "m1", To: "x@example.com", Subject: "s"}), "a duplicate message", storage.ErrConflict)

	got, err := e.s.ClaimMail(e.ctx, now, time.Minute, 10)
	e.must(err, "ClaimMail")
	e.wantList(mailIDs(got), []string{"m1"}, "due messages")
	if len(got) == 1 {
		m := got[0]
		e.wantEqual(m.To, "ann@example.com", "To")
		e.wantEqual(m.Subject, "Reset ünïcode", "Subject")
		if !bytes.Equal(m.Body, body) {
			e.t.Errorf("Body = %x, want %x", m.Body, body)
		}
		e.wantEqual(m.Attempts, 1, "Attempts after the first claim")
		e.wantTime(m.CreatedAt, now, "CreatedAt")
		e.wantTime(m.NextAttemptAt, now, "NextAttemptAt of a message enqueued without one")
		e.wantEqual(m.DeadAt.IsZero(), true, "DeadAt of a living message is zero")
	}
	got, err = e.s.ClaimMail(e.ctx, now.Add(2*time.Second), time.Minute, 10)
	e.must(err, "ClaimMail while m1 is held")
	e.wantList(mailIDs(got), []string{"m2"}, "due messages while m1 is held")

	e.must(e.s.RescheduleMail(e.ctx, "m1", now.Add(10*time.Second), "421 try later"), "RescheduleMail")
	got, err = e.s.ClaimMail(e.ctx, now.Add(5*time.Second), time.Minute, 10)
	e.must(err, "ClaimMail before m1 is due again")
	e.wantList(mailIDs(got), nil, "messages before m1 is due again")
	got, err = e.s.ClaimMail(e.ctx, now.Add(10*time.Second), time.Minute, 10)
	e.must(err, "ClaimMail when m1 is due again")
	e.wantList(mailIDs(got), []string{"m1"}, "messages when m1 is due again")
	if len(got) == 1 {
		e.wantEqual(got[0].Attempts, 2, "Attempts after the second claim")
		e.wantEqual(got[0].LastError, "421 try later", "LastError")
	}
	e.must(e.s.RescheduleMail(e.ctx, "m1", now, strings1000()), "RescheduleMail with a long reason")
	e.must(e.s.DeleteMail(e.ctx, "m1"), "DeleteMail")
	e.must(e.s.DeleteMail(e.ctx, "m1"), "DeleteMail again")
	e.wantNotFound(e.s.RescheduleMail(e.ctx, "m1", now, ""), "RescheduleMail of a deleted message")
	e.wantNotFound(e.s.BuryMail(e.ctx, "m1", now, ""), "BuryMail of a deleted message")
	got, err = e.s.ClaimMail(e.ctx, now.Add(2*time.Hour), time.Minute, 0)
	e.must(err, "ClaimMail with limit 0")
	e.wantList(mailIDs(got), nil, "messages with limit 0")
}

func testMailLease(e *env) {
	now := e.clock.Now()
	e.must(e.s.EnqueueMail(e.ctx, &storage.MailMessage{ID: "m", To: "a@example.com", Subject: "s", Body: []byte("b")}), "EnqueueMail")
	got, err := e.s.ClaimMail(e.ctx, now, time.Minute, 1)
	e.must(err, "first claim")
	e.wantList(mailIDs(got), []string{"m"}, "first claim")
	got, err = e.s.ClaimMail(e.ctx, now.Add(59*time.Second), time.Minute, 1)
	e.must(err, "claim within the lease")
	e.wantList(mailIDs(got), nil, "claim within the lease")
	got, err = e.s.ClaimMail(e.ctx, now.Add(time.Minute), time.Minute, 1)
	e.must(err, "claim after the lease")
	e.wantList(mailIDs(got), []string{"m"}, "claim after the lease")
}

// A buried message is never claimed again, keeps its recipient, subject,
// attempts and reason, loses its body, and is listed newest death first.
func testMailDeadLetters(e *env) {
	now := e.clock.Now()
	for _, id := range []string{"a", "b", "c"} {
		e.must(e.s.EnqueueMail(e.ctx, &storage.MailMessage{ID: id, To: id + "@example.com", Subject: "subject " + id, Body: []byte("secret link")}), "EnqueueMail "+id)
	}
	_, err := e.s.ClaimMail(e.ctx, now, time.Minute, 10)
	e.must(err, "ClaimMail")
	e.must(e.s.BuryMail(e.ctx, "a", now.Add(time.Second), "550 no such user"), "BuryMail a")
	e.must(e.s.BuryMail(e.ctx, "b", now.Add(2*time.Second), "554 rejected"), "BuryMail b")
	e.wantNotFound(e.s.BuryMail(e.ctx, "b", now.Add(3*time.Second), "again"), "BuryMail of a dead letter")
	e.wantNotFound(e.s.RescheduleMail(e.ctx, "b", now, ""), "RescheduleMail of a dead letter")

	got, err := e.s.ClaimMail(e.ctx, now.Add(time.Hour), time.Minute, 10)
	e.must(err, "ClaimMail after the burials")
	e.wantList(mailIDs(got), []string{"c"}, "living messages")

	dead, err := e.s.DeadMail(e.ctx, 10)
	e.must(err, "DeadMail")
	e.wantList(mailIDs(dead), []string{"b", "a"}, "dead letters, newest first")
	if len(dead) == 2 {
		d := dead[1]
		e.wantEqual(d.To, "a@example.com", "To of a dead letter")
		e.wantEqual(d.Subject, "subject a", "Subject of a dead letter")
		e.wantEqual(d.LastError, "550 no such user", "LastError of a dead letter")
		e.wantEqual(d.Attempts, 1, "Attempts of a dead letter")
		e.wantTime(d.DeadAt, now.Add(time.Second), "DeadAt")
		e.wantEqual(len(d.Body), 0, "body bytes kept in a dead letter")
	}
	dead, err = e.s.DeadMail(e.ctx, 1)
	e.must(err, "DeadMail limit 1")
	e.wantList(mailIDs(dead), []string{"b"}, "dead letters, limit 1")
	e.must(e.s.DeleteMail(e.ctx, "b"), "DeleteMail of a dead letter")
	dead, err = e.s.DeadMail(e.ctx, 10)
	e.must(err, "DeadMail after a deletion")
	e.wantList(mailIDs(dead), []string{"a"}, "dead letters after a deletion")

	// The retention: a dead letter goes once it died before the cutoff,
	// never a living message (c, never buried, is older than the cutoff).
	e.must(e.s.BuryMail(e.ctx, "c", now.Add(3*time.Second), "550"), "BuryMail c")
	n, err := e.s.DeleteDeadMailBefore(e.ctx, now.Add(time.Second), 10)
	e.must(err, "DeleteDeadMailBefore at a's death")
	e.wantEqual(n, int64(0), "dead letters deleted before the first death")
	e.must(e.s.EnqueueMail(e.ctx, &storage.MailMessage{ID: "d", To: "d@example.com", Subject: "s"}), "EnqueueMail d")
	n, err = e.s.DeleteDeadMailBefore(e.ctx, now.Add(time.Hour), 1)
	e.must(err, "DeleteDeadMailBefore batch 1")
	e.wantEqual(n, int64(1), "dead letters deleted in a batch of 1")
	n, err = e.s.DeleteDeadMailBefore(e.ctx, now.Add(time.Hour), 10)
	e.must(err, "DeleteDeadMailBefore the rest")
	e.wantEqual(n, int64(1), "dead letters deleted in the second batch")
	dead, err = e.s.DeadMail(e.ctx, 10)
	e.must(err, "DeadMail after the retention")
	e.wantList(mailIDs(dead), nil, "dead letters after the retention")
	got, err = e.s.ClaimMail(e.ctx, now.Add(2*time.Hour), time.Minute, 10)
	e.must(err, "ClaimMail after the retention")
	e.wantList(mailIDs(got), []string{"d"}, "living messages after the retention")
}

func testMailConcurrentClaims(e *env) {
	now := e.clock.Now()
	const n = 30
	for i := range n {
		e.must(e.s.EnqueueMail(e.ctx, &storage.MailMessage{ID: fmt.Sprintf("m%02d", i), To: "a@example.com", Subject: "s"}), "EnqueueMail")
	}
	var mu sync.Mutex
	var claimed []string
	errs := parallel(8, func(int) error {
		for {
			got, err := e.s.ClaimMail(e.ctx, now, time.Minute, 3)
			if err != nil {
				return err
			}
			if len(got) == 0 {
				return nil
			}
			mu.Lock()
			claimed = append(claimed, mailIDs(got)...)
			mu.Unlock()
		}
	})
	for _, err := range errs {
		// SQLite may answer a writer queueing too long as busy: a retry,
		// never a double claim.
		if err != nil && !errors.Is(err, storage.ErrUnavailable) {
			e.t.Errorf("concurrent claim: %v", err)
		}
	}
	slices.Sort(claimed)
	for i := 1; i < len(claimed); i++ {
		if claimed[i] == claimed[i-1] {
			e.t.Errorf("message %s was claimed twice", claimed[i])
		}
	}
	if len(claimed) != n && !slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		e.t.Errorf("%d messages claimed, want %d", len(claimed), n)
	}
}

func passwordResetTests() []test {
	return []test{
		{"PutReplacesTheOlderLink", testPasswordResetReplace},
		{"TakeOnceAndExpiry", testPasswordResetTake},
		{"ConcurrentTakesOneWinner", testPasswordResetConcurrentTake},
		{"GoesWithTheUser", testPasswordResetCascade},
		{"JanitorDeletesExpiredLinks", testExpiredLinksDeleted},
	}
}

func (e *env) putReset(user, hash string, expires time.Time) {
	e.t.Helper()
	e.must(e.s.PutPasswordReset(e.ctx, &storage.PasswordReset{
		UserID: user, TokenHash: hash, PasswordMAC: []byte("mac-" + hash), ExpiresAt: expires,
	}), "PutPasswordReset "+hash)
}

func testPasswordResetReplace(e *env) {
	e.createUser("u")
	e.createUser("v")
	now := e.clock.Now()
	e.putReset("u", "h1", now.Add(30*time.Minute))
	got, err := e.s.PasswordResetByHash(e.ctx, "h1")
	e.must(err, "PasswordResetByHash")
	e.wantEqual(got.UserID, "u", "UserID")
	e.wantEqual(string(got.PasswordMAC), "mac-h1", "PasswordMAC")
	e.wantTime(got.CreatedAt, now, "CreatedAt")
	e.wantTime(got.ExpiresAt, now.Add(30*time.Minute), "ExpiresAt")

	e.putReset("u", "h2", now.Add(30*time.Minute))
	_, err = e.s.PasswordResetByHash(e.ctx, "h1")
	e.wantNotFound(err, "the older link after a newer one")
	_, err = e.s.PasswordResetByHash(e.ctx, "h2")
	e.must(err, "the newer link")
	e.wantIs(e.s.PutPasswordReset(e.ctx, &storage.PasswordReset{UserID: "v", TokenHash: "h2", PasswordMAC: []byte("x"), ExpiresAt: now.Add(time.Hour)}),
		"another user's link with the same hash", storage.ErrConflict)
	e.wantNotFound(e.s.PutPasswordReset(e.ctx, &storage.PasswordReset{UserID: "ghost", TokenHash: "h3", PasswordMAC: []byte("x"), ExpiresAt: now.Add(time.Hour)}),
		"a link for an unknown user")
	e.must(e.s.DeletePasswordResets(e.ctx, "u"), "DeletePasswordResets")
	e.must(e.s.DeletePasswordResets(e.ctx, "u"), "DeletePasswordResets again")
	_, err = e.s.PasswordResetByHash(e.ctx, "h2")
	e.wantNotFound(err, "a deleted link")
}

func testPasswordResetTake(e *env) {
	e.createUser("u")
	now := e.clock.Now()
	e.putReset("u", "h", now.Add(30*time.Minute))
	got, err := e.s.TakePasswordReset(e.ctx, "h")
	e.must(err, "TakePasswordReset")
	e.wantEqual(got.UserID, "u", "UserID of the taken link")
	_, err = e.s.TakePasswordReset(e.ctx, "h")
	e.wantNotFound(err, "a link taken twice")
	_, err = e.s.TakePasswordReset(e.ctx, "")
	e.wantNotFound(err, "an empty hash")

	e.putReset("u", "old", now.Add(30*time.Minute))
	e.clock.Advance(30 * time.Minute)
	_, err = e.s.PasswordResetByHash(e.ctx, "old")
	e.wantNotFound(err, "an expired link")
	_, err = e.s.TakePasswordReset(e.ctx, "old")
	e.wantNotFound(err, "taking an expired link")
}

func testPasswordResetConcurrentTake(e *env) {
	e.createUser("u")
	e.putReset("u", "h", e.clock.Now().Add(time.Hour))
	var mu sync.Mutex
	wins := 0
	errs := parallel(8, func(int) error {
		_, err := e.s.TakePasswordReset(e.ctx, "h")
		if err == nil {
			mu.Lock()
			wins++
			mu.Unlock()
			return nil
		}
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	})
	for _, err := range errs {
		if err != nil && !errors.Is(err, storage.ErrUnavailable) {
			e.t.Errorf("concurrent take: %v", err)
		}
	}
	if wins != 1 {
		e.t.Errorf("%d callers took the link, want exactly one", wins)
	}
}

func testPasswordResetCascade(e *env) {
	e.createUser("u")
	e.putReset("u", "h", e.clock.Now().Add(time.Hour))
	e.must(e.s.DeleteUser(e.ctx, "u"), "DeleteUser")
	_, err := e.s.PasswordResetByHash(e.ctx, "h")
	e.wantNotFound(err, "the link of a deleted user")
}

func emailVerificationTests() []test {
	return []test{
		{"PutReplaceTakeExpire", testEmailVerification},
	}
}

func testEmailVerification(e *env) {
	e.createUser("u")
	now := e.clock.Now()
	put := func(hash, email string) {
		e.t.Helper()
		e.must(e.s.PutEmailVerification(e.ctx, &storage.EmailVerification{
			UserID: "u", TokenHash: hash, Email: email, ExpiresAt: now.Add(24 * time.Hour),
		}), "PutEmailVerification "+hash)
	}
	put("h1", "u@example.com")
	got, err := e.s.EmailVerificationByHash(e.ctx, "h1")
	e.must(err, "EmailVerificationByHash")
	e.wantEqual(got.UserID, "u", "UserID")
	e.wantEqual(got.Email, "u@example.com", "Email")
	e.wantTime(got.ExpiresAt, now.Add(24*time.Hour), "ExpiresAt")
	e.wantEqual(got.PreviousEmail, "", "PreviousEmail of a verification")
	// A change of address: replaces the verification, keeps the address
	// the person had.
	e.must(e.s.PutEmailVerification(e.ctx, &storage.EmailVerification{
		UserID: "u", TokenHash: "h2", Email: "new@example.com", PreviousEmail: "u@example.com", ExpiresAt: now.Add(24 * time.Hour),
	}), "PutEmailVerification of a change")
	_, err = e.s.EmailVerificationByHash(e.ctx, "h1")
	e.wantNotFound(err, "the older link after a newer one")
	got, err = e.s.EmailVerificationByHash(e.ctx, "h2")
	e.must(err, "EmailVerificationByHash of a change")
	e.wantEqual(got.PreviousEmail, "u@example.com", "PreviousEmail of a change")
	e.wantNotFound(e.s.PutEmailVerification(e.ctx, &storage.EmailVerification{UserID: "ghost", TokenHash: "h3", ExpiresAt: now.Add(time.Hour)}),
		"a link for an unknown user")
	got, err = e.s.TakeEmailVerification(e.ctx, "h2")
	e.must(err, "TakeEmailVerification")
	e.wantEqual(got.Email, "new@example.com", "Email of the taken link")
	e.wantEqual(got.PreviousEmail, "u@example.com", "PreviousEmail of the taken link")
	_, err = e.s.TakeEmailVerification(e.ctx, "h2")
	e.wantNotFound(err, "a link taken twice")
	put("h4", "u@example.com")
	got, err = e.s.EmailVerificationByHash(e.ctx, "h4")
	e.must(err, "EmailVerificationByHash after a change")
	e.wantEqual(got.PreviousEmail, "", "PreviousEmail of a verification replacing a change")
	e.clock.Advance(24 * time.Hour)
	_, err = e.s.EmailVerificationByHash(e.ctx, "h4")
	e.wantNotFound(err, "an expired link")
	_, err = e.s.TakeEmailVerification(e.ctx, "h4")
	e.wantNotFound(err, "taking an expired link")
	e.clock.Advance(-24 * time.Hour)
	e.must(e.s.DeleteUser(e.ctx, "u"), "DeleteUser")
	_, err = e.s.EmailVerificationByHash(e.ctx, "h4")
	e.wantNotFound(err, "the link of a deleted user")
}

// Expired reset and verification links go with the janitor's sweep; the
// live ones stay.
func testExpiredLinksDeleted(e *env) {
	e.createUser("u")
	e.createUser("v")
	now := e.clock.Now()
	e.putReset("u", "old", now.Add(time.Minute))
	e.putReset("v", "live", now.Add(time.Hour))
	e.must(e.s.PutEmailVerification(e.ctx, &storage.EmailVerification{UserID: "u", TokenHash: "vold", Email: "u@example.com", ExpiresAt: now.Add(time.Minute)}), "PutEmailVerification")
	_, err := e.s.DeleteExpired(e.ctx, now.Add(2*time.Minute), 100)
	e.must(err, "DeleteExpired")
	e.clock.Advance(-time.Hour) // look at the rows as if unexpired
	_, err = e.s.PasswordResetByHash(e.ctx, "old")
	e.wantNotFound(err, "an expired reset link after the sweep")
	_, err = e.s.EmailVerificationByHash(e.ctx, "vold")
	e.wantNotFound(err, "an expired verification link after the sweep")
	_, err = e.s.PasswordResetByHash(e.ctx, "live")
	e.must(err, "a live reset link after the sweep")
}

func signupTests() []test {
	return []test{{"PutTakeExpire", testSignups}}
}

func testSignups(e *env) {
	now := e.clock.Now()
	put := func(hash string, expires time.Time) {
		e.t.Helper()
		e.must(e.s.PutSignup(e.ctx, &storage.Signup{
			TokenHash: hash, Email: "new@example.com", Name: "Néw", PasswordHash: "$argon2id$x", Flow: "flow-1", ExpiresAt: expires,
		}), "PutSignup "+hash)
	}
	put("s1", now.Add(24*time.Hour))
	got, err := e.s.SignupByHash(e.ctx, "s1")
	e.must(err, "SignupByHash")
	e.wantEqual(got.Email, "new@example.com", "Email")
	e.wantEqual(got.Name, "Néw", "Name")
	e.wantEqual(got.PasswordHash, "$argon2id$x", "PasswordHash")
	e.wantEqual(got.Flow, "flow-1", "Flow")
	e.wantTime(got.ExpiresAt, now.Add(24*time.Hour), "ExpiresAt")
	e.wantIs(e.s.PutSignup(e.ctx, &storage.Signup{TokenHash: "s1", Email: "x@example.com", PasswordHash: "h", ExpiresAt: now}), "a duplicate hash", storage.ErrConflict)
	got, err = e.s.TakeSignup(e.ctx, "s1")
	e.must(err, "TakeSignup")
	e.wantEqual(got.Email, "new@example.com", "Email of the taken sign-up")
	_, err = e.s.TakeSignup(e.ctx, "s1")
	e.wantNotFound(err, "a sign-up taken twice")
	put("s2", now.Add(time.Minute))
	_, err = e.s.DeleteExpired(e.ctx, now.Add(2*time.Minute), 100)
	e.must(err, "DeleteExpired")
	_, err = e.s.SignupByHash(e.ctx, "s2")
	e.wantNotFound(err, "an expired sign-up after the sweep")
	put("s3", now.Add(time.Minute))
	e.clock.Advance(time.Minute)
	_, err = e.s.TakeSignup(e.ctx, "s3")
	e.wantNotFound(err, "taking an expired sign-up")
}
