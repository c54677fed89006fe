package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/internal/obstest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// fakeCollector is an OTLP/HTTP trace receiver on loopback: it decodes
// what the exporter sends, as a collector would.
type fakeCollector struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests int
	spans    []*tracepb.Span
	services []string // service.name of each resource received
}

func newFakeCollector(t *testing.T) *fakeCollector {
	c := &fakeCollector{t: t}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *fakeCollector) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		c.t.Errorf("collector: undecodable export (%s): %v", r.Header.Get("Content-Type"), err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.requests++
	for _, rs := range req.GetResourceSpans() {
		c.services = append(c.services, attrValue(rs.GetResource().GetAttributes(), "service.name"))
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (c *fakeCollector) received() (spans []*tracepb.Span, services []string, requests int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*tracepb.Span(nil), c.spans...), append([]string(nil), c.services...), c.requests
}

func attrValue(attrs []*commonpb.KeyValue, key string) string {
	for _, a := range attrs {
		if a.GetKey() == key {
			v := a.GetValue()
			if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
				return s.StringValue
			}
			if i, ok := v.GetValue().(*commonpb.AnyValue_IntValue); ok {
				return strconv.FormatInt(i.IntValue, 10)
			}
			return v.String()
		}
	}
	return ""
}

// otlpSpanText is everything of an exported span that could hold a value.
func otlpSpanText(sp *tracepb.Span) string {
	var b strings.Builder
	b.WriteString(sp.GetName())
	for _, a := range sp.GetAttributes() {
		b.WriteString(" " + a.GetKey() + "=" + a.GetValue().String())
	}
	b.WriteString(" " + sp.GetStatus().GetMessage())
	for _, e := range sp.GetEvents() {
		b.WriteString(" " + e.GetName())
		for _, a := range e.GetAttributes() {
			b.WriteString(" " + a.GetValue().String())
		}
	}
	return b.String()
}

