package main

// OpenTelemetry tracing: on only when an OTLP endpoint is configured with
// the standard OTEL_* variables, and then passed explicitly to the
// handlers and the store. Nothing process-global is set (no global tracer
// provider, propagator or error handler), so libraries that would trace
// through the globals (fosite) stay silent, and tests can run servers with
// and without tracing in one process.

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

const (
	// tracingShutdownTimeout bounds the flush of the last spans at
	// shutdown: an unreachable collector must not hold the process.
	tracingShutdownTimeout = 5 * time.Second
	// exportErrorEvery is how often, at most, a failing export is logged.
	exportErrorEvery = time.Minute
)

// newTracing returns the tracer provider that batches spans and exports
// them with OTLP, or nil when tracing is off: no OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none. A configuration it cannot use (an endpoint
// that is not an http(s) URL, an exporter that cannot be built) is logged
// and leaves tracing off: telemetry never stops the service.
//
// The exporter itself reads the rest of the standard variables (headers,
// timeout, compression, certificates), the SDK the sampler
// (OTEL_TRACES_SAMPLER) and the batch settings (OTEL_BSP_*).
func newTracing(ctx context.Context, log *slog.Logger) *sdktrace.TracerProvider {
	// The environment itself, not a copy: the exporter and the resource
	// detector read it too, and all must agree.
	getenv := os.Getenv
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") ||
		strings.EqualFold(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")), "none") {
		return nil
	}
	endpointVar := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	endpoint := strings.TrimSpace(getenv(endpointVar))
	if endpoint == "" {
		endpointVar = "OTEL_EXPORTER_OTLP_ENDPOINT"
		endpoint = strings.TrimSpace(getenv(endpointVar))
	}
	if endpoint == "" {
		return nil
	}
	// The exporters fall back to localhost when they cannot parse the
	// endpoint (and say so only on stderr); refuse instead. The URL is
	// not logged: it may carry credentials.
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		log.Warn("tracing is off: the OTLP endpoint is not an http:// or https:// URL", "variable", endpointVar)
		return nil
	}
	protocol := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if protocol == "" {
		protocol = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	var exp sdktrace.SpanExporter
	switch protocol {
	case "grpc":
		// The gRPC client connects lazily: an unreachable collector fails
		// exports, never this call.
		exp, err = otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		protocol = "http/protobuf"
		exp, err = otlptracehttp.New(ctx)
	default:
		log.Warn("unsupported OTLP protocol; exporting traces with http/protobuf", "protocol", protocol)
		protocol = "http/protobuf"
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		log.Warn("tracing is off: cannot create the OTLP exporter", "err", err)
		return nil
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(&reportingExporter{SpanExporter: exp, log: log, every: exportErrorEvery}),
		sdktrace.WithResource(tracingResource(ctx, log)),
	)
	log.Info("tracing is on: exporting spans with OTLP", "protocol", protocol, "host", u.Host)
	return tp
}

// tracingResource describes this process: service.name gatehouse and the
// build's version, which OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
// override (later detectors win).
func tracingResource(ctx context.Context, log *slog.Logger) *resource.Resource {
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("gatehouse"), semconv.ServiceVersion(buildVersion().Version)),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithFromEnv(),
	)
	if err != nil {
		// A malformed OTEL_RESOURCE_ATTRIBUTES: what could be read is kept.
		log.Warn("tracing: part of the resource description was not usable", "err", err)
	}
	if res == nil {
		res = resource.NewSchemaless(semconv.ServiceName("gatehouse"))
	}
	return res
}

// shutdownTracing flushes the spans still queued, for at most timeout
// (tracingShutdownTimeout; tests shorten it).
func shutdownTracing(tp *sdktrace.TracerProvider, log *slog.Logger, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		log.Warn("tracing: the last spans were not all exported", "err", err)
	}
}

// reportingExporter logs failed exports through our logger: the first
// failure, then at most one line per `every` with the number of failed
// exports since the last line, and a line when exports work again. It
// reports the failure as handled: the batch processor would otherwise
// pass it to OpenTelemetry's process-global error handler, which writes
// every failure to stderr outside our log format (setting that handler
// would be global state, shared with every other user of the library).
// The spans of a failed export are dropped; requests never wait for an
// export (the batch processor drops spans when its queue is full).
type reportingExporter struct {
	sdktrace.SpanExporter
	log   *slog.Logger
	every time.Duration

	mu      sync.Mutex
	failing bool
	last    time.Time // when a failure was last logged
	missed  int       // failed exports not yet logged
	now     func() time.Time
}

func (e *reportingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if e.now != nil {
		now = e.now()
	}
	if err == nil {
		if e.failing {
			e.failing = false
			e.log.Info("tracing: exporting spans works again", "failed_exports", e.missed)
			e.missed = 0
		}
		return nil
	}
	e.missed++
	if !e.failing || now.Sub(e.last) >= e.every {
		e.log.Warn("tracing: cannot export spans; they are dropped", "err", err, "failed_exports", e.missed, "spans", len(spans))
		e.last, e.missed = now, 0
	}
	e.failing = true
	return nil
}
