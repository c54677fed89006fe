package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite/handler/openid"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// API keys: extra, revocable secrets of a client, and the access tokens
// they mint.

func apiKeyTests() []test {
	return []test{
		{"CreateAndGet", testAPIKeyCreateAndGet},
		{"Conflict", testAPIKeyConflict},
		{"UnknownClient", testAPIKeyUnknownClient},
		{"ListNewestFirst", testAPIKeyList},
		{"ListCreatedViaAnApp", testAPIKeysCreatedVia},
		{"Revoke", testAPIKeyRevoke},
		{"RevokeDeletesTheKeysTokens", testAPIKeyRevokeDeletesTokens},
		{"RevokeIsOneTransaction", testAPIKeyRevokeInTx},
		{"TouchMovesForward", testAPIKeyTouch},
		{"TouchConcurrently", testAPIKeyTouchConcurrently},
	}
}

func (e *env) newAPIKey(id, clientID string, created time.Time) *storage.APIKey {
	return &storage.APIKey{
		ID:         id,
		ClientID:   clientID,
		Name:       "key " + id,
		Scopes:     []string{"read:things", "write:things"},
		SecretHash: "secret-hash-of-" + id,
		CreatedBy:  "user:owner-of-" + clientID,
		CreatedVia: "app-of-owner-of-" + clientID,
		CreatedAt:  created,
		ExpiresAt:  created.Add(90 * 24 * time.Hour),
	}
}

func (e *env) createAPIKey(id, clientID string, created time.Time) *storage.APIKey {
	e.t.Helper()
	k := e.newAPIKey(id, clientID, created)
	e.must(e.s.CreateAPIKey(e.ctx, k), "CreateAPIKey "+id)
	return k
}

// createKeyToken stores an access token minted with the API key keyID
// (the client-credentials grant of a key: no subject) and returns its
// signature.
func (e *env) createKeyToken(c *storage.Client, keyID string) string {
	e.t.Helper()
	req := e.newRequest(c, "")
	req.Session = &apiKeySession{DefaultSession: *req.Session.(*openid.DefaultSession), APIKeyID: keyID}
	sig := randomID("at-")
	e.must(e.s.CreateAccessTokenSession(e.ctx, sig, req), "CreateAccessTokenSession with key "+keyID)
	return sig
}

// createSecretToken stores an access token minted with the client's own
// secret and returns its signature.
func (e *env) createSecretToken(c *storage.Client) string {
	e.t.Helper()
	sig := randomID("at-")
	e.must(e.s.CreateAccessTokenSession(e.ctx, sig, e.newRequest(c, "")), "CreateAccessTokenSession with the client secret")
	return sig
}

func apiKeyIDs(keys []*storage.APIKey) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

func (e *env) wantAPIKey(got, want *storage.APIKey, what string) {
	e.t.Helper()
	e.wantEqual(got.ID, want.ID, what+" ID")
	e.wantEqual(got.ClientID, want.ClientID, what+" ClientID")
	e.wantEqual(got.Name, want.Name, what+" Name")
	e.wantList(got.Scopes, want.Scopes, what+" Scopes")
	e.wantEqual(got.SecretHash, want.SecretHash, what+" SecretHash")
	e.wantEqual(got.CreatedBy, want.CreatedBy, what+" CreatedBy")
	e.wantEqual(got.CreatedVia, want.CreatedVia, what+" CreatedVia")
	e.wantTime(got.CreatedAt, want.CreatedAt, what+" CreatedAt")
	e.wantTime(got.ExpiresAt, want.ExpiresAt, what+" ExpiresAt")
	e.wantTime(got.LastUsedAt, want.LastUsedAt, what+" LastUsedAt")
	e.wantTime(got.RevokedAt, want.RevokedAt, what+" RevokedAt")
}

func (e *env) getAPIKey(id string) *storage.APIKey {
	e.t.Helper()
	k, err := e.s.APIKey(e.ctx, id)
	e.must(err, "APIKey "+id)
	return k
}