// With an OTLP endpoint, a client_credentials token makes a server span
// named for the token route with its status and, under it in the same
// trace, the database spans of the request; the spans reach the
// collector at the latest when the server stops (the batch delay is set
// longer than the test, so it is the shutdown that flushes them), and
// none of them carries the token, the client secret or any gth_ value.
func TestTracingExportsSpans(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		col := newFakeCollector(t)
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.srv.URL)
		t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
		s := startServer(t, dialect)
		if s.app.tracing == nil {
			t.Fatal("tracing is off with OTEL_EXPORTER_OTLP_ENDPOINT set")
		}
		c, secret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{"api"}})
		tok, errCode := s.ccToken(t, c.ID, secret, "api")
		if tok == "" {
			t.Fatalf("token: %s", errCode)
		}

		// A caller's traceparent is continued.
		const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		req, _ := http.NewRequest(http.MethodPost, s.issuer+provider.PathToken,
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
		status, body, _ := doJSON(t, req)
		if status != http.StatusOK {
			t.Fatalf("token with traceparent: %d %v", status, body)
		}
		tok2, _ := body["access_token"].(string)

		// A caller's trace that is not sampled: served as usual, not
		// recorded.
		const unsampledTrace = "5bf92f3577b34da6a3ce929d0e0e4737"
		req, _ = http.NewRequest(http.MethodPost, s.issuer+provider.PathToken,
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("traceparent", "00-"+unsampledTrace+"-"+parentID+"-00")
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
		if status, body, _ := doJSON(t, req); status != http.StatusOK {
			t.Fatalf("token in an unsampled trace: %d %v", status, body)
		}

		if _, _, n := col.received(); n != 0 {
			t.Logf("%d exports before the shutdown (a full batch)", n)
		}
		s.stop()
		spans, services, _ := col.received()
		if len(spans) == 0 {
			t.Fatal("no spans reached the collector by the end of the shutdown")
		}
		for _, svc := range services {
			if svc != "gatehouse" {
				t.Errorf("service.name %q, want gatehouse", svc)
			}
		}

		var tokenSpans []*tracepb.Span
		byID := map[string]*tracepb.Span{}
		for _, sp := range spans {
			if hex.EncodeToString(sp.GetTraceId()) == unsampledTrace {
				t.Errorf("span %q of an unsampled trace exported", sp.GetName())
			}
			byID[hex.EncodeToString(sp.GetSpanId())] = sp
			if sp.GetName() == "POST "+provider.PathToken {
				tokenSpans = append(tokenSpans, sp)
			}
			txt := otlpSpanText(sp)
			for _, leak := range []string{tok, tok2, secret, "gth_"} {
				if leak != "" && strings.Contains(txt, leak) {
					t.Errorf("span carries a secret (%.12s...): %s", leak, txt)
				}
			}
		}
		if len(tokenSpans) != 2 {
			t.Fatalf("%d token spans, want 2; spans: %v", len(tokenSpans), otlpNames(spans))
		}
		var continued bool
		for _, hs := range tokenSpans {
			if hs.GetKind() != tracepb.Span_SPAN_KIND_SERVER || attrValue(hs.GetAttributes(), "http.route") != provider.PathToken ||
				attrValue(hs.GetAttributes(), "http.response.status_code") != "200" {
				t.Errorf("token span: kind %v, attributes %v", hs.GetKind(), hs.GetAttributes())
			}
			if hex.EncodeToString(hs.GetTraceId()) == traceID {
				continued = true
				if got := hex.EncodeToString(hs.GetParentSpanId()); got != parentID {
					t.Errorf("continued span's parent %s, want %s", got, parentID)
				}
			}
			// The INSERT of the access token is a child of this span.
			var insert bool
			for _, sp := range spans {
				if !bytes.Equal(sp.GetParentSpanId(), hs.GetSpanId()) || !bytes.Equal(sp.GetTraceId(), hs.GetTraceId()) {
					continue
				}
				if sp.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || attrValue(sp.GetAttributes(), "db.system.name") == "" {
					t.Errorf("child of the token span: %q kind %v", sp.GetName(), sp.GetKind())
				}
				if attrValue(sp.GetAttributes(), "db.operation.name") == "INSERT" &&
					attrValue(sp.GetAttributes(), "db.collection.name") == "oauth2_access" {
					insert = true
				}
			}
			if !insert {
				t.Errorf("no INSERT oauth2_access span under the token span; spans: %v", otlpNames(spans))
			}
		}
		if !continued {
			t.Error("the caller's traceparent was not continued")
		}
		// Every span's parent is in the export or outside the process
		// (the caller's): no span hangs from a span that was never sent.
		for _, sp := range spans {
			p := hex.EncodeToString(sp.GetParentSpanId())
			if len(sp.GetParentSpanId()) > 0 && byID[p] == nil && p != parentID {
				t.Errorf("span %q has a parent that was not exported", sp.GetName())
			}
		}
	})
}

func otlpNames(spans []*tracepb.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.GetName())
	}
	return out
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A collector that cannot be reached changes nothing for clients: tokens
// are issued at once, the failure is logged (once, not per export), and
// the shutdown is bounded.
func TestTracingUnreachableCollector(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+closedPort(t))
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
	logs := &obstest.LogBuffer{}
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	s := startServerLoggingTo(t, store, logs)
	if s.app.tracing == nil {
		t.Fatal("tracing is off")
	}
	c, secret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{"api"}})
	client := &http.Client{Timeout: 5 * time.Second}
	token := func() {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.issuer+provider.PathToken,
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("token: status %d", resp.StatusCode)
		}
	}
	const warning = "tracing: cannot export spans"
	for round := 0; round < 3; round++ {
		for i := 0; i < 5; i++ {
			token()
		}
		// Export the round's spans now (and fail) before the next round,
		// so several exports fail.
		if err := s.app.tracing.ForceFlush(context.Background()); err != nil {
			t.Fatalf("export: %v", err)
		}
	}
	start := time.Now()
	s.stop()
	if d := time.Since(start); d > tracingShutdownTimeout+5*time.Second {
		t.Errorf("shutdown took %v with an unreachable collector", d)
	}
	out := logs.String()
	if n := strings.Count(out, warning); n != 1 {
		t.Errorf("the export failure was logged %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "status=5") {
		t.Errorf("a request failed:\n%s", out)
	}
}

