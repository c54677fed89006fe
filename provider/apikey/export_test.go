package apikey

import (
	"context"
	"sync/atomic"
	"time"
)

// CountCompares makes v count its hash comparisons.
func CountCompares(v *Verifier) *atomic.Int64 {
	n := new(atomic.Int64)
	inner := v.compare
	v.compare = func(stored, secretPart string) bool {
		n.Add(1)
		return inner(stored, secretPart)
	}
	return n
}

// SetTick makes Run look for uses to write every d.
func SetTick(v *Verifier, d time.Duration) { v.tick = d }

// Checksum exposes the checksum for tests that build keys by hand.
var Checksum = checksum

// Flush runs one pass of Run's writer (all: also uses written recently).
func Flush(v *Verifier, all bool) { v.flush(context.Background(), all) }
