package outbound

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNS answers every A query with the next of answers (the last one
// repeated), over UDP on loopback, and counts the queries.
func fakeDNS(t *testing.T, answers ...[4]byte) (*net.Resolver, *atomic.Int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	var queries atomic.Int64
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				i := min(int(queries.Add(1))-1, len(answers)-1)
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}, dnsmessage.AResource{A: answers[i]})
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, from)
			}
		}
	}()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
	return r, &queries
}

// DNS rebinding: a name that answers a public address to whoever checks
// it first and a private one when it is used. The client checks the
// address it dials, not a name or an earlier answer, so a name that
// resolves to loopback at connect time is refused there, and the server
// behind it is never reached.
func TestNameResolvingToPrivateIsRefusedAtDial(t *testing.T) {
	ts, hits := countingServer(t)
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	// A first answer for a check made before the request, then loopback.
	resolver, queries := fakeDNS(t, [4]byte{93, 184, 216, 34}, [4]byte{127, 0, 0, 1})
	if addrs, err := resolver.LookupHost(context.Background(), "rebind.test"); err != nil || len(addrs) != 1 || addrs[0] != "93.184.216.34" {
		t.Fatalf("the first answer: %v %v", addrs, err)
	}
	c := NewClient(Options{Resolver: resolver})
	_, err := get(c, "http://rebind.test:"+port+"/")
	if b, ok := IsBlocked(err); !ok || b.Reason != "loopback address" || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("got %v, want the loopback address refused at dial", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the private server was reached")
	}
	if queries.Load() < 2 {
		t.Fatalf("%d DNS queries: the request did not resolve the name itself", queries.Load())
	}
}
