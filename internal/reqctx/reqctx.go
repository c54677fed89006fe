// Package reqctx carries the values that belong to one HTTP request — its
// id, the client's IP address and when it arrived — in the request's
// context, from the middleware that sets them (handlers) to the code below
// that reads them: the log handler, audit events, and the refresh retry
// window, which tells a client racing itself from a thief by the arrival
// time. It is a leaf: it imports nothing of gatehouse's.
package reqctx

import (
	"context"
	"log/slog"
	"time"
)

// Request is what is known of the request a context belongs to.
type Request struct {
	// ID is the request's id, returned in X-Request-Id and logged.
	ID string
	// ClientIP is the client's address, as the configured trusted proxies
	// allow it to be known.
	ClientIP string
	// Arrived is when the request arrived.
	Arrived time.Time
	// UserAgent is the request's User-Agent header, as sent (a sign-in
	// records it so that the person can recognise the session).
	UserAgent string
}

type key struct{}

// With returns ctx carrying r.
func With(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, key{}, r)
}

// From returns the request ctx belongs to (the zero Request if none).
func From(ctx context.Context) Request {
	r, _ := ctx.Value(key{}).(Request)
	return r
}

// ID is the id of the request ctx belongs to ("" if none).
func ID(ctx context.Context) string { return From(ctx).ID }

// ClientIP is the client IP of the request ctx belongs to ("" if none).
func ClientIP(ctx context.Context) string { return From(ctx).ClientIP }

// Arrived is when the request ctx belongs to arrived (zero if unknown).
func Arrived(ctx context.Context) time.Time { return From(ctx).Arrived }

// UserAgent is the User-Agent of the request ctx belongs to ("" if none).
func UserAgent(ctx context.Context) string { return From(ctx).UserAgent }

// LogHandler wraps a slog handler so that every record logged with a
// request's context carries its request_id.
func LogHandler(next slog.Handler) slog.Handler { return logHandler{next} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := ID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(a []slog.Attr) slog.Handler { return logHandler{h.Handler.WithAttrs(a)} }
func (h logHandler) WithGroup(n string) slog.Handler      { return logHandler{h.Handler.WithGroup(n)} }