func testAPIKeyCreateAndGet(e *env) {
	e.createClient("c")
	now := e.clock.Now()

	// CreatedAt is set by the store when zero; no expiry is kept as zero.
	forever := e.newAPIKey("ak-forever", "c", time.Time{})
	forever.Name = `CI "deploy" key (O'Brien \ co) ünï 🔑`
	forever.Scopes = []string{`sco"pe`, "ünï"}
	forever.ExpiresAt = time.Time{}
	e.must(e.s.CreateAPIKey(e.ctx, forever), "CreateAPIKey")
	e.wantTime(forever.CreatedAt, now, "CreatedAt set on the key")
	e.wantAPIKey(e.getAPIKey("ak-forever"), forever, "key without expiry")

	// A key without scopes, and times kept at microsecond precision.
	bare := &storage.APIKey{
		ID: "ak-bare", ClientID: "c", SecretHash: "h", CreatedBy: "operator",
		CreatedAt: now.Add(-time.Hour + 123456*time.Microsecond), ExpiresAt: now.Add(time.Minute),
	}
	e.must(e.s.CreateAPIKey(e.ctx, bare), "CreateAPIKey bare")
	e.wantAPIKey(e.getAPIKey("ak-bare"), bare, "bare key")

	// Expired and revoked keys are returned: the caller decides.
	e.clock.Advance(2 * time.Minute)
	e.wantAPIKey(e.getAPIKey("ak-bare"), bare, "expired key")
	e.must(e.s.RevokeAPIKey(e.ctx, "ak-bare", e.clock.Now()), "RevokeAPIKey")
	bare.RevokedAt = e.clock.Now()
	e.wantAPIKey(e.getAPIKey("ak-bare"), bare, "revoked key")

	for _, id := range []string{"ak-unknown", "", "AK-FOREVER"} {
		_, err := e.s.APIKey(e.ctx, id)
		e.wantNotFound(err, fmt.Sprintf("APIKey(%q)", id))
	}
}

func testAPIKeyConflict(e *env) {
	e.createClient("c")
	e.createClient("other")
	first := e.createAPIKey("ak-1", "c", e.clock.Now())
	dup := e.newAPIKey("ak-1", "other", e.clock.Now().Add(time.Minute))
	dup.Name, dup.SecretHash = "duplicate", "other-hash"
	e.wantIs(e.s.CreateAPIKey(e.ctx, dup), "duplicate key ID", storage.ErrConflict)
	e.wantAPIKey(e.getAPIKey("ak-1"), first, "key after the conflict")
	keys, err := e.s.ListAPIKeys(e.ctx, nil)
	e.must(err, "ListAPIKeys")
	e.wantEqual(apiKeyIDs(keys), []string{"ak-1"}, "keys after the conflict")
}

// A key needs its client: ErrNotFound otherwise, and nothing is stored,
// alone or in a transaction.
func testAPIKeyUnknownClient(e *env) {
	e.wantNotFound(e.s.CreateAPIKey(e.ctx, e.newAPIKey("ak-1", "ghost", e.clock.Now())), "CreateAPIKey for an unknown client")
	e.wantNotFound(e.s.CreateAPIKey(e.ctx, e.newAPIKey("ak-2", "", e.clock.Now())), "CreateAPIKey without a client")
	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		return e.s.CreateAPIKey(ctx, e.newAPIKey("ak-3", "ghost", e.clock.Now()))
	})
	e.wantNotFound(err, "CreateAPIKey for an unknown client in a transaction")
	for _, id := range []string{"ak-1", "ak-2", "ak-3"} {
		_, err := e.s.APIKey(e.ctx, id)
		e.wantNotFound(err, "APIKey "+id+" after the failed create")
	}
	keys, err := e.s.ListAPIKeys(e.ctx, nil)
	e.must(err, "ListAPIKeys")
	e.wantEqual(apiKeyIDs(keys), []string(nil), "keys after the failed creates")

	// Once the client exists, the same key can be made.
	e.createClient("ghost")
	e.createAPIKey("ak-1", "ghost", e.clock.Now())
}

