package config

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
)

// referencePath is the configuration reference, relative to this package.
const referencePath = "../docs/configuration.md"

// settingsFromEnvLibrary checks Settings against caarlos0/env itself: every
// variable Settings names is one the library reads, and the other way
// round.
func TestSettingsAgreeWithTheEnvLibrary(t *testing.T) {
	params, err := env.GetFieldParamsWithOptions(&Config{}, env.Options{Prefix: EnvPrefix})
	if err != nil {
		t.Fatal(err)
	}
	var fromLibrary, fromSettings []string
	for _, p := range params {
		fromLibrary = append(fromLibrary, p.Key)
	}
	for _, s := range Settings() {
		if s.Env != "" {
			fromSettings = append(fromSettings, s.Env)
		}
	}
	slices.Sort(fromLibrary)
	slices.Sort(fromSettings)
	if !slices.Equal(fromLibrary, fromSettings) {
		t.Fatalf("variables:\n env reads %q\n Settings %q", fromLibrary, fromSettings)
	}
}

// docRow is one row of a settings table in the reference.
type docRow struct {
	line                  int
	yaml, env, def, means string
}

// referenceRows parses the rows of the reference's tables whose first cell
// is a backquoted key.
func referenceRows(t *testing.T) (map[string]docRow, string) {
	t.Helper()
	b, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("the configuration reference must exist: %v", err)
	}
	text := string(b)
	rows := map[string]docRow{}
	for i, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 4 {
			t.Errorf("%s:%d: a settings row needs 4 cells: %s", referencePath, i+1, line)
			continue
		}
		r := docRow{line: i + 1, yaml: strings.Trim(strings.TrimSpace(cells[0]), "`"),
			env: strings.TrimSpace(cells[1]), def: strings.TrimSpace(cells[2]), means: strings.TrimSpace(strings.Join(cells[3:], " | "))}
		if _, dup := rows[r.yaml]; dup {
			t.Errorf("%s:%d: %s has two rows", referencePath, r.line, r.yaml)
		}
		rows[r.yaml] = r
	}
	return rows, text
}

// TestConfigurationReference keeps docs/configuration.md in step with
// Config: every setting has a row with its YAML key, its environment
// variable and its real default, and no row names a setting that does not
// exist.
func TestConfigurationReference(t *testing.T) {
	settings := Settings()
	rows, text := referenceRows(t)

	// The walk must really have found the settings: a broken walk (or
	// reference parser) must not pass by finding nothing to check.
	if len(settings) < 50 {
		t.Fatalf("found only %d settings in Config; the walk is broken", len(settings))
	}
	if len(rows) < 50 {
		t.Fatalf("found only %d setting rows in %s; the parser or the file is broken", len(rows), referencePath)
	}

	known := map[string]bool{}
	for _, s := range settings {
		known[s.Path] = true
		r, ok := rows[s.Path]
		if !ok {
			t.Errorf("%s: setting %s (%s) has no row; add one", referencePath, s.Path, orYAMLOnly(s.Env))
			continue
		}
		if s.Env != "" {
			if r.env != "`"+s.Env+"`" {
				t.Errorf("%s:%d: %s: environment variable cell is %s, want `%s`", referencePath, r.line, s.Path, r.env, s.Env)
			}
		} else if !strings.HasPrefix(r.env, "—") {
			t.Errorf("%s:%d: %s is YAML only; its environment cell must start with —, got %s", referencePath, r.line, s.Path, r.env)
		}
		if r.means == "" {
			t.Errorf("%s:%d: %s: the meaning is empty", referencePath, r.line, s.Path)
		}
		if s.Env != "" && !strings.Contains(text, "`"+s.Env+"`") {
			t.Errorf("%s: %s is not mentioned", referencePath, s.Env)
		}
		if err := checkDocDefault(reflect.ValueOf(s.Default), r.def); err != nil {
			t.Errorf("%s:%d: %s: default: %v", referencePath, r.line, s.Path, err)
		}
	}
	for key, r := range rows {
		if !known[key] {
			t.Errorf("%s:%d: row for %q, which is not a setting of Config", referencePath, r.line, key)
		}
	}
}

func orYAMLOnly(env string) string {
	if env == "" {
		return "YAML only"
	}
	return env
}

// checkDocDefault compares a documented default with the real one. Empty
// values are written as a dash (—, optionally followed by a remark), the
// others in backquotes; durations in Go syntax (`168h` for 168h0m0s).
func checkDocDefault(v reflect.Value, cell string) error {
	if v.IsZero() && v.Kind() != reflect.Bool && v.Kind() != reflect.Int && v.Kind() != reflect.Int64 {
		if !strings.HasPrefix(cell, "—") {
			return fmt.Errorf("the default is empty; write — (got %s)", cell)
		}
		return nil
	}
	if !strings.HasPrefix(cell, "`") || strings.Count(cell, "`") != 2 || !strings.HasSuffix(cell, "`") {
		return fmt.Errorf("write the default in backquotes, got %s", cell)
	}
	doc := strings.Trim(cell, "`")
	switch x := v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(doc)
		if err != nil {
			return fmt.Errorf("%q is not a duration", doc)
		}
		if d != x {
			return fmt.Errorf("documented %s, the code has %s", doc, x)
		}
	case bool:
		if doc != strconv.FormatBool(x) {
			return fmt.Errorf("documented %s, the code has %t", doc, x)
		}
	case int:
		if doc != strconv.Itoa(x) {
			return fmt.Errorf("documented %s, the code has %d", doc, x)
		}
	case string:
		if doc != x {
			return fmt.Errorf("documented %q, the code has %q", doc, x)
		}
	case []string:
		want := "[" + strings.Join(x, ", ") + "]"
		if doc != want {
			return fmt.Errorf("documented %s, the code has %s", doc, want)
		}
	default:
		return fmt.Errorf("no rule for a default of type %T", x)
	}
	return nil
}

// TestConfigurationReferenceCatchesDrift checks that the check itself
// bites: a setting missing from the text or with a wrong default fails.
func TestConfigurationReferenceCatchesDrift(t *testing.T) {
	if err := checkDocDefault(reflect.ValueOf(15*time.Minute), "`15m`"); err != nil {
		t.Errorf("15m: %v", err)
	}
	if checkDocDefault(reflect.ValueOf(15*time.Minute), "`10m`") == nil {
		t.Error("a wrong duration passed")
	}
	if checkDocDefault(reflect.ValueOf(""), "`x`") == nil {
		t.Error("a documented value for an empty default passed")
	}
	if checkDocDefault(reflect.ValueOf("x"), "—") == nil {
		t.Error("a dash for a non-empty default passed")
	}
	if checkDocDefault(reflect.ValueOf(false), "`true`") == nil {
		t.Error("a wrong boolean passed")
	}
	if checkDocDefault(reflect.ValueOf(0), "`0`") != nil {
		t.Error("an int 0 must be written as `0`")
	}
}
