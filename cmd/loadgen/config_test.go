package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func parseArgs(args ...string) (config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return parseFlags(fs, args)
}

func TestParseFlagsScenariosAndConns(t *testing.T) {
	const tok, in, get, az = "-token-url=http://127.0.0.1:1/t", "-introspect-url=http://127.0.0.1:1/i", "-get-url=http://127.0.0.1:1/g", "-authorize-url=http://127.0.0.1:1/a"
	tests := []struct {
		name          string
		args          []string
		wantScenarios []string
		wantConns     []int
	}{
		{"a URL enables its scenario", []string{tok}, []string{"cc_token"}, []int{1, 16, 64}},
		{"every URL, in a fixed order", []string{az, get, in, tok}, []string{"cc_token", "introspect", "get", "authcode"}, []int{1, 16, 64}},
		{"-scenarios wins over the URLs, blanks dropped", []string{tok, "-scenarios", " get ,, cc_token,"}, []string{"get", "cc_token"}, []int{1, 16, 64}},
		{"-conns blanks dropped", []string{tok, "-conns", "4, 8,,4096"}, []string{"cc_token"}, []int{4, 8, 4096}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseArgs(tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.scenarios, tt.wantScenarios) || !reflect.DeepEqual(c.conns, tt.wantConns) {
				t.Errorf("scenarios %q conns %v, want %q %v", c.scenarios, c.conns, tt.wantScenarios, tt.wantConns)
			}
		})
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	c, err := parseArgs("-get-url", "http://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	if c.duration != 20*time.Second || c.warmup != 3*time.Second || c.pause != 2*time.Second || c.reps != 3 ||
		c.reqTimeout != 10*time.Second || c.authMethod != "basic" || c.introspectAuth != "none" || !c.authcodeFresh {
		t.Errorf("defaults changed: %+v", c)
	}
}

func TestParseFlagsRefuses(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const tok = "-token-url=http://127.0.0.1:1/t"
	tests := []struct {
		args    []string
		wantErr string
	}{
		{nil, "nothing to do"},
		{[]string{"-scenarios", " , "}, "nothing to do"},
		{[]string{tok, "-conns", "0"}, `bad -conns value "0"`},
		{[]string{tok, "-conns", "4097"}, `bad -conns value "4097"`},
		{[]string{tok, "-conns", "1,x"}, `bad -conns value "x"`},
		{[]string{tok, "-duration", "0s"}, "-duration must be in (0, 10m]"},
		{[]string{tok, "-duration", "10m1s"}, "-duration must be in (0, 10m]"},
		{[]string{tok, "-reps", "0"}, "-reps must be in [1, 20]"},
		{[]string{tok, "-reps", "21"}, "-reps must be in [1, 20]"},
		{[]string{tok, "-warmup", "-1s"}, "-warmup must be in [0, 1m]"},
		{[]string{tok, "-warmup", "61s"}, "-warmup must be in [0, 1m]"},
		{[]string{tok, "-password", "x", "-password-file", pw}, "-password and -password-file are exclusive"},
		{[]string{tok, "-password-file", filepath.Join(dir, "missing")}, "-password-file: "},
		{[]string{tok, "-no-such-flag"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseArgs(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	// The bounds themselves are accepted.
	for _, args := range [][]string{
		{tok, "-duration", "10m", "-reps", "20", "-warmup", "1m", "-conns", "1,4096"},
		{tok, "-reps", "1", "-warmup", "0s"},
	} {
		if _, err := parseArgs(args...); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
}

func TestParseFlagsPasswordFileFirstLine(t *testing.T) {
	for _, content := range []string{"pass word\r\nsecond line\n", "pass word\n", "pass word"} {
		pw := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pw, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := parseArgs("-authorize-url=http://127.0.0.1:1/a", "-password-file", pw)
		if err != nil {
			t.Fatal(err)
		}
		if c.password != "pass word" {
			t.Errorf("%q: password %q, want %q", content, c.password, "pass word")
		}
	}
}