func testAPIKeyList(e *env) {
	keys, err := e.s.ListAPIKeys(e.ctx, nil)
	e.must(err, "ListAPIKeys on an empty store")
	if len(keys) != 0 {
		e.t.Fatalf("empty store lists %d API keys", len(keys))
	}
	for _, id := range []string{"c1", "c2", "c3", "c4"} {
		e.createClient(id)
	}
	now := e.clock.Now()
	want := map[string]*storage.APIKey{}
	for _, k := range []struct {
		id, client string
		age        time.Duration
	}{
		{"k-b", "c1", time.Minute},
		{"k-c", "c2", 0},
		{"k-a", "c1", time.Hour},
		{"k-d", "c1", 0}, // the same time as k-c: by ID, descending
		{"k-e", "c3", 2 * time.Hour},
		{"k-f", "c2", 1500 * time.Millisecond},
	} {
		want[k.id] = e.createAPIKey(k.id, k.client, now.Add(-k.age))
	}
	e.must(e.s.RevokeAPIKey(e.ctx, "k-b", now), "RevokeAPIKey")
	want["k-b"].RevokedAt = now

	list := func(clientIDs ...string) []string {
		e.t.Helper()
		keys, err := e.s.ListAPIKeys(e.ctx, clientIDs)
		e.must(err, fmt.Sprintf("ListAPIKeys(%q)", clientIDs))
		for _, k := range keys {
			e.wantAPIKey(k, want[k.ID], "listed key")
		}
		return apiKeyIDs(keys)
	}
	all := []string{"k-d", "k-c", "k-f", "k-b", "k-a", "k-e"}
	e.wantEqual(list(), all, "every key, newest first")
	keys, err = e.s.ListAPIKeys(e.ctx, []string{})
	e.must(err, "ListAPIKeys with an empty slice")
	e.wantEqual(apiKeyIDs(keys), all, "every key, for an empty slice")
	e.wantEqual(list("c1"), []string{"k-d", "k-b", "k-a"}, "keys of c1")
	e.wantEqual(list("c2", "c1"), []string{"k-d", "k-c", "k-f", "k-b", "k-a"}, "keys of c1 and c2")
	e.wantEqual(list("c3", "c3"), []string{"k-e"}, "keys of c3, named twice")
	e.wantEqual(list("c4"), []string(nil), "keys of a client without keys")
	e.wantEqual(list("ghost", "C1", "c1'--"), []string(nil), "keys of unknown clients")
}

func testAPIKeysCreatedVia(e *env) {
	for _, id := range []string{"c1", "c2"} {
		e.createClient(id)
	}
	now := e.clock.Now()
	want := map[string]*storage.APIKey{}
	for _, k := range []struct {
		id, client, by, via string
		age                 time.Duration
	}{
		{"k-1", "c1", "user:alice", "app", time.Hour},
		{"k-2", "c2", "user:alice", "app", 0},              // another client, the same app
		{"k-3", "c1", "user:alice", "other-app", 0},        // another app
		{"k-4", "c1", "user:bob", "app", 0},                // another person, the same app
		{"k-5", "c1", "user:alice", "", 0},                 // no app (account page, operator)
		{"k-6", "c2", "user:alice", "app", time.Minute},    // revoked: still listed
		{"k-7", "c1", "user:alice'--", "app", time.Minute}, // quoting
	} {
		key := e.newAPIKey(k.id, k.client, now.Add(-k.age))
		key.CreatedBy, key.CreatedVia = k.by, k.via
		e.must(e.s.CreateAPIKey(e.ctx, key), "CreateAPIKey "+k.id)
		want[k.id] = key
	}
	e.must(e.s.RevokeAPIKey(e.ctx, "k-6", now), "RevokeAPIKey")
	want["k-6"].RevokedAt = now

	via := func(by, app string) []string {
		e.t.Helper()
		keys, err := e.s.APIKeysCreatedVia(e.ctx, by, app)
		e.must(err, fmt.Sprintf("APIKeysCreatedVia(%q, %q)", by, app))
		for _, k := range keys {
			e.wantAPIKey(k, want[k.ID], "listed key")
		}
		return apiKeyIDs(keys)
	}
	e.wantEqual(via("user:alice", "app"), []string{"k-2", "k-6", "k-1"}, "alice's keys made through app, newest first")
	e.wantEqual(via("user:bob", "app"), []string{"k-4"}, "bob's keys made through app")
	e.wantEqual(via("user:alice", ""), []string(nil), "keys made through no app")
	e.wantEqual(via("user:carol", "app"), []string(nil), "keys of someone who made none")
}

