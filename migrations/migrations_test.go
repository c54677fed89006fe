package migrations

import (
	"io/fs"
	"reflect"
	"regexp"
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
	createTable = regexp.MustCompile(`(?s)CREATE TABLE (\w+) \((.*?)\n\);`)
	createIndex = regexp.MustCompile(`CREATE (UNIQUE )?INDEX (\w+) ON (\w+) \(([^)]*)\)( WHERE [^;]*)?;`)
	dropTable   = regexp.MustCompile(`DROP TABLE IF EXISTS (\w+);`)
)

// schemaOf extracts table -> columns, the indexes and dropped tables of a
// migration file, ignoring column types.
func schemaOf(t *testing.T, dialect, name string) map[string][]string {
	t.Helper()
	fsys, err := FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	sql := string(b)
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
	if len(out) == 0 {
		t.Fatalf("%s/%s: found no statements", dialect, name)
	}
	return out
}
