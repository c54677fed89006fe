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

// The query hook makes a span per query of a traced request, with the
// operation and table, parented to the request's span (also inside a
// transaction, whose queries bun runs under BEGIN's context), and nothing
// of the values bun puts into the statements.
func TestTracingQueries(t *testing.T) {
	attr := func(s sdktrace.ReadOnlySpan, key string) string {
		v, _ := obstest.SpanAttr(s, key)
		return v
	}
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s := bunstoretest.Open(t, dialect, bunstore.Options{})
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		s.TraceQueries(tp)
		stmts := &statementLog{}
		s.WithWriterQueryHook(stmts)

		// Outside a request (background work): no spans.
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
	forEachDialect(t, func(t *testing.T, dialect string) {
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

// What the hook takes from a statement: the operation and a table name
// standing where SQL puts one, never anything from a literal.
func TestTracingDescribeQuery(t *testing.T) {
	for _, tc := range []struct{ sql, op, table string }{
		{`INSERT INTO "oauth2_access" AS "r" ("signature", "form") VALUES ('gth_at_abc', 'code=x')`, "INSERT", "oauth2_access"},
		{`SELECT "r"."signature" FROM "oauth2_pkce" AS "r" WHERE (r.signature = 'ab''cd FROM secret')`, "SELECT", "oauth2_pkce"},
		{`SELECT 'x FROM secret_table', a FROM t WHERE b = 'FROM other'`, "SELECT", "t"},
		{`UPDATE "oauth2_code" SET active = FALSE WHERE signature = 'gth_ac_x' AND active`, "UPDATE", "oauth2_code"},
		{`DELETE FROM login_throttles WHERE account IN (SELECT account FROM login_throttles WHERE locked_until < '2024-01-01')`, "DELETE", "login_throttles"},
		{`INSERT INTO login_throttles AS lt (account, failures) VALUES ('a@b', 1) ON CONFLICT (account) DO UPDATE SET failures = lt.failures + 1`, "INSERT", "login_throttles"},
		{`WITH doomed AS (SELECT id FROM oauth2_access WHERE expires_at < '2024') DELETE FROM oauth2_access WHERE id IN (SELECT id FROM doomed)`, "DELETE", "oauth2_access"},
		{`SELECT EXISTS (SELECT 1 FROM "clients" WHERE id = 'c1')`, "SELECT", "clients"},
		{`SELECT * FROM clients FOR UPDATE`, "SELECT", "clients"},
		{`SELECT pg_try_advisory_lock(42, hashtext(current_schema()))`, "SELECT", ""},
		{`SELECT count(*) FROM generate_series(1, 3)`, "SELECT", ""},
		{`SELECT x FROM public.clients`, "SELECT", "public.clients"},
		{`SELECT x FROM "public"."clients"`, "SELECT", "public.clients"},
		{`INSERT INTO "my table" VALUES (1)`, "INSERT", ""},
		{`-- gth_cs_comment FROM x` + "\n" + `SELECT 1`, "SELECT", ""},
		{`/* FROM y */ DELETE FROM z WHERE a = X'00ff'`, "DELETE", "z"},
		{"BEGIN", "BEGIN", ""},
		{"COMMIT", "COMMIT", ""},
		{"PRAGMA journal_mode", "PRAGMA", ""},
		{`CREATE TABLE IF NOT EXISTS "bun_migrations" (id bigint)`, "CREATE", "bun_migrations"},
		{`gth_at_secretvalue`, "OTHER", ""},
		{`'gth_at_secret' FROM t`, "OTHER", ""},
		{`SELECT a FROM 'unterminated`, "SELECT", ""},
		{``, "OTHER", ""},
	} {
		op, table := bunstore.DescribeQuery(tc.sql)
		if op != tc.op || table != tc.table {
			t.Errorf("DescribeQuery(%q) = %q, %q; want %q, %q", tc.sql, op, table, tc.op, tc.table)
		}
	}
}