func testAPIKeyRevoke(e *env) {
	e.createClient("c")
	now := e.clock.Now()
	k1 := e.createAPIKey("ak-1", "c", now)
	k2 := e.createAPIKey("ak-2", "c", now)

	revokedAt := now.Add(-time.Second)
	e.must(e.s.RevokeAPIKey(e.ctx, "ak-1", revokedAt), "RevokeAPIKey")
	k1.RevokedAt = revokedAt
	e.wantAPIKey(e.getAPIKey("ak-1"), k1, "revoked key")

	// A second revocation keeps the first time and is no error.
	e.must(e.s.RevokeAPIKey(e.ctx, "ak-1", revokedAt.Add(time.Hour)), "RevokeAPIKey again")
	e.must(e.s.RevokeAPIKey(e.ctx, "ak-1", time.Time{}), "RevokeAPIKey again without a time")
	e.wantTime(e.getAPIKey("ak-1").RevokedAt, revokedAt, "RevokedAt after more revocations")

	// Revoking one key leaves the others alone.
	e.wantAPIKey(e.getAPIKey("ak-2"), k2, "the other key")

	// A zero time means now.
	e.clock.Advance(time.Minute)
	e.must(e.s.RevokeAPIKey(e.ctx, "ak-2", time.Time{}), "RevokeAPIKey without a time")
	e.wantTime(e.getAPIKey("ak-2").RevokedAt, e.clock.Now(), "RevokedAt of a revocation without a time")

	for _, id := range []string{"ak-unknown", "", "AK-1"} {
		e.wantNotFound(e.s.RevokeAPIKey(e.ctx, id, now), fmt.Sprintf("RevokeAPIKey(%q)", id))
	}

	// Other instances find the revocations: ak-1 at now-1s, ak-2 at now+1m;
	// a key never revoked is not listed.
	e.createAPIKey("ak-3", "c", now)
	since := func(at time.Time) []string {
		ids, err := e.s.APIKeysRevokedSince(e.ctx, at)
		e.must(err, "APIKeysRevokedSince")
		return ids
	}
	e.wantEqual(since(now.Add(-time.Hour)), []string{"ak-1", "ak-2"}, "revoked in the last hour, earliest first")
	e.wantEqual(since(revokedAt), []string{"ak-1", "ak-2"}, "revoked at or after the first revocation")
	e.wantEqual(since(revokedAt.Add(time.Microsecond)), []string{"ak-2"}, "revoked after the first revocation")
	e.wantEqual(since(e.clock.Now().Add(time.Second)), []string(nil), "revoked in the future")
}

