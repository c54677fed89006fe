package conformance

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// unstorableKeyTests: a key holding a NUL byte or invalid UTF-8 can name no
// row (PostgreSQL refuses both in text), so every lookup by one that
// callers reach with ids from outside answers ErrNotFound — never a driver
// error, which would be a server error to the caller.
func unstorableKeyTests() []test {
	return []test{{"AnswerNotFound", testUnstorableKeysNotFound}}
}

func testUnstorableKeysNotFound(e *env) {
	c := e.createClient("client-a")
	u := e.createUser("user-a")
	for _, key := range []string{"a\x00b", "\x00", c.ID + "\x00", "a\xffb"} {
		what := func(op string) string { return fmt.Sprintf("%s(%q)", op, key) }
		_, err := e.s.ClientByID(e.ctx, key)
		e.wantNotFound(err, what("ClientByID"))
		_, err = e.s.GetClient(e.ctx, key)
		e.wantNotFound(err, what("GetClient"))
		_, err = e.s.ListClients(e.ctx, storage.Page{After: key})
		e.wantNotFound(err, what("ListClients after"))
		e.wantNotFound(e.s.DeleteClient(e.ctx, key), what("DeleteClient"))
		_, err = e.s.UserByID(e.ctx, key)
		e.wantNotFound(err, what("UserByID"))
		_, err = e.s.ListUsers(e.ctx, storage.Page{After: key})
		e.wantNotFound(err, what("ListUsers after"))
		e.wantNotFound(e.s.DeleteUser(e.ctx, key), what("DeleteUser"))
		_, err = e.s.APIKey(e.ctx, key)
		e.wantNotFound(err, what("APIKey"))
		_, err = e.s.ConsentGrant(e.ctx, u.ID, key)
		e.wantNotFound(err, what("ConsentGrant"))
		e.wantNotFound(e.s.DeleteConsentGrant(e.ctx, u.ID, key), what("DeleteConsentGrant"))
	}
	// Nothing was touched.
	_, err := e.s.ClientByID(e.ctx, c.ID)
	e.must(err, "ClientByID after")
	_, err = e.s.UserByID(e.ctx, u.ID)
	e.must(err, "UserByID after")
}
