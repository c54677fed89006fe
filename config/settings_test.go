package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Settings follows the struct tags: every environment variable is the
// upper-cased key path under GATEHOUSE_, as the package documents, and
// file-only settings have none.
func TestSettingsMatchTheTags(t *testing.T) {
	got := Settings()
	if len(got) < 50 {
		t.Fatalf("only %d settings found: the walk misses sections", len(got))
	}
	byPath := map[string]string{}
	for _, s := range got {
		if _, dup := byPath[s.Path]; dup {
			t.Fatalf("setting %s listed twice", s.Path)
		}
		byPath[s.Path] = s.Env
		if s.Env == "" {
			// Items of lists of objects are read from the file only.
			if !strings.Contains(s.Path, "[]") {
				t.Errorf("%s has no environment variable", s.Path)
			}
			continue
		}
		want := EnvPrefix + strings.ToUpper(strings.ReplaceAll(s.Path, ".", "_"))
		if s.Env != want {
			t.Errorf("%s: variable %s, want %s", s.Path, s.Env, want)
		}
	}
	for path, env := range map[string]string{
		"secret":                             "GATEHOUSE_SECRET",
		"rate_limits.per_ip.burst":           "GATEHOUSE_RATE_LIMITS_PER_IP_BURST",
		"lifespans.refresh_token":            "GATEHOUSE_LIFESPANS_REFRESH_TOKEN",
		"upstreams[].client_secret":          "",
		"id_jag.issuers[].upstream":          "",
		"id_jag.max_lifetime":                "GATEHOUSE_ID_JAG_MAX_LIFETIME",
		"http_client.allow_private_networks": "GATEHOUSE_HTTP_CLIENT_ALLOW_PRIVATE_NETWORKS",
	} {
		if got, ok := byPath[path]; !ok || got != env {
			t.Errorf("%s: got %q (listed %v), want %q", path, got, ok, env)
		}
	}
	if _, ok := byPath["dev"]; ok {
		t.Error("dev is no setting (only `serve --dev` sets it)")
	}
}

// Every variable Settings lists is one Load actually reads: set to "x1" it
// either changes the configuration or is refused by name.
func TestSettingsEnvAreRead(t *testing.T) {
	for _, s := range Settings() {
		if s.Env == "" {
			continue
		}
		cfg, err := Load("", []string{s.Env + "=x1"})
		if err != nil {
			if !strings.Contains(err.Error(), s.Env) {
				t.Errorf("%s: refused without naming it: %v", s.Env, err)
			}
			continue
		}
		if reflect.DeepEqual(cfg, Default()) {
			t.Errorf("%s (%s) did not change the configuration", s.Env, s.Path)
		}
	}
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{
		"GATEHOUSE_LOG_LEVL=debug",
		"GATEHOUSE_LOG_LEVEL=info",
		"GATEHOUSE_TOTALLY_DIFFERENT=1",
		"GATEHOUSE_TEST_POSTGRES_DSN=postgres://x",
		"GATEHOUSE_CLIENT_SECRET=s",
		"PATH=/bin",
	})
	want := []string{
		"unknown environment variable GATEHOUSE_LOG_LEVL is ignored (did you mean GATEHOUSE_LOG_LEVEL?)",
		"unknown environment variable GATEHOUSE_TOTALLY_DIFFERENT is ignored",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("UnknownEnv:\n got %q\nwant %q", got, want)
	}
}