// Revoking a key deletes exactly the access tokens it minted: not those of
// another key, of the client's own secret or of another client.
func testAPIKeyRevokeDeletesTokens(e *env) {
	c, other := e.createClient("c"), e.createClient("other")
	now := e.clock.Now()
	e.createAPIKey("ak-1", "c", now)
	e.createAPIKey("ak-2", "c", now)
	e.createAPIKey("ak-3", "other", now)

	revoked := []string{e.createKeyToken(c, "ak-1"), e.createKeyToken(c, "ak-1")}
	byOtherKey := e.createKeyToken(c, "ak-2")
	kept := map[string]string{
		"token of another key":           byOtherKey,
		"token of another client's key":  e.createKeyToken(other, "ak-3"),
		"token of the client secret":     e.createSecretToken(c),
		"token of a session without key": e.createKeyToken(c, ""),
		"token of another client":        e.createSecretToken(other),
	}
	// A grant of a user of the client, with all its tokens.
	userGrant := e.createGrantTokens(c, "alice")

	for _, sig := range revoked {
		req, err := e.s.GetAccessTokenSession(e.ctx, sig, &apiKeySession{})
		e.must(err, "GetAccessTokenSession of the key's token before revocation")
		if sess, ok := req.GetSession().(*apiKeySession); !ok || sess.APIKeyID != "ak-1" {
			e.t.Errorf("session of the key's token = %#v, want APIKeyID ak-1", req.GetSession())
		}
	}

	e.must(e.s.RevokeAPIKey(e.ctx, "ak-1", now), "RevokeAPIKey")

	for _, sig := range revoked {
		_, err := e.s.GetAccessTokenSession(e.ctx, sig, &apiKeySession{})
		e.wantNotFound(err, "GetAccessTokenSession of the revoked key's token")
	}
	for what, sig := range kept {
		_, err := e.s.GetAccessTokenSession(e.ctx, sig, &apiKeySession{})
		e.must(err, what)
	}
	e.wantKept(userGrant.errors(e), "the tokens of a user's grant")
	req, err := e.s.GetAccessTokenSession(e.ctx, byOtherKey, &apiKeySession{})
	e.must(err, "GetAccessTokenSession of the other key's token")
	if sess, ok := req.GetSession().(*apiKeySession); !ok || sess.APIKeyID != "ak-2" {
		e.t.Errorf("session of the other key's token = %#v, want APIKeyID ak-2", req.GetSession())
	}

	// Revoking again is harmless, and a token a revoked key somehow got
	// afterwards goes with the next revocation.
	late := e.createKeyToken(c, "ak-1")
	e.must(e.s.RevokeAPIKey(e.ctx, "ak-1", now), "RevokeAPIKey again")
	_, err = e.s.GetAccessTokenSession(e.ctx, late, &apiKeySession{})
	e.wantNotFound(err, "GetAccessTokenSession of a late token of the revoked key")
	for what, sig := range kept {
		_, err := e.s.GetAccessTokenSession(e.ctx, sig, &apiKeySession{})
		e.must(err, what+" after the second revocation")
	}

	// An unknown (or empty) key ID deletes nothing, not even the tokens
	// that no key minted.
	e.wantNotFound(e.s.RevokeAPIKey(e.ctx, "", now), "RevokeAPIKey empty ID")
	e.wantNotFound(e.s.RevokeAPIKey(e.ctx, "ak-unknown", now), "RevokeAPIKey unknown")
	for what, sig := range kept {
		_, err := e.s.GetAccessTokenSession(e.ctx, sig, &apiKeySession{})
		e.must(err, what+" after revoking unknown keys")
	}
}

// In a transaction that rolls back, the key stays usable and keeps its
// tokens; inside one that commits, both changes land together.
func testAPIKeyRevokeInTx(e *env) {
	c := e.createClient("c")
	e.createAPIKey("ak-1", "c", e.clock.Now())
	sig := e.createKeyToken(c, "ak-1")
	abort := errors.New("abort")
	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		if err := e.s.RevokeAPIKey(ctx, "ak-1", e.clock.Now()); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) {
		e.t.Fatalf("InTx = %v, want the abort error", err)
	}
	if k := e.getAPIKey("ak-1"); !k.RevokedAt.IsZero() {
		e.t.Errorf("key revoked at %v after a rolled-back revocation", k.RevokedAt)
	}
	_, err = e.s.GetAccessTokenSession(e.ctx, sig, &apiKeySession{})
	e.must(err, "the key's token after a rolled-back revocation")

	err = e.s.InTx(e.ctx, func(ctx context.Context) error {
		return e.s.RevokeAPIKey(ctx, "ak-1", e.clock.Now())
	})
	e.must(err, "RevokeAPIKey in a transaction")
	e.wantTime(e.getAPIKey("ak-1").RevokedAt, e.clock.Now(), "RevokedAt after a committed revocation")
	_, err = e.s.GetAccessTokenSession(e.ctx, sig, &apiKeySession{})
	e.wantNotFound(err, "the key's token after a committed revocation")
}

