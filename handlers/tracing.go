package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// tracerName is the instrumentation scope of the HTTP server spans.
const tracerName = "github.com/gatehouse-dev/gatehouse/handlers"

// traceContext reads the caller's W3C traceparent/tracestate. It is a
// value, not the process-global propagator: nothing global is set.
var traceContext propagation.TraceContext

// untracedRoutes are polled by probes and scrapers every few seconds; a
// trace each would drown the requests that matter.
var untracedRoutes = map[string]bool{"/health/alive": true, "/health/ready": true, "/metrics": true}

// traceRequests gives every request a server span, continuing the
// caller's trace when it sends a traceparent. It records the method, the
// route pattern and the status — never the raw path (it holds client and
// key ids), the query string or the body (codes, tokens, secrets), headers
// (Authorization) or the client's address. Echo has matched the route
// before e.Use middleware runs, so c.Path() is the pattern here.
//
// It comes first in the chain so that the span covers the other
// middleware, and it runs the error handler itself (as accessLog does) so
// the status it records is the one sent.
//
// otelecho is not used: it records the raw path, the client address, the
// user agent and err.Error(), none of which may leave the process.
func (h *Handler) traceRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		route := c.Path()
		if untracedRoutes[route] {
			return next(c)
		}
		req := c.Request()
		method := semconvMethod(req.Method)
		attrs := []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(method),
		}
		name := method.Value.AsString()
		if name == "_OTHER" {
			name = "HTTP"
		}
		if route != "" {
			name += " " + route
			attrs = append(attrs, trace.WithAttributes(semconv.HTTPRoute(route)))
		}
		ctx := traceContext.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		ctx, span := h.tracer.Start(ctx, name, attrs...)
		defer span.End()
		c.SetRequest(req.WithContext(trace.ContextWithSpan(ctx, requestSpan{span})))

		if err := next(c); err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			// The status text only: error messages may quote input.
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		return nil
	}
}

// semconvMethod is the http.request.method attribute: a known method, or
// _OTHER (a client may send any token as the method).
func semconvMethod(m string) attribute.KeyValue {
	switch m {
	case http.MethodGet:
		return semconv.HTTPRequestMethodGet
	case http.MethodPost:
		return semconv.HTTPRequestMethodPost
	case http.MethodPut:
		return semconv.HTTPRequestMethodPut
	case http.MethodPatch:
		return semconv.HTTPRequestMethodPatch
	case http.MethodDelete:
		return semconv.HTTPRequestMethodDelete
	case http.MethodHead:
		return semconv.HTTPRequestMethodHead
	case http.MethodOptions:
		return semconv.HTTPRequestMethodOptions
	}
	return semconv.HTTPRequestMethodOther
}

// requestSpan is the server span as the request's context carries it. It
// differs from the span only in TracerProvider: libraries that start
// their own spans from the context's span
// (trace.SpanFromContext(ctx).TracerProvider(), as fosite does) get a
// tracer that records nothing. fosite's spans would carry its error
// descriptions and debug text, which can quote request parameters; the
// database spans, which gatehouse makes with its own tracer, stay direct
// children of the server span.
type requestSpan struct{ trace.Span }

func (requestSpan) TracerProvider() trace.TracerProvider { return quietProvider{} }

type quietProvider struct{ embedded.TracerProvider }

func (quietProvider) Tracer(string, ...trace.TracerOption) trace.Tracer { return quietTracer{} }

type quietTracer struct{ embedded.Tracer }

// Start leaves ctx as it is, so what runs under the would-be span is
// parented to the request's span, and returns a span that only carries
// the request's span context (ending it, or setting its status, does
// nothing).
func (quietTracer) Start(ctx context.Context, _ string, _ ...trace.SpanStartOption) (context.Context, trace.Span) {
	sc := trace.SpanContextFromContext(ctx)
	return ctx, trace.SpanFromContext(trace.ContextWithSpanContext(context.Background(), sc))
}
