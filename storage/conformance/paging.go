package conformance

import (
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// pagedListing is a listing with storage.Page: oldest first by creation
// time, then by ID; After names the last item of the previous page.
type pagedListing struct {
	what string
	// create stores an item with the ID and creation time.
	create func(id string, created time.Time)
	// list returns the IDs of one page.
	list func(storage.Page) ([]string, error)
}

func (e *env) listIDs(l pagedListing, p storage.Page) []string {
	e.t.Helper()
	ids, err := l.list(p)
	e.must(err, fmt.Sprintf("%s(%+v)", l.what, p))
	return ids
}

// walk pages through the whole listing with the limit and returns the
// IDs in order.
func (e *env) walk(l pagedListing, limit int) []string {
	e.t.Helper()
	var all []string
	p := storage.Page{Limit: limit}
	for range 100 {
		ids := e.listIDs(l, p)
		if len(ids) > limit {
			e.t.Fatalf("%s(%+v) returned %d items, more than the limit", l.what, p, len(ids))
		}
		if len(ids) == 0 {
			return all
		}
		all = append(all, ids...)
		p.After = ids[len(ids)-1]
	}
	e.t.Fatalf("%s with limit %d: no end after 100 pages", l.what, limit)
	return nil
}

func (e *env) checkPaging(l pagedListing) {
	e.t.Helper()
	// An empty listing.
	if ids := e.listIDs(l, storage.Page{}); len(ids) != 0 {
		e.t.Fatalf("%s of an empty store = %q", l.what, ids)
	}
	_, err := l.list(storage.Page{After: "p0"})
	e.wantNotFound(err, l.what+" after an unknown ID in an empty store")

	// Created out of order, several at the same instant (then ordered by
	// ID), some a fraction of a second apart.
	base := e.clock.Now()
	items := []struct {
		id      string
		created time.Duration
	}{
		{"p3", 0},
		{"p1", time.Second},
		{"p7", 2 * time.Second},
		{"p0", time.Second},
		{"p5", -5 * time.Second},
		{"p2", time.Second},
		{"p6", 1500 * time.Millisecond},
		{"p4", 1500*time.Millisecond + time.Microsecond},
	}
	for _, it := range items {
		l.create(it.id, base.Add(it.created))
	}
	want := []string{"p5", "p3", "p0", "p1", "p2", "p6", "p4", "p7"}

	e.wantEqual(e.listIDs(l, storage.Page{}), want, l.what+" (all)")
	e.wantEqual(e.listIDs(l, storage.Page{Limit: 100}), want, l.what+" with a large limit")
	e.wantEqual(e.listIDs(l, storage.Page{Limit: 3}), want[:3], l.what+" first page of 3")
	for _, limit := range []int{1, 2, 3, len(want) - 1, len(want)} {
		e.wantEqual(e.walk(l, limit), want, fmt.Sprintf("%s paged by %d", l.what, limit))
	}
	for i, after := range want {
		e.wantEqual(e.listIDs(l, storage.Page{After: after}), nilIfEmpty(want[i+1:]),
			fmt.Sprintf("%s after %s", l.what, after))
		e.wantEqual(e.listIDs(l, storage.Page{After: after, Limit: 2}), nilIfEmpty(want[i+1:min(i+3, len(want))]),
			fmt.Sprintf("%s after %s, limit 2", l.what, after))
	}

	for _, p := range []storage.Page{{After: "nope"}, {After: "nope", Limit: 2}, {After: "P0"}, {After: "p"}} {
		ids, err := l.list(p)
		e.wantNotFound(err, fmt.Sprintf("%s(%+v) with an unknown After", l.what, p))
		if len(ids) != 0 {
			e.t.Errorf("%s(%+v) with an unknown After returned %q", l.what, p, ids)
		}
	}

	// Items added later, even with an earlier creation time, show up in
	// their place.
	l.create("p8", base.Add(-time.Hour))
	e.wantEqual(e.listIDs(l, storage.Page{}), append([]string{"p8"}, want...), l.what+" after another create")
}

func nilIfEmpty(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	return slices.Clone(ids)
}
