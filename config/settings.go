package config

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/suggest"
)

// Setting is one setting: its YAML key path and its environment variable ("" for
// settings read from the file only, such as the upstreams list, whose items
// appear as "upstreams[].field").
type Setting struct {
	Path string
	Env  string
	// Default is the value Default() gives it (the zero value for the
	// fields of list items).
	Default any
}

// Settings lists every setting Load reads, in the order of the Config struct. It
// is derived from the struct tags, so it cannot fall behind them; the
// configuration reference and the typo suggestions are built on it.
func Settings() []Setting {
	return appendSettings(nil, reflect.ValueOf(Default()), "", EnvPrefix)
}

func appendSettings(out []Setting, v reflect.Value, path, env string) []Setting {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || name == "" || !f.IsExported() {
			continue
		}
		p := name
		if path != "" {
			p = path + "." + name
		}
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]():
			sub := ""
			if prefix, ok := f.Tag.Lookup("envPrefix"); ok && env != "" {
				sub = env + prefix
			}
			out = appendSettings(out, v.Field(i), p, sub)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			// A list of objects (upstreams): its items' keys, YAML only.
			out = appendSettings(out, reflect.New(ft.Elem()).Elem(), p+"[]", "")
		default:
			k := Setting{Path: p, Default: v.Field(i).Interface()}
			if tag := f.Tag.Get("env"); tag != "" && tag != "-" && env != "" {
				k.Env = env + strings.Split(tag, ",")[0]
			}
			out = append(out, k)
		}
	}
	return out
}

// nearest is the valid name s most likely meant, or "".
func nearest(s string, candidates []string) string { return suggest.Nearest(s, candidates) }

// suggestPath is the " (did you mean ...?)" hint for an unknown YAML key.
func suggestPath(unknown string) string {
	// Candidates are the settings and the sections holding them.
	var paths []string
	for _, k := range Settings() {
		for p := k.Path; ; {
			// "upstreams[]" is the section "upstreams" too.
			for _, c := range []string{p, strings.TrimSuffix(p, "[]")} {
				if !slices.Contains(paths, c) {
					paths = append(paths, c)
				}
			}
			i := strings.LastIndexByte(p, '.')
			if i < 0 {
				break
			}
			p = p[:i]
		}
	}
	// Items of a list are reported as "upstreams[0].x"; the candidates
	// spell them "upstreams[].x".
	if strings.Contains(unknown, "[") {
		unknown = listIndex.ReplaceAllString(unknown, "[]")
	}
	if n := nearest(unknown, paths); n != "" {
		return " (did you mean " + quoted(n) + "?)"
	}
	return ""
}

// listIndex matches the index of a list item in a key path ("[0]").
var listIndex = regexp.MustCompile(`\[\d+\]`)

// isForeignVar tells GATEHOUSE_ variables that are no setting of the server
// but are read by other parts of the project (the tests, the CLI's HTTP
// commands), so they are not reported as unknown.
func isForeignVar(name string) bool {
	for _, p := range []string{"GATEHOUSE_TEST_", "GATEHOUSE_CLIENT_SECRET", "GATEHOUSE_API_KEY", "GATEHOUSE_ENDPOINT"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// UnknownEnv returns a message for every GATEHOUSE_* variable in environ that
// is no setting, with the nearest valid name when there is one, so that a
// typo such as GATEHOUSE_LOG_LEVL does not silently leave the default in
// place. Load does not fail on them: other tools may share the prefix.
func UnknownEnv(environ []string) []string {
	var known []string
	for _, k := range Settings() {
		if k.Env != "" {
			known = append(known, k.Env)
		}
	}
	var out []string
	for name := range gatehouseVars(environ) {
		if slices.Contains(known, name) || isForeignVar(name) {
			continue
		}
		msg := "unknown environment variable " + name + " is ignored"
		if n := nearest(name, known); n != "" {
			msg += " (did you mean " + n + "?)"
		}
		out = append(out, msg)
	}
	slices.Sort(out)
	return out
}

func quoted(s string) string { return `"` + s + `"` }
