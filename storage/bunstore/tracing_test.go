package bunstore_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/obstest"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// statementLog records the statements bun runs, to show that the values
// the spans must not carry really are in them.
type statementLog struct {
	mu   sync.Mutex
	sqls []string
}

func (l *statementLog) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}
func (l *statementLog) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sqls = append(l.sqls, e.Query)
}

func (l *statementLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range l.sqls {
		if strings.Contains(q, s) {
			return true
		}
	}
	return false
}

// tracedStore opens a store whose queries are traced to rec (through tp)
// and whose writer's statements are logged to stmts.
func tracedStore(t *testing.T, dialect string) (*bunstore.Store, *tracetest.SpanRecorder, *sdktrace.TracerProvider, *statementLog) {
	s := bunstoretest.Open(t, dialect, bunstore.Options{})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s.TraceQueries(tp)
	stmts := &statementLog{}
	s.WithWriterQueryHook(stmts)
	return s, rec, tp, stmts
}

// The query hook makes a span per query of a traced request, with the
// operation and table, parented to the request's span (also inside a
// transaction, whose queries bun runs under BEGIN's context), and nothing
// of the values bun puts into the statements.
func TestTracingQueries(t *testing.T) {
	attr := func(s sdktrace.ReadOnlySpan, key string) string {
		v, _ := obstest.SpanAttr(s, key)
		return v
	}
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		// Outside a request (background work): no spans.
		s, rec, tp, stmts := tracedStore(t, dialect)
		c := &storage.Client{ID: "c-trace", GrantTypes: []string{"client_credentials"}}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		if n := len(rec.Ended()); n != 0 {
			t.Fatalf("%d spans for queries outside any span, want none", n)
		}

		const marker = "gth_at_SECRETMARK"
		secret := marker + "x9Yz"
		reqCtx, root := tp.Tracer("test").Start(ctx, "request")
		req := &fosite.Request{
			ID: "req-trace", Client: c, RequestedAt: time.Now(),
			Session: &openid.DefaultSession{Subject: "subject-" + secret},
			Form:    url.Values{"code_verifier": {secret}},
		}
		if err := s.CreateAccessTokenSession(reqCtx, secret, req); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetAccessTokenSession(reqCtx, secret, &openid.DefaultSession{}); err != nil {
			t.Fatal(err)
		}
		txCtx, err := s.BeginTX(reqCtx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRefreshTokenSession(txCtx, secret+"-refresh", secret, req); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(txCtx); err != nil {
			t.Fatal(err)
		}
		// The same signature again: a failing INSERT.
		if err := s.CreateAccessTokenSession(reqCtx, secret, req); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("second insert: %v, want ErrConflict", err)
		}
		root.End()

		if !stmts.contains(marker) {
			t.Fatal("the statements never held the marker; the test proves nothing")
		}
		spans := rec.Ended()
		byName := map[string][]sdktrace.ReadOnlySpan{}
		wantSystem := map[string]string{"sqlite": "sqlite", "postgres": "postgresql"}[dialect]
		for _, sp := range spans {
			if txt := obstest.SpanText(sp); strings.Contains(txt, "SECRETMARK") || strings.Contains(txt, "gth_") {
				t.Errorf("span carries a value of the statement: %s", txt)
			}
			if sp.Name() == "request" {
				continue
			}
			byName[sp.Name()] = append(byName[sp.Name()], sp)
			if sp.SpanKind() != trace.SpanKindClient {
				t.Errorf("%s: kind %v, want client", sp.Name(), sp.SpanKind())
			}
			if got := sp.Parent().SpanID(); got != root.SpanContext().SpanID() {
				t.Errorf("%s: parent %s, want the request span %s", sp.Name(), got, root.SpanContext().SpanID())
			}
			if got := attr(sp, "db.system.name"); got != wantSystem {
				t.Errorf("%s: db.system.name %q, want %q", sp.Name(), got, wantSystem)
			}
			if op := attr(sp, "db.operation.name"); op == "" || !strings.HasPrefix(sp.Name(), op) {
				t.Errorf("%s: db.operation.name %q", sp.Name(), op)
			}
		}
		for _, name := range []string{"INSERT oauth2_access", "SELECT oauth2_access", "BEGIN", "INSERT oauth2_refresh", "COMMIT"} {
			if len(byName[name]) == 0 {
				t.Errorf("no span %q; spans: %v", name, names(spans))
			}
		}
		if got := byName["INSERT oauth2_access"]; len(got) > 0 && attr(got[0], "db.collection.name") != "oauth2_access" {
			t.Errorf("db.collection.name = %q", attr(got[0], "db.collection.name"))
		}
		var failed int
		for _, sp := range byName["INSERT oauth2_access"] {
			if sp.Status().Code == codes.Error {
				failed++
				if got := attr(sp, "error.type"); got != "conflict" {
					t.Errorf("failed insert: error.type %q, want conflict", got)
				}
			}
		}
		if failed != 1 {
			t.Errorf("%d failed INSERT spans, want 1", failed)
		}
	})
}

