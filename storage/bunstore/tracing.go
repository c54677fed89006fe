package bunstore

import (
	"context"
	"strings"

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
// request) a client span of tp, named and described by the SQL operation
// and the table only (see describeQuery). Queries of background work
// (janitor, key reloads, audit flushes) run under no span and are not
// traced: a trace per poll would bury the requests.
//
// Call it once, before the store is shared between goroutines: bun's list
// of hooks is not synchronised. A store that is never given a provider runs
// no hook at all (bun skips the hook machinery when the list is empty).
//
// github.com/uptrace/bun/extra/bunotel is not used: it always records
// the statement (db.statement), and the statements bun runs have the
// values in them — token signatures, hashes, e-mail addresses.
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
	op, table := describeQuery(event.Query)
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

// sqlOperations are the statements describeQuery names; anything else is
// OTHER.
var sqlOperations = map[string]bool{
	"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "VALUES": true,
	"BEGIN": true, "COMMIT": true, "ROLLBACK": true, "SAVEPOINT": true, "RELEASE": true,
	"CREATE": true, "ALTER": true, "DROP": true, "TRUNCATE": true, "PRAGMA": true, "VACUUM": true,
	"ANALYZE": true, "LOCK": true, "SET": true, "SHOW": true, "EXPLAIN": true,
}

// sqlToken is a word, a (quoted) identifier, or punctuation of a
// statement, at its parenthesis depth. String literals make no tokens.
type sqlToken struct {
	text   string
	depth  int
	quoted bool // a "quoted" identifier, never a keyword
}

// describeQuery returns the operation of a statement (SELECT, INSERT, ...)
// and the table it reads or writes ("" when that is not a plain table
// name). bun interpolates the values into the statement it runs, so the
// statement itself never leaves the process: only identifiers that stand
// where SQL puts a table name are taken from it, and string literals,
// where every interpolated value is (numbers cannot form an identifier),
// are skipped by the tokenizer.
func describeQuery(query string) (op, table string) {
	toks := tokenizeSQL(query, 512)
	opAt := -1
	for i, t := range toks {
		if t.depth != 0 || t.quoted {
			continue
		}
		w := strings.ToUpper(t.text)
		if i == 0 && w != "WITH" && !sqlOperations[w] {
			return "OTHER", ""
		}
		if sqlOperations[w] {
			op, opAt = w, i
			break
		}
	}
	if opAt < 0 {
		return "OTHER", ""
	}
	var after []string // the keywords that precede the table
	switch op {
	case "SELECT", "DELETE":
		after = []string{"FROM"}
	case "INSERT", "MERGE":
		after = []string{"INTO"}
	case "UPDATE":
		return op, tableAt(toks, opAt+1, false)
	case "CREATE", "ALTER", "DROP", "TRUNCATE":
		after = []string{"TABLE"}
	default:
		return op, ""
	}
	// The statement's own clause (depth 0) first; then a nested one, as in
	// SELECT EXISTS (SELECT ... FROM t).
	for _, nested := range []bool{false, true} {
		for i := opAt + 1; i < len(toks); i++ {
			t := toks[i]
			if t.quoted || (t.depth == 0) == nested || !containsFold(after, t.text) {
				continue
			}
			if name := tableAt(toks, i+1, op == "SELECT" || op == "DELETE"); name != "" {
				return op, name
			}
		}
	}
	return op, ""
}

// tableAt returns the table name at toks[i], skipping the modifiers that
// may stand between the keyword and the name, or "" if there is none
// there. fromClause refuses a name followed by "(" (a function, as in
// FROM generate_series(...)); after INTO it is the column list.
func tableAt(toks []sqlToken, i int, fromClause bool) string {
	for ; i < len(toks); i++ {
		w := strings.ToUpper(toks[i].text)
		if !toks[i].quoted && (w == "ONLY" || w == "IF" || w == "NOT" || w == "EXISTS" || w == "OR" ||
			w == "REPLACE" || w == "IGNORE" || w == "ABORT" || w == "FAIL" || w == "ROLLBACK") {
			continue
		}
		break
	}
	if i >= len(toks) || toks[i].text == "(" {
		return ""
	}
	if fromClause && i+1 < len(toks) && toks[i+1].text == "(" {
		return ""
	}
	name := toks[i].text
	if !toks[i].quoted && sqlKeywords[strings.ToUpper(name)] {
		return ""
	}
	if !isSQLName(name) {
		return ""
	}
	return name
}

// sqlKeywords may follow FROM/INTO/UPDATE without being a table name.
var sqlKeywords = map[string]bool{
	"SELECT": true, "SET": true, "LATERAL": true, "VALUES": true, "DEFAULT": true, "WHERE": true,
	"AS": true, "ON": true, "USING": true, "NULL": true, "TRUE": true, "FALSE": true,
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

func containsFold(list []string, s string) bool {
	for _, w := range list {
		if strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}

// tokenizeSQL splits a statement into at most limit tokens: words (joined
// across "." for qualified names), quoted identifiers, and parentheses.
// String literals ('...', a doubled quote inside), comments, numbers, operators
// and placeholders make no tokens.
func tokenizeSQL(q string, limit int) []sqlToken {
	var toks []sqlToken
	depth := 0
	i := 0
	// joinable is true right after a name, so that a following "." and
	// name extend it (schema.table, "schema"."table").
	joinable := false
	add := func(text string, quoted bool) {
		if joinable && len(toks) > 0 && strings.HasSuffix(toks[len(toks)-1].text, ".") {
			last := &toks[len(toks)-1]
			last.text += text
			last.quoted = last.quoted || quoted
		} else {
			toks = append(toks, sqlToken{text: text, depth: depth, quoted: quoted})
		}
		joinable = true
	}
	for i < len(q) && len(toks) < limit {
		c := q[i]
		switch {
		case c == '\'':
			// A string literal: every interpolated value is one. A doubled
			// quote is a quote inside it.
			i++
			for i < len(q) {
				if q[i] == '\'' {
					if i+1 < len(q) && q[i+1] == '\'' {
						i += 2
						continue
					}
					break
				}
				i++
			}
			i++
			joinable = false
		case c == '"' || c == '`':
			end := i + 1
			var b strings.Builder
			for end < len(q) {
				if q[end] == c {
					if end+1 < len(q) && q[end+1] == c {
						b.WriteByte(c)
						end += 2
						continue
					}
					break
				}
				b.WriteByte(q[end])
				end++
			}
			add(b.String(), true)
			i = end + 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
			joinable = false
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return toks
			}
			i += end + 4
			joinable = false
		case c == '.' && joinable && len(toks) > 0:
			toks[len(toks)-1].text += "."
			i++
		case c == '(':
			toks = append(toks, sqlToken{text: "(", depth: depth})
			depth++
			i++
			joinable = false
		case c == ')':
			depth--
			toks = append(toks, sqlToken{text: ")", depth: depth})
			i++
			joinable = false
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			end := i + 1
			for end < len(q) && (q[end] == '_' || q[end] == '$' || q[end] >= 'a' && q[end] <= 'z' ||
				q[end] >= 'A' && q[end] <= 'Z' || q[end] >= '0' && q[end] <= '9') {
				end++
			}
			add(q[i:end], false)
			i = end
		case c >= '0' && c <= '9':
			// A number (or a word's tail after a dot, which no table has).
			for i < len(q) && (q[i] == '.' || q[i] == '_' || q[i] >= '0' && q[i] <= '9' ||
				q[i] >= 'a' && q[i] <= 'z' || q[i] >= 'A' && q[i] <= 'Z') {
				i++
			}
			joinable = false
		default:
			// Spaces, operators, commas, placeholders.
			i++
			joinable = false
		}
	}
	return toks
}