// Without an endpoint (or with tracing disabled or unusable) no tracer
// provider is made: no middleware, no query hook, nothing to pay.
func TestTracingOff(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"unset":            {},
		"sdk disabled":     {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
		"exporter none":    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"},
		"no scheme":        {"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4318"},
		"not http":         {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://x:4318"},
		"no host":          {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://"},
		"not a URL at all": {"OTEL_EXPORTER_OTLP_ENDPOINT": "::%zz"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"} {
				t.Setenv(k, env[k])
			}
			if tp := newTracing(context.Background(), slog.New(slog.DiscardHandler)); tp != nil {
				_ = tp.Shutdown(context.Background())
				t.Fatalf("tracing on with %v", env)
			}
		})
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	s := startServer(t, "sqlite")
	if s.app.tracing != nil {
		t.Fatal("the server traces without an endpoint")
	}
	c, secret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{"api"}})
	if tok, errCode := s.ccToken(t, c.ID, secret, "api"); tok == "" {
		t.Fatalf("token: %s", errCode)
	}
}

// OTEL_SERVICE_NAME overrides the service name, and the gRPC protocol is
// honoured; an unreachable gRPC collector still shuts down in bounded
// time.
func TestTracingSettings(t *testing.T) {
	col := newFakeCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "gatehouse-eu")
	tp := newTracing(context.Background(), slog.New(slog.DiscardHandler))
	if tp == nil {
		t.Fatal("tracing is off")
	}
	_, sp := tp.Tracer("test").Start(context.Background(), "probe")
	sp.End()
	shutdownTracing(tp, slog.New(slog.DiscardHandler), tracingShutdownTimeout)
	if _, services, _ := col.received(); len(services) != 1 || services[0] != "gatehouse-eu" {
		t.Errorf("service names %v, want [gatehouse-eu]", services)
	}

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+closedPort(t))
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	tp = newTracing(context.Background(), slog.New(slog.DiscardHandler))
	if tp == nil {
		t.Fatal("tracing is off with grpc")
	}
	_, sp = tp.Tracer("test").Start(context.Background(), "probe")
	sp.End()
	// The exporter retries an unreachable gRPC collector until the
	// shutdown's deadline, shortened here (5 s in the server).
	const timeout = 100 * time.Millisecond
	start := time.Now()
	shutdownTracing(tp, slog.New(slog.DiscardHandler), timeout)
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Errorf("grpc shutdown took %v", d)
	}
}

// failingExporter fails every export.
type failingExporter struct{ sdktrace.SpanExporter }

func (failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return errors.New("connection refused")
}

// Export failures are logged at most once per interval, with the count
// of those not logged, and the recovery once.
func TestTracingExportErrorsLoggedOccasionally(t *testing.T) {
	t.Parallel()
	logs := &obstest.LogBuffer{}
	clock := clocktest.New(time.Unix(1000, 0))
	fail := true
	e := &reportingExporter{
		log: slog.New(slog.NewTextHandler(logs, nil)), every: time.Minute,
		now: clock.Now,
	}
	inner := failingExporter{}
	e.SpanExporter = switchExporter{fail: &fail, failing: inner}
	for i := 0; i < 10; i++ { // ten failures within 10 s: one line
		if err := e.ExportSpans(context.Background(), nil); err != nil {
			t.Fatalf("the failure was passed on: %v", err)
		}
		clock.Advance(time.Second)
	}
	clock.Advance(time.Minute)
	_ = e.ExportSpans(context.Background(), nil) // a minute later: a second line
	fail = false
	_ = e.ExportSpans(context.Background(), nil) // works again: one line
	_ = e.ExportSpans(context.Background(), nil)
	out := logs.String()
	if n := strings.Count(out, "cannot export spans"); n != 2 {
		t.Errorf("%d failure lines, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "failed_exports=10") {
		t.Errorf("the second line does not count the 10 unlogged failures:\n%s", out)
	}
	if n := strings.Count(out, "works again"); n != 1 {
		t.Errorf("%d recovery lines, want 1:\n%s", n, out)
	}
}

// switchExporter fails while *fail is set.
type switchExporter struct {
	sdktrace.SpanExporter
	fail    *bool
	failing sdktrace.SpanExporter
}

func (s switchExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if *s.fail {
		return s.failing.ExportSpans(ctx, spans)
	}
	return nil
}
