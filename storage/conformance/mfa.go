package conformance

import (
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func secondFactorTests() []test {
	return []test{
		{"EnrolConfirmAndRead", testTOTPEnrolConfirm},
		{"StepAcceptedOnceConcurrently", testTOTPStepOnce},
		{"RecoveryCodesSingleUse", testRecoveryCodesSingleUse},
		{"DeleteSecondFactors", testDeleteSecondFactors},
		{"LoginSessionStepUp", testLoginSessionStepUp},
	}
}

// An authenticator is stored sealed as given, unconfirmed until
// ConfirmTOTP, which works once; a new enrolment replaces it.
func testTOTPEnrolConfirm(e *env) {
	e.createUser("u")
	_, err := e.s.UserTOTP(e.ctx, "u")
	e.wantIs(err, "UserTOTP before enrolment", storage.ErrNotFound)
	e.wantIs(e.s.SaveTOTP(e.ctx, &storage.TOTP{UserID: "nobody", Secret: []byte{1}}), "SaveTOTP of an unknown user", storage.ErrNotFound)
	now := e.clock.Now().UTC().Truncate(time.Second)
	e.must(e.s.SaveTOTP(e.ctx, &storage.TOTP{UserID: "u", Secret: []byte{0, 1, 2, 255}, CreatedAt: now}), "SaveTOTP")
	got, err := e.s.UserTOTP(e.ctx, "u")
	e.must(err, "UserTOTP")
	e.wantEqual(got.Secret, []byte{0, 1, 2, 255}, "Secret")
	e.wantEqual(got.ConfirmedAt.IsZero(), true, "unconfirmed")
	ok, err := e.s.AdvanceTOTPStep(e.ctx, "u", 10)
	e.must(err, "AdvanceTOTPStep unconfirmed")
	e.wantEqual(ok, false, "a code accepted before confirmation")

	e.must(e.s.ConfirmTOTP(e.ctx, "u", 5, now), "ConfirmTOTP")
	e.wantIs(e.s.ConfirmTOTP(e.ctx, "u", 6, now), "a second ConfirmTOTP", storage.ErrNotFound)
	got, err = e.s.UserTOTP(e.ctx, "u")
	e.must(err, "UserTOTP confirmed")
	e.wantEqual(got.LastStep, int64(5), "LastStep")
	e.wantEqual(got.ConfirmedAt.Equal(now), true, "ConfirmedAt")

	e.must(e.s.SaveTOTP(e.ctx, &storage.TOTP{UserID: "u", Secret: []byte{9}, CreatedAt: now}), "SaveTOTP again")
	got, err = e.s.UserTOTP(e.ctx, "u")
	e.must(err, "UserTOTP replaced")
	e.wantEqual(got.Secret, []byte{9}, "replaced Secret")
	e.wantEqual(got.ConfirmedAt.IsZero(), true, "a new enrolment is unconfirmed")
}

// A time-step is accepted once (RFC 6238 §5.2), also when several callers
// race for it, and never one at or before the last accepted.
func testTOTPStepOnce(e *env) {
	e.createUser("u")
	now := e.clock.Now()
	e.must(e.s.SaveTOTP(e.ctx, &storage.TOTP{UserID: "u", Secret: []byte{1}, CreatedAt: now}), "SaveTOTP")
	e.must(e.s.ConfirmTOTP(e.ctx, "u", 100, now), "ConfirmTOTP")
	for _, step := range []int64{99, 100} {
		ok, err := e.s.AdvanceTOTPStep(e.ctx, "u", step)
		e.must(err, "AdvanceTOTPStep")
		e.wantEqual(ok, false, "an old step accepted")
	}
	const n = 8
	var wg sync.WaitGroup
	wins := make(chan bool, n)
	for range n {
		wg.Go(func() {
			ok, err := e.s.AdvanceTOTPStep(e.ctx, "u", 101)
			if err != nil {
				e.t.Errorf("AdvanceTOTPStep: %v", err)
			}
			wins <- ok
		})
	}
	wg.Wait()
	close(wins)
	won := 0
	for ok := range wins {
		if ok {
			won++
		}
	}
	e.wantEqual(won, 1, "callers that got step 101")
	ok, err := e.s.AdvanceTOTPStep(e.ctx, "nobody", 200)
	e.must(err, "AdvanceTOTPStep of an unknown user")
	e.wantEqual(ok, false, "a step of an unknown user")
}

// Each recovery code is used once, also under a race; replacing the set
// forgets the old codes.
func testRecoveryCodesSingleUse(e *env) {
	e.createUser("u")
	e.createUser("v")
	now := e.clock.Now()
	e.must(e.s.ReplaceRecoveryCodes(e.ctx, "u", []string{"h1", "h2", "h3"}, now), "ReplaceRecoveryCodes")
	left, err := e.s.RecoveryCodesLeft(e.ctx, "u")
	e.must(err, "RecoveryCodesLeft")
	e.wantEqual(left, 3, "codes left")
	ok, err := e.s.UseRecoveryCode(e.ctx, "v", "h1", now)
	e.must(err, "UseRecoveryCode of another user")
	e.wantEqual(ok, false, "another person's code accepted")

	var wg sync.WaitGroup
	wins := make(chan bool, 6)
	for range 6 {
		wg.Go(func() {
			ok, err := e.s.UseRecoveryCode(e.ctx, "u", "h1", now)
			if err != nil {
				e.t.Errorf("UseRecoveryCode: %v", err)
			}
			wins <- ok
		})
	}
	wg.Wait()
	close(wins)
	won := 0
	for ok := range wins {
		if ok {
			won++
		}
	}
	e.wantEqual(won, 1, "callers that used h1")
	left, err = e.s.RecoveryCodesLeft(e.ctx, "u")
	e.must(err, "RecoveryCodesLeft")
	e.wantEqual(left, 2, "codes left after one use")

	e.must(e.s.ReplaceRecoveryCodes(e.ctx, "u", []string{"h4"}, now), "ReplaceRecoveryCodes again")
	ok, err = e.s.UseRecoveryCode(e.ctx, "u", "h2", now)
	e.must(err, "UseRecoveryCode of a replaced code")
	e.wantEqual(ok, false, "a replaced code accepted")
	left, err = e.s.RecoveryCodesLeft(e.ctx, "u")
	e.must(err, "RecoveryCodesLeft")
	e.wantEqual(left, 1, "codes left after replacing")
}

// Removing second factors takes the authenticator and the codes, and
// deleting the person takes them too.
func testDeleteSecondFactors(e *env) {
	e.createUser("u")
	now := e.clock.Now()
	removed, err := e.s.DeleteSecondFactors(e.ctx, "u")
	e.must(err, "DeleteSecondFactors of none")
	e.wantEqual(removed, false, "removed when there was nothing")
	e.must(e.s.SaveTOTP(e.ctx, &storage.TOTP{UserID: "u", Secret: []byte{1}, CreatedAt: now}), "SaveTOTP")
	e.must(e.s.ReplaceRecoveryCodes(e.ctx, "u", []string{"h1"}, now), "ReplaceRecoveryCodes")
	removed, err = e.s.DeleteSecondFactors(e.ctx, "u")
	e.must(err, "DeleteSecondFactors")
	e.wantEqual(removed, true, "removed")
	_, err = e.s.UserTOTP(e.ctx, "u")
	e.wantIs(err, "UserTOTP after removal", storage.ErrNotFound)
	left, err := e.s.RecoveryCodesLeft(e.ctx, "u")
	e.must(err, "RecoveryCodesLeft")
	e.wantEqual(left, 0, "codes left after removal")

	e.must(e.s.SaveTOTP(e.ctx, &storage.TOTP{UserID: "u", Secret: []byte{1}, CreatedAt: now}), "SaveTOTP")
	e.must(e.s.ReplaceRecoveryCodes(e.ctx, "u", []string{"h1"}, now), "ReplaceRecoveryCodes")
	e.must(e.s.DeleteUser(e.ctx, "u"), "DeleteUser")
	_, err = e.s.UserTOTP(e.ctx, "u")
	e.wantIs(err, "UserTOTP of a deleted user", storage.ErrNotFound)
}

// A step-up changes a live session's amr and acr and nothing else.
func testLoginSessionStepUp(e *env) {
	e.createUser("u")
	ls := e.createSession("ls-1", "u", "sid-1", e.clock.Now())
	e.must(e.s.SetLoginSessionMethods(e.ctx, "ls-1", []string{"pwd", "otp", "mfa"}, "urn:x:mfa"), "SetLoginSessionMethods")
	got, err := e.s.LoginSession(e.ctx, "ls-1")
	e.must(err, "LoginSession")
	e.wantEqual(got.AMR, []string{"pwd", "otp", "mfa"}, "AMR")
	e.wantEqual(got.ACR, "urn:x:mfa", "ACR")
	e.wantEqual(got.SID, ls.SID, "SID")
	e.wantIs(e.s.SetLoginSessionMethods(e.ctx, "nope", []string{"pwd"}, ""), "an unknown session", storage.ErrNotFound)
}
