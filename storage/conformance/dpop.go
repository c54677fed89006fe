package conformance

import (
	"sync"
	"time"
)

func dpopProofTests() []test {
	return []test{
		{"UseOnce", testDPoPProofUseOnce},
		{"ExpiredKeyUsableAgain", testDPoPProofExpiredReusable},
		{"ConcurrentUseOneWinner", testDPoPProofConcurrentUse},
		{"DeleteExpired", testDPoPProofDeleteExpired},
	}
}

func testDPoPProofUseOnce(e *env) {
	exp := e.clock.Now().Add(time.Minute)
	fresh, err := e.s.UseDPoPProof(e.ctx, "key-1", exp)
	e.must(err, "first use")
	e.wantEqual(fresh, true, "first use is fresh")
	fresh, err = e.s.UseDPoPProof(e.ctx, "key-1", exp)
	e.must(err, "second use")
	e.wantEqual(fresh, false, "second use is fresh")
	fresh, err = e.s.UseDPoPProof(e.ctx, "key-2", exp)
	e.must(err, "another key")
	e.wantEqual(fresh, true, "another key is fresh")
	// A replay stays refused until the very end of its record.
	e.clock.Advance(59 * time.Second)
	fresh, err = e.s.UseDPoPProof(e.ctx, "key-1", e.clock.Now().Add(time.Minute))
	e.must(err, "use before expiry")
	e.wantEqual(fresh, false, "use before expiry is fresh")
}

// testDPoPProofExpiredReusable: a row the janitor has not deleted yet does
// not block its key once expired, and the new use is recorded again.
func testDPoPProofExpiredReusable(e *env) {
	fresh, err := e.s.UseDPoPProof(e.ctx, "key-1", e.clock.Now().Add(time.Minute))
	e.must(err, "first use")
	e.wantEqual(fresh, true, "first use is fresh")
	e.clock.Advance(2 * time.Minute)
	fresh, err = e.s.UseDPoPProof(e.ctx, "key-1", e.clock.Now().Add(time.Minute))
	e.must(err, "use after expiry")
	e.wantEqual(fresh, true, "use after expiry is fresh")
	fresh, err = e.s.UseDPoPProof(e.ctx, "key-1", e.clock.Now().Add(time.Minute))
	e.must(err, "replay of the new use")
	e.wantEqual(fresh, false, "replay of the new use is fresh")
}

func testDPoPProofConcurrentUse(e *env) {
	const n = 8
	exp := e.clock.Now().Add(time.Minute)
	var wg sync.WaitGroup
	fresh := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { fresh[i], errs[i] = e.s.UseDPoPProof(e.ctx, "key-1", exp) })
	}
	wg.Wait()
	won := 0
	for i := range n {
		e.must(errs[i], "concurrent use")
		if fresh[i] {
			won++
		}
	}
	e.wantEqual(won, 1, "concurrent uses accepted")
}

func testDPoPProofDeleteExpired(e *env) {
	_, err := e.s.UseDPoPProof(e.ctx, "key-1", e.clock.Now().Add(time.Minute))
	e.must(err, "use key-1")
	_, err = e.s.UseDPoPProof(e.ctx, "key-2", e.clock.Now().Add(3*time.Minute))
	e.must(err, "use key-2")
	e.clock.Advance(2 * time.Minute)
	n, err := e.s.DeleteExpired(e.ctx, e.clock.Now(), 0)
	e.must(err, "DeleteExpired")
	e.wantEqual(n, int64(1), "rows deleted")
	// key-2 is still remembered.
	fresh, err := e.s.UseDPoPProof(e.ctx, "key-2", e.clock.Now().Add(time.Minute))
	e.must(err, "use key-2 again")
	e.wantEqual(fresh, false, "key-2 after the janitor is fresh")
}