// A request whose span is not sampled (a caller's traceparent with the
// sampled flag off, or a ratio sampler) gets no query spans, and its
// transactions run as usual.
func TestTracingUnsampledRequest(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s := bunstoretest.Open(t, dialect, bunstore.Options{})
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.NeverSample()))
		s.TraceQueries(tp)
		ctx, root := tp.Tracer("test").Start(context.Background(), "request")
		if !root.SpanContext().IsValid() || root.IsRecording() {
			t.Fatal("want a valid, unsampled request span")
		}
		c := &storage.Client{ID: "c-unsampled", GrantTypes: []string{"client_credentials"}}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		req := &fosite.Request{ID: "req-unsampled", Client: c, RequestedAt: time.Now(), Session: &openid.DefaultSession{Subject: "s"}}
		txCtx, err := s.BeginTX(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAccessTokenSession(txCtx, "sig-unsampled", req); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(txCtx); err != nil {
			t.Fatal(err)
		}
		root.End()
		if n := len(rec.Ended()); n != 0 {
			t.Errorf("%d spans recorded for an unsampled request", n)
		}
	})
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

// Every shape of query the store runs is named from what bun knows of it:
// a builder query by its operation and its model's table (each request
// table has its own), a raw statement by its first word alone; and no
// value reaches a span, neither through a TableExpr that bun formats with
// its arguments, nor a statement that starts with a value, nor a driver
// error that quotes one (PostgreSQL's invalid input syntax).
func TestTracingQueryShapes(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		s, rec, tp, stmts := tracedStore(t, dialect)
		c := &storage.Client{ID: "c-shapes", GrantTypes: []string{"authorization_code"}}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}

		const secret = "gth_ac_SECRETMARKq7"
		reqCtx, root := tp.Tracer("test").Start(ctx, "request")
		req := &fosite.Request{
			ID: "req-shapes", Client: c, RequestedAt: time.Now(),
			Session: &openid.DefaultSession{Subject: "subject-" + secret},
		}
		if err := s.CreatePKCERequestSession(reqCtx, secret, req); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetPKCERequestSession(reqCtx, secret, &openid.DefaultSession{}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateOpenIDConnectSession(reqCtx, secret, req); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetOpenIDConnectSession(reqCtx, secret, req); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAuthorizeCodeSession(reqCtx, secret, req); err != nil {
			t.Fatal(err)
		}
		if err := s.InvalidateAuthorizeCodeSession(reqCtx, secret); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeAccessToken(reqCtx, "req-shapes"); err != nil {
			t.Fatal(err)
		}
		db := s.WriterDB()
		var v string
		if err := db.NewSelect().TableExpr("(SELECT ? AS v) AS t", secret).Column("v").Scan(reqCtx, &v); err != nil || v != secret {
			t.Fatalf("select from a table expression: %q, %v", v, err)
		}
		if _, err := db.NewRaw("? AS v", secret).Exec(reqCtx); err == nil {
			t.Fatal("a statement that is a value ran")
		}
		_, castErr := db.NewRaw("SELECT CAST(? AS integer)", secret).Exec(reqCtx)
		if dialect == "postgres" && (castErr == nil || !strings.Contains(castErr.Error(), "SECRETMARK")) {
			t.Fatalf("the driver error does not quote the value (%v): the test proves nothing", castErr)
		}
		root.End()

		if !stmts.contains("SECRETMARK") {
			t.Fatal("the statements never held the marker; the test proves nothing")
		}
		spans := rec.Ended()
		byName := map[string]int{}
		for _, sp := range spans {
			if txt := obstest.SpanText(sp); strings.Contains(txt, "SECRETMARK") || strings.Contains(txt, "gth_") {
				t.Errorf("span carries a value of the statement: %s", txt)
			}
			byName[sp.Name()]++
		}
		for _, name := range []string{
			"INSERT oauth2_pkce", "SELECT oauth2_pkce", "INSERT oauth2_oidc", "SELECT oauth2_oidc",
			"INSERT oauth2_code", "UPDATE", "DELETE", "SELECT", "OTHER",
		} {
			if byName[name] == 0 {
				t.Errorf("no span %q; spans: %v", name, names(spans))
			}
		}
	})
}