func testAPIKeyTouch(e *env) {
	e.createClient("c")
	now := e.clock.Now()
	k := e.createAPIKey("ak-1", "c", now)
	other := e.createAPIKey("ak-2", "c", now)
	e.wantTime(e.getAPIKey("ak-1").LastUsedAt, time.Time{}, "LastUsedAt before the first use")

	steps := []struct {
		at, want time.Duration // after now
	}{
		{time.Second, time.Second},
		{0, time.Second},                                   // earlier: kept
		{time.Second, time.Second},                         // the same: kept
		{1500 * time.Millisecond, 1500 * time.Millisecond}, // sub-second steps
		{1250 * time.Millisecond, 1500 * time.Millisecond},
		{2 * time.Second, 2 * time.Second},
		{2*time.Second + time.Microsecond, 2*time.Second + time.Microsecond},
		{2 * time.Second, 2*time.Second + time.Microsecond},
		{time.Hour, time.Hour},
		{-time.Hour, time.Hour},
	}
	for _, st := range steps {
		what := fmt.Sprintf("TouchAPIKey at now%+v", st.at)
		e.must(e.s.TouchAPIKey(e.ctx, "ak-1", now.Add(st.at)), what)
		e.wantTime(e.getAPIKey("ak-1").LastUsedAt, now.Add(st.want), "LastUsedAt after "+what)
	}
	// Nothing else about the key changes, nor about another key.
	k.LastUsedAt = now.Add(time.Hour)
	e.wantAPIKey(e.getAPIKey("ak-1"), k, "touched key")
	e.wantAPIKey(e.getAPIKey("ak-2"), other, "untouched key")

	// A zero time means now.
	e.clock.Advance(2 * time.Hour)
	e.must(e.s.TouchAPIKey(e.ctx, "ak-2", time.Time{}), "TouchAPIKey without a time")
	e.wantTime(e.getAPIKey("ak-2").LastUsedAt, e.clock.Now(), "LastUsedAt of a touch without a time")

	// A revoked key still records its (failed) uses.
	e.must(e.s.RevokeAPIKey(e.ctx, "ak-1", e.clock.Now()), "RevokeAPIKey")
	e.must(e.s.TouchAPIKey(e.ctx, "ak-1", e.clock.Now()), "TouchAPIKey of a revoked key")
	e.wantTime(e.getAPIKey("ak-1").LastUsedAt, e.clock.Now(), "LastUsedAt of a revoked key")

	for _, id := range []string{"ak-unknown", "", "AK-1"} {
		e.wantNotFound(e.s.TouchAPIKey(e.ctx, id, e.clock.Now()), fmt.Sprintf("TouchAPIKey(%q)", id))
	}
	// Not even when an earlier time is given (nothing would change).
	e.wantNotFound(e.s.TouchAPIKey(e.ctx, "ak-unknown", now.Add(-24*time.Hour)), "TouchAPIKey unknown with an old time")
}

// Concurrent uses, in any order: LastUsedAt ends at the latest and no
// caller fails.
func testAPIKeyTouchConcurrently(e *env) {
	e.createClient("c")
	now := e.clock.Now()
	e.createAPIKey("ak-1", "c", now)
	const goroutines, rounds = 10, 5
	var latest time.Time
	at := func(i, r int) time.Time {
		// Scrambled, so that later touches often carry earlier times.
		n := (i*7 + r*3) % (goroutines * rounds)
		return now.Add(time.Duration(n)*time.Second + time.Duration(i)*time.Millisecond)
	}
	for i := range goroutines {
		for r := range rounds {
			if t := at(i, r); t.After(latest) {
				latest = t
			}
		}
	}
	errs := parallel(goroutines, func(i int) error {
		for r := range rounds {
			if err := e.s.TouchAPIKey(e.ctx, "ak-1", at(i, r)); err != nil {
				return err
			}
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			e.t.Errorf("TouchAPIKey in goroutine %d: %v", i, err)
		}
	}
	e.wantTime(e.getAPIKey("ak-1").LastUsedAt, latest, "LastUsedAt after concurrent touches")
}
