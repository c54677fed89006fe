package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/obstest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// Each request is a server span named by its method and route pattern,
// with the status sent, continuing the caller's traceparent; paths, query
// strings, credentials and fosite's own spans stay out.
func TestTracingRequests(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	f := newFixture(t, "http://127.0.0.1:8080", func(o *Options) { o.TracerProvider = tp })
	c, clientSecret := f.client(t, admin.ClientSpec{Name: "robot", Scopes: []string{"api"}})

	const marker = "SECRETMARK"
	do := func(req *http.Request) (int, []sdktrace.ReadOnlySpan) {
		t.Helper()
		before := len(rec.Ended())
		code := f.do(req).Code
		return code, rec.Ended()[before:]
	}
	token := func(secret string) *http.Request {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}, "state": {marker}}
		req := httptest.NewRequest(http.MethodPost, provider.PathToken+"?x="+marker, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
		return req
	}

	// A token, in a trace the caller started.
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req := token(clientSecret)
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	code, spans := do(req)
	if code != http.StatusOK {
		t.Fatalf("token: %d", code)
	}
	if len(spans) != 1 {
		t.Fatalf("token: %d spans %v, want the server span alone (fosite's are silenced)", len(spans), spanNames(spans))
	}
	sp := spans[0]
	if sp.Name() != "POST "+provider.PathToken || sp.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v", sp.Name(), sp.SpanKind())
	}
	if sp.SpanContext().TraceID().String() != traceID || sp.Parent().SpanID().String() != parentID || !sp.Parent().IsRemote() {
		t.Errorf("span is not in the caller's trace: trace %s parent %s", sp.SpanContext().TraceID(), sp.Parent().SpanID())
	}
	for k, want := range map[string]string{"http.request.method": "POST", "http.route": provider.PathToken, "http.response.status_code": "200"} {
		if got, _ := obstest.SpanAttr(sp, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	// A failed authentication: the status sent (401) is the one recorded,
	// and neither the secret nor the header is.
	code, spans = do(token(clientSecret + marker))
	if code != http.StatusUnauthorized || len(spans) != 1 {
		t.Fatalf("bad secret: %d, %d spans", code, len(spans))
	}
	if got, _ := obstest.SpanAttr(spans[0], "http.response.status_code"); got != "401" {
		t.Errorf("bad secret: status attribute %q, want 401", got)
	}
	if spans[0].Status().Code == codes.Error {
		t.Error("a 4xx marks the server span as an error")
	}

	// Errors returned to echo's error handler: recorded with the status
	// the handler sent (405 here).
	code, spans = do(httptest.NewRequest(http.MethodGet, provider.PathToken+"?code="+marker, nil))
	if len(spans) != 1 {
		t.Fatalf("GET token: %d spans", len(spans))
	}
	if got, _ := obstest.SpanAttr(spans[0], "http.response.status_code"); got != strconv.Itoa(code) || code < 400 {
		t.Errorf("GET token: sent %d, recorded %q", code, got)
	}

	// A panic: recovered into a 500 outside accessLog; the span still
	// records the status sent, as an error.
	f.e.GET("/test-panic", func(echo.Context) error { panic("boom " + marker) })
	code, spans = do(httptest.NewRequest(http.MethodGet, "/test-panic", nil))
	if code != http.StatusInternalServerError || len(spans) != 1 {
		t.Fatalf("panic: %d, %d spans", code, len(spans))
	}
	if got, _ := obstest.SpanAttr(spans[0], "http.response.status_code"); got != "500" || spans[0].Status().Code != codes.Error {
		t.Errorf("panic: status attribute %q, span status %v", got, spans[0].Status())
	}

	// A route with a parameter is named by its pattern.
	_, spans = do(httptest.NewRequest(http.MethodGet, "/login/"+marker+"?next="+marker, nil))
	if len(spans) != 1 || spans[0].Name() != "GET /login/:upstream" {
		t.Errorf("parameter route: spans %v", spanNames(spans))
	}

	// An unknown path is no route: the span has the method alone.
	_, spans = do(httptest.NewRequest(http.MethodGet, "/no-such-"+marker, nil))
	if len(spans) != 1 {
		t.Fatalf("unknown path: %d spans", len(spans))
	}
	if _, hasRoute := obstest.SpanAttr(spans[0], "http.route"); spans[0].Name() != "GET" || hasRoute {
		t.Errorf("unknown path: span %q %v", spans[0].Name(), spans[0].Attributes())
	}

	// Probes make no spans.
	if _, spans = do(httptest.NewRequest(http.MethodGet, "/health/alive", nil)); len(spans) != 0 {
		t.Errorf("health probe: %v", spanNames(spans))
	}

	for _, sp := range rec.Ended() {
		txt := obstest.SpanText(sp)
		if strings.Contains(txt, marker) || strings.Contains(txt, clientSecret) || strings.Contains(txt, "gth_") ||
			strings.Contains(strings.ToLower(txt), "basic ") {
			t.Errorf("span carries request data: %s", txt)
		}
		if strings.HasPrefix(sp.Name(), "Fosite") {
			t.Errorf("fosite span exported: %s", sp.Name())
		}
	}
}

// Without a provider no tracer is made, so newEcho adds no middleware.
func TestTracingOffWithoutProvider(t *testing.T) {
	if f := newFixture(t, "http://127.0.0.1:8080"); f.h.tracer != nil {
		t.Fatal("a tracer without a TracerProvider")
	}
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}
