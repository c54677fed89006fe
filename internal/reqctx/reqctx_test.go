package reqctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

func TestRequestValuesTravelInTheContext(t *testing.T) {
	ctx := context.Background()
	if r := From(ctx); r != (Request{}) || ID(ctx) != "" || ClientIP(ctx) != "" || !Arrived(ctx).IsZero() {
		t.Fatalf("a context without a request: %+v", r)
	}
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	ctx = With(ctx, Request{ID: "req-1", ClientIP: "192.0.2.7", Arrived: at})
	if ID(ctx) != "req-1" || ClientIP(ctx) != "192.0.2.7" || !Arrived(ctx).Equal(at) {
		t.Fatalf("got %+v", From(ctx))
	}
}

func TestLogHandlerAddsTheRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test").WithGroup("g")
	log.InfoContext(With(context.Background(), Request{ID: "req-2"}), "hello", "k", "v")
	log.InfoContext(context.Background(), "no request")
	dec := json.NewDecoder(&buf)
	var first, second map[string]any
	if err := dec.Decode(&first); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&second); err != nil {
		t.Fatal(err)
	}
	g, _ := first["g"].(map[string]any)
	if g["request_id"] != "req-2" || first["component"] != "test" {
		t.Fatalf("record with a request: %v", first)
	}
	if _, ok := second["request_id"]; ok {
		t.Fatalf("record without a request carries a request_id: %v", second)
	}
	if g2, _ := second["g"].(map[string]any); g2["request_id"] != nil {
		t.Fatalf("record without a request carries a request_id: %v", second)
	}
}
