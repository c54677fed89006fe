// Package clocktest is a clock that tests set and move, passed where code
// takes a func() time.Time, so that no test waits for time to pass.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a time a test sets and moves; safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New starts at t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
