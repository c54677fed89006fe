package bunstore

import (
	"context"
	"strings"
	"unicode"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/migrations"
)

// tracerName is the instrumentation scope of the database spans.
const tracerName = "github.com/gatehouse-dev/gatehouse/storage/bunstore"

// TraceQueries makes every query that runs under a span (a traced
// request) a client span of tp, named and described by the operation and
// the table that bun knows of it (see describeQuery), never by the
// statement. Queries of background work (janitor, key reloads, audit
// flushes) run under no span and are not traced: a trace per poll would
// bury the requests.
//
// Call it once, before the store is shared between goroutines: bun's list
// of hooks is not synchronised. A store that is never given a provider runs
// no hook at all (bun skips the hook machinery when the list is empty).
//
// github.com/uptrace/bun/extra/bunotel is not used. Its statement
// attribute has placeholders, not values, by default, and it asks bun for
// the operation and table as this hook does; but it also sends the
// driver's error message (which can quote a value), makes a root span of
// every query of background work, hangs a transaction's queries from
// BEGIN's ended span, names every NewRaw statement SELECT, uses the older
// attribute names (db.operation, db.sql.table) and brings a metrics
// dependency. Taking those out leaves this hook.
func (s *Store) TraceQueries(tp trace.TracerProvider) {
	system := semconv.DBSystemNameSQLite
	if s.dialect == migrations.Postgres {
		system = semconv.DBSystemNamePostgreSQL
	}
	h := &queryTracer{tracer: tp.Tracer(tracerName), system: system}
	s.wdb.AddQueryHook(h)
	if s.rdb != s.wdb {
		s.rdb.AddQueryHook(h)
	}
}

type queryTracer struct {
	tracer trace.Tracer
	system attribute.KeyValue
}

// querySpanKey is the context key of the span of the query being run.
type querySpanKey struct{}

type querySpan struct {
	event  *bun.QueryEvent
	span   trace.Span
	parent trace.Span
}

var _ bun.QueryHook = (*queryTracer)(nil)

func (h *queryTracer) BeforeQuery(ctx context.Context, event *bun.QueryEvent) context.Context {
	parent := trace.SpanFromContext(ctx)
	// bun keeps the context of BEGIN as the transaction's and runs the
	// queries of RunInTx and the COMMIT/ROLLBACK with it; their parent is
	// the span BEGIN ran under, not BEGIN's own (ended) span. (Spans are
	// compared by id: span values need not be comparable.)
	if qs, ok := ctx.Value(querySpanKey{}).(*querySpan); ok &&
		qs.span.SpanContext().SpanID() == parent.SpanContext().SpanID() {
		parent = qs.parent
		ctx = trace.ContextWithSpan(ctx, parent)
	}
	// No request span, or one that is not sampled (its children would
	// not be either): nothing to record.
	if !parent.SpanContext().IsValid() || !parent.IsRecording() {
		return ctx
	}
	op, table := describeQuery(event)
	name := op
	attrs := []attribute.KeyValue{h.system, semconv.DBOperationName(op)}
	if table != "" {
		name += " " + table
		attrs = append(attrs, semconv.DBCollectionName(table))
	}
	ctx, span := h.tracer.Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(event.StartTime),
		trace.WithAttributes(attrs...))
	return context.WithValue(ctx, querySpanKey{}, &querySpan{event: event, span: span, parent: parent})
}

func (h *queryTracer) AfterQuery(ctx context.Context, event *bun.QueryEvent) {
	qs, ok := ctx.Value(querySpanKey{}).(*querySpan)
	if !ok || qs.event != event {
		return // BeforeQuery started no span for this query
	}
	if kind := errorType(event.Err); kind != "" {
		// The class only, never the message: driver errors can quote the
		// values of the statement.
		qs.span.SetAttributes(semconv.ErrorTypeKey.String(kind))
		qs.span.SetStatus(codes.Error, kind)
	}
	qs.span.End()
}

// errorType names a query error for the error.type attribute ("" when the
// query did not fail: no rows is an answer, not a failure).
func errorType(err error) string {
	if err == nil {
		return ""
	}
	switch classify(err) {
	case classNotFound:
		return ""
	case classConflict:
		return "conflict"
	case classMissingReference:
		return "missing_reference"
	case classSerialization:
		return "serialization_failure"
	case classUnavailable:
		return "unavailable"
	case classBusy:
		return "busy"
	}
	return "_OTHER"
}

// describeQuery returns the operation of a query (SELECT, INSERT, ...) and
// its table ("" when bun does not know it), from what bun knows of the
// query and never from its text: bun writes the values into the statement
// it runs (token signatures, hashes, e-mail addresses).
//
// A query made with bun's builders (NewSelect, NewInsert, ...) gives its
// operation, and its model gives the table. A raw statement (NewRaw, and
// BEGIN, COMMIT, ROLLBACK) has no table for bun, which calls every NewRaw
// a SELECT; its operation is its first word, as bun takes it for the
// statements it runs without a builder, kept only when it is a SQL
// command.
func describeQuery(event *bun.QueryEvent) (op, table string) {
	if _, raw := event.IQuery.(*bun.RawQuery); raw || event.IQuery == nil {
		return statementCommand(event.Query), ""
	}
	return event.Operation(), tableName(event.IQuery)
}

// sqlCommands are the first words statementCommand keeps; anything else
// is OTHER.
var sqlCommands = map[string]bool{
	"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "VALUES": true,
	"BEGIN": true, "COMMIT": true, "ROLLBACK": true, "SAVEPOINT": true, "RELEASE": true,
	"CREATE": true, "ALTER": true, "DROP": true, "TRUNCATE": true, "PRAGMA": true, "VACUUM": true,
	"ANALYZE": true, "LOCK": true, "SET": true, "SHOW": true, "EXPLAIN": true,
}

// statementCommand returns the first word of a raw statement if it is a
// SQL command, else OTHER (a statement that starts with a comment, a
// parenthesis or a value).
func statementCommand(query string) string {
	word := strings.TrimLeftFunc(query, unicode.IsSpace)
	if i := strings.IndexFunc(word, unicode.IsSpace); i >= 0 {
		word = word[:i]
	}
	if word = strings.ToUpper(word); sqlCommands[word] {
		return word
	}
	return "OTHER"
}

// tableName returns the table bun gives for q when it is a plain table
// name. bun takes it from the model's tag, or else formats the first
// TableExpr, whose arguments could be values: a string value comes out as
// a quoted literal and a number starts with a digit, neither of which is
// a name, so only names pass (bun.Ident quotes them: "clients").
func tableName(q bun.Query) string {
	name := strings.ReplaceAll(q.GetTableName(), `"`, "")
	if !isSQLName(name) {
		return ""
	}
	return name
}

// isSQLName reports whether s is a plain (optionally schema-qualified)
// table name: letters, digits and underscores, not starting with a digit,
// at most 63 bytes a part (PostgreSQL's limit).
func isSQLName(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 63 || (p[0] >= '0' && p[0] <= '9') {
			return false
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}
