package bunstore

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// selectPage returns one page of table (clients or users: an id primary
// key and a created_at column, indexed together; M is its model), oldest
// first by (created_at, id).
//
// Paging is by keyset: the rows after page.After are those whose
// (created_at, id) is greater than After's, looked up in the same
// statement, so an offset never skips or repeats a row when rows are
// added or removed between pages. An After that names no row makes the
// sub-select NULL and the page empty; only then is its existence checked,
// to tell "after the last row" from ErrNotFound.
func selectPage[M any](ctx context.Context, s *Store, op, table string, page storage.Page) ([]M, error) {
	if page.Limit < 0 {
		return nil, fmt.Errorf("%s: negative page limit %d", op, page.Limit)
	}
	if namesNoRow(page.After) {
		return nil, fmt.Errorf("%s: page.After names no row: %w", op, storage.ErrNotFound)
	}
	var ms []M
	db := s.reader(ctx)
	q := db.NewSelect().Model(&ms).
		OrderExpr("?TableAlias.created_at ASC, ?TableAlias.id ASC")
	if page.After != "" {
		q = q.Where("(?TableAlias.created_at, ?TableAlias.id) > (SELECT a.created_at, a.id FROM ? AS a WHERE a.id = ?)",
			bun.Ident(table), page.After)
	}
	if page.Limit > 0 {
		q = q.Limit(int64(page.Limit))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, mapErr(op, err)
	}
	if page.After == "" || len(ms) > 0 {
		return ms, nil
	}
	exists, err := db.NewSelect().TableExpr("?", bun.Ident(table)).Where("id = ?", page.After).Exists(ctx)
	if err != nil {
		return nil, mapErr(op, err)
	}
	if !exists {
		return nil, fmt.Errorf("%s: page.After names no row: %w", op, storage.ErrNotFound)
	}
	return ms, nil
}
