package bunstore

import (
	"context"

	"github.com/uptrace/bun/migrate"
)

// MigrateTo applies the migrations up to and including version that the
// database lacks, as Migrate does: the database is then as the binary
// whose newest migration is version would have left it.
func (s *Store) MigrateTo(ctx context.Context, version string) error {
	all, err := s.migrations()
	if err != nil {
		return err
	}
	upTo := migrate.NewMigrations()
	for _, m := range all.Sorted() {
		if m.Name <= version {
			upTo.Add(m)
		}
	}
	return s.migrate(ctx, upTo)
}
