package migrations

import (
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestFSUnknownDialect(t *testing.T) {
	if _, err := FS("mysql"); err == nil {
		t.Fatal("FS(mysql) succeeded")
	}
}

// Both dialects must describe the same logical schema: the same migration
// files, and in each the same tables with the same columns and indexes.
func TestDialectsDescribeTheSameSchema(t *testing.T) {
	files := map[string][]string{}
	for _, d := range []string{SQLite, Postgres} {
		fsys, err := FS(d)
		if err != nil {
			t.Fatalf("FS(%s): %v", d, err)
		}
		names, err := fs.Glob(fsys, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		if len(names) == 0 {
			t.Fatalf("%s has no migrations", d)
		}
		files[d] = names
	}
	if !reflect.DeepEqual(files[SQLite], files[Postgres]) {
		t.Fatalf("migration files differ:\nsqlite:   %q\npostgres: %q", files[SQLite], files[Postgres])
	}
	for _, name := range files[SQLite] {
		sqlite, pg := schemaOf(t, SQLite, name), schemaOf(t, Postgres, name)
		if !reflect.DeepEqual(sqlite, pg) {
			t.Errorf("%s: schemas differ:\nsqlite:   %v\npostgres: %v", name, sqlite, pg)
		}
	}
}

var (
	createTable = regexp.MustCompile(`(?s)CREATE (?:UNLOGGED )?TABLE (\w+) \((.*?)\n\);`)
	createIndex = regexp.MustCompile(`CREATE (UNIQUE )?INDEX (\w+) ON (\w+) \(([^)]*)\)( WHERE [^;]*)?;`)
	dropTable   = regexp.MustCompile(`DROP TABLE IF EXISTS (\w+);`)
	dropIndex   = regexp.MustCompile(`DROP INDEX IF EXISTS (\w+);`)
	// The type is ignored; nullability and the default (which a NOT NULL
	// column added to a table with rows needs) must agree.
	addColumn  = regexp.MustCompile(`ALTER TABLE (\w+) ADD COLUMN (\w+) \w+( NOT NULL)?( DEFAULT [^;]+)?;`)
	dropColumn = regexp.MustCompile(`ALTER TABLE (\w+) DROP COLUMN (\w+);`)
	// A data migration: both dialects must change the same rows the same
	// way, so its text (whitespace aside) must agree.
	updateRows = regexp.MustCompile(`(?s)UPDATE (\w+) SET ([^;]*);`)

	statementPatterns = []*regexp.Regexp{createTable, createIndex, dropTable, dropIndex, addColumn, dropColumn, updateRows}
)

// readMigration returns a migration file without its comment lines.
func readMigration(t *testing.T, dialect, name string) string {
	t.Helper()
	fsys, err := FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

// schemaOf extracts table -> columns, the indexes, added and dropped
// columns and dropped tables and indexes of a migration file, ignoring
// column types. It fails on a statement it does not understand, so that
// no change escapes the comparison.
func schemaOf(t *testing.T, dialect, name string) map[string][]string {
	t.Helper()
	sql := readMigration(t, dialect, name)

	statements := 0
	for _, st := range strings.Split(sql, ";") {
		if strings.TrimSpace(st) != "" {
			statements++
		}
	}
	matched := 0
	for _, re := range statementPatterns {
		matched += len(re.FindAllStringIndex(sql, -1))
	}
	if matched != statements {
		t.Errorf("%s/%s: %d statements, but only %d are understood by this test; extend it", dialect, name, statements, matched)
	}

	out := map[string][]string{}
	for _, m := range createTable.FindAllStringSubmatch(sql, -1) {
		var cols []string
		for _, line := range strings.Split(m[2], "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 || strings.HasPrefix(fields[0], "--") {
				continue
			}
			if fields[0] == "PRIMARY" {
				cols = append(cols, strings.Join(fields, " "))
				continue
			}
			col := fields[0]
			if !strings.Contains(line, "NOT NULL") && !strings.Contains(line, "PRIMARY KEY") {
				col += " NULL"
			}
			cols = append(cols, col)
		}
		out["table "+m[1]] = cols
	}
	for _, m := range createIndex.FindAllStringSubmatch(sql, -1) {
		out["index "+m[2]] = []string{m[1] + m[3] + "(" + m[4] + ")" + m[5]}
	}
	for _, m := range dropTable.FindAllStringSubmatch(sql, -1) {
		out["drop "+m[1]] = nil
	}
	for _, m := range dropIndex.FindAllStringSubmatch(sql, -1) {
		out["drop index "+m[1]] = nil
	}
	for _, m := range addColumn.FindAllStringSubmatch(sql, -1) {
		out["add column "+m[1]+"."+m[2]] = []string{m[3] + m[4]}
	}
	for _, m := range dropColumn.FindAllStringSubmatch(sql, -1) {
		out["drop column "+m[1]+"."+m[2]] = nil
	}
	for _, m := range updateRows.FindAllStringSubmatch(sql, -1) {
		key := "update " + m[1]
		out[key] = append(out[key], strings.Join(strings.Fields(m[2]), " "))
	}
	if len(out) == 0 {
		t.Fatalf("%s/%s: found no statements", dialect, name)
	}
	return out
}

// A column added to an existing table must be nullable or have a default,
// or the migration fails on a database that holds rows.
func TestAddedColumnsFitExistingRows(t *testing.T) {
	for _, d := range []string{SQLite, Postgres} {
		fsys, err := FS(d)
		if err != nil {
			t.Fatal(err)
		}
		names, err := fs.Glob(fsys, "*.up.sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			for _, m := range addColumn.FindAllStringSubmatch(readMigration(t, d, name), -1) {
				if m[3] != "" && m[4] == "" {
					t.Errorf("%s/%s: %s.%s is NOT NULL without a default", d, name, m[1], m[2])
				}
			}
		}
	}
}

// Each down migration undoes exactly its up migration: it drops the
// tables and columns the up migration added, and the indexes it created on
// tables that existed before (the others go with their tables).
func TestDownUndoesUp(t *testing.T) {
	for _, d := range []string{SQLite, Postgres} {
		fsys, err := FS(d)
		if err != nil {
			t.Fatal(err)
		}
		ups, err := fs.Glob(fsys, "*.up.sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, up := range ups {
			down := strings.TrimSuffix(up, ".up.sql") + ".down.sql"
			if _, err := fs.Stat(fsys, down); err != nil {
				t.Errorf("%s/%s has no down migration", d, up)
				continue
			}
			upSQL, downSQL := readMigration(t, d, up), readMigration(t, d, down)
			created := map[string]bool{}
			var want, got []string
			for _, m := range createTable.FindAllStringSubmatch(upSQL, -1) {
				created[m[1]] = true
				want = append(want, "table "+m[1])
			}
			for _, m := range createIndex.FindAllStringSubmatch(upSQL, -1) {
				if !created[m[3]] {
					want = append(want, "index "+m[2])
				}
			}
			for _, m := range addColumn.FindAllStringSubmatch(upSQL, -1) {
				want = append(want, "column "+m[1]+"."+m[2])
			}
			for _, m := range dropTable.FindAllStringSubmatch(downSQL, -1) {
				got = append(got, "table "+m[1])
			}
			for _, m := range dropIndex.FindAllStringSubmatch(downSQL, -1) {
				got = append(got, "index "+m[1])
			}
			for _, m := range dropColumn.FindAllStringSubmatch(downSQL, -1) {
				got = append(got, "column "+m[1]+"."+m[2])
			}
			if createTable.MatchString(downSQL) || createIndex.MatchString(downSQL) || addColumn.MatchString(downSQL) {
				t.Errorf("%s/%s creates schema objects", d, down)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(want, got) {
				t.Errorf("%s/%s does not undo %s:\nup adds:    %q\ndown drops: %q", d, down, up, want, got)
			}
		}
	}
}

// TestMigrationsOnlyAdd: an up migration never drops or renames a table or
// a column, so instances of the previous release keep working on the new
// schema during a rolling upgrade (their readiness tolerates a newer
// schema on that promise). Indexes and constraints may change.
func TestMigrationsOnlyAdd(t *testing.T) {
	forbidden := regexp.MustCompile(`(?i)\b(DROP\s+(TABLE|COLUMN)|RENAME\s+(TO|COLUMN)|ALTER\s+COLUMN\s+\S+\s+TYPE)\b`)
	addNotNull := regexp.MustCompile(`(?i)\bADD\s+COLUMN\b.*\bNOT\s+NULL\b`)
	hasDefault := regexp.MustCompile(`(?i)\bDEFAULT\b`)
	checked := 0
	for _, dialect := range []string{"sqlite", "postgres"} {
		fsys, err := FS(dialect)
		if err != nil {
			t.Fatal(err)
		}
		ups, err := fs.Glob(fsys, "*.up.sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range ups {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(b), "\n") {
				code, _, _ := strings.Cut(line, "--")
				if forbidden.MatchString(code) {
					t.Errorf("%s/%s:%d: %q: up migrations only add (the previous release must run on the new schema)", dialect, name, i+1, strings.TrimSpace(line))
				}
				// The previous release inserts rows without the new column.
				if addNotNull.MatchString(code) && !hasDefault.MatchString(code) {
					t.Errorf("%s/%s:%d: %q: a NOT NULL column added needs a DEFAULT (the previous release inserts rows without it)", dialect, name, i+1, strings.TrimSpace(line))
				}
			}
			checked++
		}
	}
	if checked < 12 {
		t.Fatalf("checked only %d up migrations", checked)
	}
}
