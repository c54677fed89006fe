package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/gatehouse-dev/gatehouse/templates"
)

const (
	secret32 = "0123456789abcdef0123456789abcdef"
	secret48 = "0123456789abcdef0123456789abcdef0123456789abcdef"
)

// writeFile stores content in a fresh temporary directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// valid returns a configuration that passes Validate, to be broken one field at a time.
func valid() Config {
	c := Default()
	c.Secret = secret32
	return c
}

// problemsOf splits a Validate (errors.Join) error into its messages.
func problemsOf(err error) []string {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []string{err.Error()}
	}
	var msgs []string
	for _, e := range joined.Unwrap() {
		msgs = append(msgs, e.Error())
	}
	return msgs
}

func TestDefault(t *testing.T) {
	c := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"issuer", c.Issuer, "http://localhost:8080"},
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"admin_listen", c.AdminListen, "127.0.0.1:8081"},
		{"dsn", c.DSN, "sqlite://./data/gatehouse.db"},
		{"secret", c.Secret, ""},
		{"google.issuer", c.Google.Issuer, "https://accounts.google.com"},
		{"google.client_id", c.Google.ClientID, ""},
		{"lifespans.access_token", c.Lifespans.AccessToken, 15 * time.Minute},
		{"lifespans.id_token", c.Lifespans.IDToken, 15 * time.Minute},
		{"lifespans.authorization_code", c.Lifespans.AuthorizationCode, 5 * time.Minute},
		{"lifespans.refresh_token", c.Lifespans.RefreshToken, 168 * time.Hour},
		{"lifespans.login_session", c.Lifespans.LoginSession, 24 * time.Hour},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "auto"},
		{"database.max_open_conns", c.Database.MaxOpenConns, 20},
		{"dev", c.Dev, false},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}

	// The defaults need only a secret (or --dev) to be usable.
	if got := problemsOf(c.Validate()); len(got) != 1 || !strings.HasPrefix(got[0], "secret:") {
		t.Errorf("Default().Validate() = %q, want exactly one secret problem", got)
	}
	c.Dev = true
	if err := c.Validate(); err != nil {
		t.Errorf("Default() with Dev: Validate() = %v", err)
	}
}

func TestLoad(t *testing.T) {
	const fullFile = `
issuer: https://id.example.com
listen: 0.0.0.0:9000
admin_listen: 127.0.0.1:9001
dsn: postgres://gatehouse:pw@db:5432/gatehouse
secret: ` + secret32 + `
old_secrets:
  - ` + secret48 + `
google:
  client_id: file-id
  client_secret: file-secret
lifespans:
  access_token: 30m
  refresh_token: 720h
log:
  level: debug
  format: json
database:
  max_open_conns: 50
`
	fromFile := func() Config {
		c := Default()
		c.Issuer = "https://id.example.com"
		c.Listen = "0.0.0.0:9000"
		c.AdminListen = "127.0.0.1:9001"
		c.DSN = "postgres://gatehouse:pw@db:5432/gatehouse"
		c.Secret = secret32
		c.OldSecrets = []string{secret48}
		c.Google.ClientID = "file-id"
		c.Google.ClientSecret = "file-secret"
		c.Lifespans.AccessToken = 30 * time.Minute
		c.Lifespans.RefreshToken = 720 * time.Hour
		c.Log = Log{Level: "debug", Format: "json"}
		c.Database.MaxOpenConns = 50
		return c
	}

	tests := []struct {
		name    string
		file    string // "" means no file
		environ []string
		want    func() Config
	}{
		{
			name: "defaults without file or env",
			want: Default,
		},
		{
			name: "empty file keeps defaults",
			file: "# nothing configured yet\n",
			want: Default,
		},
		{
			name: "file overrides defaults, keeps the rest",
			file: fullFile,
			want: fromFile,
		},
		{
			name: "partial nested section keeps sibling defaults",
			file: "google:\n  client_id: x\n  client_secret: y\nlifespans:\n  id_token: 5m\n",
			want: func() Config {
				c := Default()
				c.Google.ClientID, c.Google.ClientSecret = "x", "y"
				c.Lifespans.IDToken = 5 * time.Minute
				return c
			},
		},
		{
			name: "explicit document markers and a trailing empty document",
			file: "---\nissuer: https://id.example.com\n---\n",
			want: func() Config {
				c := Default()
				c.Issuer = "https://id.example.com"
				return c
			},
		},
		{
			name: "null section keeps defaults",
			file: "lifespans:\ngoogle: ~\n",
			want: Default,
		},
		{
			name: "env overrides file",
			file: fullFile,
			environ: []string{
				"GATEHOUSE_ISSUER=https://env.example.com",
				"GATEHOUSE_LISTEN=0.0.0.0:7000",
				"GATEHOUSE_DSN=sqlite:///var/lib/gatehouse/g.db",
				"GATEHOUSE_SECRET=" + secret48,
				"GATEHOUSE_GOOGLE_CLIENT_ID=env-id",
				"GATEHOUSE_GOOGLE_ISSUER=http://127.0.0.1:5556",
				"GATEHOUSE_LIFESPANS_ACCESS_TOKEN=10m",
				"GATEHOUSE_LIFESPANS_LOGIN_SESSION=48h",
				"GATEHOUSE_LOG_LEVEL=warn",
				"GATEHOUSE_DATABASE_MAX_OPEN_CONNS=7",
			},
			want: func() Config {
				c := fromFile()
				c.Issuer = "https://env.example.com"
				c.Listen = "0.0.0.0:7000"
				c.DSN = "sqlite:///var/lib/gatehouse/g.db"
				c.Secret = secret48
				c.Google.ClientID = "env-id"
				c.Google.Issuer = "http://127.0.0.1:5556"
				c.Lifespans.AccessToken = 10 * time.Minute
				c.Lifespans.LoginSession = 48 * time.Hour
				c.Log.Level = "warn"
				c.Database.MaxOpenConns = 7
				return c
			},
		},
		{
			name:    "env without file",
			environ: []string{"GATEHOUSE_ADMIN_LISTEN=127.0.0.1:9999", "GATEHOUSE_GOOGLE_CLIENT_SECRET=s"},
			want: func() Config {
				c := Default()
				c.AdminListen = "127.0.0.1:9999"
				c.Google.ClientSecret = "s"
				return c
			},
		},
		{
			name:    "env list is comma-separated and replaces the file's list",
			file:    fullFile,
			environ: []string{"GATEHOUSE_OLD_SECRETS=" + secret32 + "," + secret48},
			want: func() Config {
				c := fromFile()
				c.OldSecrets = []string{secret32, secret48}
				return c
			},
		},
		{
			name:    "single-item env list",
			environ: []string{"GATEHOUSE_OLD_SECRETS=" + secret32},
			want: func() Config {
				c := Default()
				c.OldSecrets = []string{secret32}
				return c
			},
		},
		{
			name:    "empty variables leave file values in place",
			file:    fullFile,
			environ: []string{"GATEHOUSE_SECRET=", "GATEHOUSE_OLD_SECRETS=", "GATEHOUSE_LIFESPANS_ACCESS_TOKEN="},
			want:    fromFile,
		},
		{
			name: "unrelated and unknown variables are ignored, Dev cannot be set from env",
			environ: []string{
				"PATH=/usr/bin",
				"ISSUER=https://nope.example.com",
				"GATEHOUSE_TEST_POSTGRES_DSN=postgres://x",
				"GATEHOUSE_DEV=true",
				"GATEHOUSE_=x",
				"MALFORMED",
			},
			want: Default,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			got, err := Load(path, tc.environ)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if want := tc.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.yaml")
	tests := []struct {
		name    string
		file    string // written to a temp file unless path is set
		path    string
		environ []string
		want    []string // substrings of the error; "$FILE" is the file's path
	}{
		{
			name: "missing file",
			path: missing,
			want: []string{missing},
		},
		{
			name: "not YAML",
			file: "issuer: [unclosed\n",
			want: []string{"$FILE", "yaml"},
		},
		{
			name: "not a mapping",
			file: "just a string\n",
			want: []string{"$FILE:1"},
		},
		{
			name: "unknown top-level key",
			file: "issuer: https://id.example.com\nlistn: 127.0.0.1:80\n",
			want: []string{"$FILE:2", `unknown key "listn" (did you mean "listen"?)`},
		},
		{
			name: "unknown nested key names its path",
			file: "lifespans:\n  access_token: 15m\n  acess_token: 20m\n",
			want: []string{"$FILE:3", `unknown key "lifespans.acess_token" (did you mean "lifespans.access_token"?)`},
		},
		{
			name: "unknown key in flow style",
			file: "google: {client_id: a, clientsecret: b}\n",
			want: []string{"$FILE:1", `unknown key "google.clientsecret" (did you mean "google.client_secret"?)`},
		},
		{
			name: "a misspelt section is suggested by its full path",
			file: "rate_limit:\n  enabled: false\n",
			want: []string{"$FILE:1", `unknown key "rate_limit" (did you mean "rate_limits"?)`},
		},
		{
			name: "a misspelt list",
			file: "upstream:\n  - id: corp\n",
			want: []string{"$FILE:1", `unknown key "upstream" (did you mean "upstreams"?)`},
		},
		{
			name: "a list item's misspelt key",
			file: "upstreams:\n  - id: corp\n    isuer: https://corp.example.com\n",
			want: []string{"$FILE:3", `unknown key "upstreams[0].isuer" (did you mean "upstreams[].issuer"?)`},
		},
		{
			name: "dev cannot be set from a file",
			file: "dev: true\n",
			want: []string{`unknown key "dev"`},
		},
		{
			name: "bad duration names the key",
			file: "lifespans:\n  refresh_token: 168h\n  access_token: abc\n",
			want: []string{"$FILE:3", "lifespans.access_token", `invalid duration "abc"`},
		},
		{
			name: "bare number is not a duration",
			file: "lifespans:\n  id_token: 900\n",
			want: []string{"$FILE:2", "lifespans.id_token", `invalid duration "900"`},
		},
		{
			name: "wrong type names the key",
			file: "database:\n  max_open_conns: many\n",
			want: []string{"$FILE:2", "database.max_open_conns"},
		},
		{
			name: "every file problem is reported",
			file: "listn: x\nlifespans:\n  login_session: forever\n",
			want: []string{`unknown key "listn"`, "lifespans.login_session"},
		},
		{
			name: "more than one document",
			file: "issuer: https://a.example.com\n---\nissuer: https://b.example.com\n",
			want: []string{"$FILE", "one YAML document"},
		},
		{
			name: "duplicate key",
			file: "issuer: https://a.example.com\nissuer: https://b.example.com\n",
			want: []string{"$FILE:2", "issuer", "already defined"},
		},
		{
			name:    "bad env duration names the variable",
			environ: []string{"GATEHOUSE_LIFESPANS_ACCESS_TOKEN=abc"},
			want:    []string{"GATEHOUSE_LIFESPANS_ACCESS_TOKEN", `"abc"`},
		},
		{
			name:    "bad env integer names the variable",
			environ: []string{"GATEHOUSE_DATABASE_MAX_OPEN_CONNS=lots"},
			want:    []string{"GATEHOUSE_DATABASE_MAX_OPEN_CONNS", `"lots"`},
		},
		{
			name: "every env problem is reported",
			environ: []string{
				"GATEHOUSE_LIFESPANS_ID_TOKEN=1x",
				"GATEHOUSE_LIFESPANS_LOGIN_SESSION=soon",
			},
			want: []string{"GATEHOUSE_LIFESPANS_ID_TOKEN", "GATEHOUSE_LIFESPANS_LOGIN_SESSION"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" && tc.file != "" {
				path = writeFile(t, tc.file)
			}
			_, err := Load(path, tc.environ)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "$FILE", path)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c := valid()
	c.Issuer = "https://id.example.com/?tenant=a"
	c.AdminListen = c.Listen
	c.DSN = "mysql://root@db/gatehouse"
	c.Secret = "short"
	c.OldSecrets = []string{secret32, "old"}
	c.Google.ClientID = "id-without-secret"
	c.Lifespans.AuthorizationCode = time.Hour
	c.Lifespans.LoginSession = -time.Second
	c.Log.Level = "verbose"
	c.Log.Format = "xml"
	c.Database.MaxOpenConns = 0

	err := c.Validate()
	t.Logf("Validate():\n%v", err)
	want := []string{
		"issuer: must be an absolute http(s) URL without query or fragment",
		"admin_listen: must differ from listen",
		"dsn: must start with sqlite://, postgres:// or postgresql://",
		"secret: must be at least 32 bytes, got 5",
		"old_secrets[1]: must be at least 32 bytes",
		"google: client_id and client_secret must be set together",
		"lifespans.authorization_code: must be at most 10m0s",
		"lifespans.login_session: must be positive",
		"log.level: must be one of debug, info, warn, error",
		"log.format: must be one of auto, text, json",
		"database.max_open_conns: must be between 1 and 1000, got 0",
	}
	got := problemsOf(err)
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() does not report %q; got:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "short") {
		t.Error("Validate() echoes a secret")
	}
}

func TestValidateIssuer(t *testing.T) {
	tests := []struct {
		issuer string
		want   string // "" means valid
	}{
		{"http://localhost:8080", ""},
		{"http://LOCALHOST", ""},
		{"http://127.0.0.1:8080", ""},
		{"http://127.10.20.30", ""},
		{"http://[::1]:8080", ""},
		{"https://id.example.com", ""},
		{"https://id.example.com/tenant-a", "must be the root of its host name"},
		{"http://127.0.0.1:8080/auth", "not a path below it such as \"/auth\""},
		{"http://example.com", "plain http is allowed only for loopback hosts"},
		{"http://10.0.0.1:8080", "plain http is allowed only for loopback hosts"},
		{"http://localhost.example.com", "plain http is allowed only for loopback hosts"},
		{"https://id.example.com/", "must not end with a slash"},
		{"http://localhost:8080/", "must not end with a slash"},
		{"https://id.example.com?x=1", "without query or fragment"},
		{"https://id.example.com/?", "without query or fragment"},
		{"https://id.example.com#frag", "without query or fragment"},
		{"https://user:pw@id.example.com", "absolute http(s) URL"},
		{"id.example.com", "absolute http(s) URL"},
		{"/relative", "absolute http(s) URL"},
		{"ftp://id.example.com", "absolute http(s) URL"},
		{"https://", "absolute http(s) URL"},
		{"", "absolute http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.issuer, func(t *testing.T) {
			c := valid()
			c.Issuer = tc.issuer
			checkOneProblem(t, c.Validate(), "issuer: ", tc.want)
		})
	}
}

// checkOneProblem asserts err is nil when want is "", or holds exactly one
// problem that starts with prefix and contains want.
func checkOneProblem(t *testing.T, err error, prefix, want string) {
	t.Helper()
	got := problemsOf(err)
	if want == "" {
		if err != nil {
			t.Errorf("Validate() = %v, want nil", err)
		}
		return
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], prefix) || !strings.Contains(got[0], want) {
		t.Errorf("Validate() = %q, want one problem starting %q containing %q", got, prefix, want)
	}
}

func TestValidateSecret(t *testing.T) {
	tests := []struct {
		name   string
		dev    bool
		secret string
		old    []string
		want   string
	}{
		{"dev without secret is allowed", true, "", nil, ""},
		{"production without secret is refused", false, "", nil, "secret: is required: set GATEHOUSE_SECRET"},
		{"short secret is refused", false, "0123456789abcdef0123456789abcde", nil, "secret: must be at least 32 bytes, got 31"},
		{"short secret is refused in dev too", true, "tiny", nil, "secret: must be at least 32 bytes"},
		{"32 bytes is enough", false, secret32, nil, ""},
		{"dev with a secret", true, secret48, nil, ""},
		{"good old secrets", false, secret32, []string{secret48, secret32}, ""},
		{"short old secret", false, secret32, []string{secret48, ""}, "old_secrets[1]: must be at least 32 bytes, got 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			c.Dev, c.Secret, c.OldSecrets = tc.dev, tc.secret, tc.old
			checkOneProblem(t, c.Validate(), "", tc.want)
		})
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, "listen: must be host:port"},
		{"listen bad port", func(c *Config) { c.Listen = "127.0.0.1:http" }, "listen: port must be a number"},
		{"listen port out of range", func(c *Config) { c.Listen = "127.0.0.1:70000" }, "listen: port must be a number"},
		{"listen on all interfaces", func(c *Config) { c.Listen = ":8080" }, ""},
		{"admin_listen empty", func(c *Config) { c.AdminListen = "" }, "admin_listen: must be host:port"},
		{"same address", func(c *Config) { c.AdminListen = c.Listen }, "admin_listen: must differ from listen"},
		{"both on a random port", func(c *Config) { c.Listen, c.AdminListen = "127.0.0.1:0", "127.0.0.1:0" }, ""},
		{"postgres dsn", func(c *Config) { c.DSN = "postgres://u:p@db/gatehouse?sslmode=disable" }, ""},
		{"postgresql dsn", func(c *Config) { c.DSN = "postgresql://db/gatehouse" }, ""},
		{"sqlite absolute", func(c *Config) { c.DSN = "sqlite:///var/lib/gatehouse.db" }, ""},
		{"sqlite without path", func(c *Config) { c.DSN = "sqlite://" }, "dsn: sqlite:// needs a file path"},
		{"bare file path", func(c *Config) { c.DSN = "./data/gatehouse.db" }, "dsn: must start with"},
		{"dsn is never echoed", func(c *Config) { c.DSN = "mysql://root:hunter2@db" }, "dsn: must start with sqlite://, postgres:// or postgresql://"},
		{"zero access token", func(c *Config) { c.Lifespans.AccessToken = 0 }, "lifespans.access_token: must be positive"},
		{"access token over a day", func(c *Config) { c.Lifespans.AccessToken = 25 * time.Hour; c.Lifespans.RefreshToken = 48 * time.Hour }, "lifespans.access_token: must be at most 24h0m0s"},
		{"id token over a day", func(c *Config) { c.Lifespans.IDToken = 25 * time.Hour }, "lifespans.id_token: must be at most 24h0m0s"},
		{"negative id token", func(c *Config) { c.Lifespans.IDToken = -time.Minute }, "lifespans.id_token: must be positive"},
		{"code at the 10m limit", func(c *Config) { c.Lifespans.AuthorizationCode = 10 * time.Minute }, ""},
		{"code over 10m", func(c *Config) { c.Lifespans.AuthorizationCode = 11 * time.Minute }, "lifespans.authorization_code: must be at most 10m0s"},
		{"zero code", func(c *Config) { c.Lifespans.AuthorizationCode = 0 }, "lifespans.authorization_code: must be positive"},
		{"refresh shorter than access", func(c *Config) { c.Lifespans.RefreshToken = time.Minute }, "lifespans.refresh_token: must be at least lifespans.access_token"},
		{"refresh equal to access", func(c *Config) { c.Lifespans.RefreshToken = c.Lifespans.AccessToken }, ""},
		{"zero refresh", func(c *Config) { c.Lifespans.RefreshToken = 0 }, "lifespans.refresh_token: must be positive"},
		{"zero login session", func(c *Config) { c.Lifespans.LoginSession = 0 }, "lifespans.login_session: must be positive"},
		{"login session of a month", func(c *Config) { c.Lifespans.LoginSession = 30 * 24 * time.Hour }, ""},
		{"log level upper case", func(c *Config) { c.Log.Level = "INFO" }, "log.level: must be one of"},
		{"log format json", func(c *Config) { c.Log.Format = "json" }, ""},
		{"log format empty", func(c *Config) { c.Log.Format = "" }, "log.format: must be one of"},
		{"max conns at limit", func(c *Config) { c.Database.MaxOpenConns = 1000 }, ""},
		{"max conns over limit", func(c *Config) { c.Database.MaxOpenConns = 1001 }, "database.max_open_conns: must be between 1 and 1000"},
		{"google configured", func(c *Config) { c.Google.ClientID, c.Google.ClientSecret = "id", "secret" }, ""},
		{"id_jag issuer with keys", func(c *Config) {
			c.IDJAG.Issuers = []IDJAGIssuer{{Issuer: "https://idp.example.com", JWKSURI: "https://idp.example.com/keys"}}
		}, ""},
		{"id_jag google upstream", func(c *Config) {
			c.Google.ClientID, c.Google.ClientSecret = "id", "secret"
			c.IDJAG.Issuers = []IDJAGIssuer{{Upstream: "google"}}
		}, ""},
		{"id_jag unknown upstream", func(c *Config) { c.IDJAG.Issuers = []IDJAGIssuer{{Upstream: "corp"}} }, "id_jag.issuers[0].upstream: \"corp\" is no configured upstream"},
		{"id_jag issuer not the upstream's", func(c *Config) {
			c.Google.ClientID, c.Google.ClientSecret = "id", "secret"
			c.IDJAG.Issuers = []IDJAGIssuer{{Upstream: "google", Issuer: "https://idp.example.com"}}
		}, "id_jag.issuers[0].issuer: must be the upstream's issuer"},
		{"id_jag issuer without keys", func(c *Config) { c.IDJAG.Issuers = []IDJAGIssuer{{Issuer: "https://idp.example.com"}} }, "id_jag.issuers[0]: needs jwks_uri or upstream"},
		{"id_jag plain http keys", func(c *Config) {
			c.IDJAG.Issuers = []IDJAGIssuer{{Issuer: "https://idp.example.com", JWKSURI: "http://idp.example.com/keys"}}
		}, "id_jag.issuers[0].jwks_uri: plain http"},
		{"id_jag issuer twice", func(c *Config) {
			c.IDJAG.Issuers = []IDJAGIssuer{{Issuer: "https://idp.example.com", JWKSURI: "https://idp.example.com/k"}, {Issuer: "https://idp.example.com", JWKSURI: "https://idp.example.com/k"}}
		}, "id_jag.issuers[1].issuer: \"https://idp.example.com\" is listed twice"},
		{"id_jag lifetime too long", func(c *Config) { c.IDJAG.MaxLifetime = 2 * time.Hour }, "id_jag.max_lifetime: must be between 1m0s and 1h0m0s"},
		{"dpop algorithms none", func(c *Config) { c.DPoP.Algorithms = []string{"ES256", "none"} }, "dpop.algorithms: \"none\" is not an asymmetric JWS algorithm"},
		{"dpop algorithms HS256", func(c *Config) { c.DPoP.Algorithms = []string{"HS256"} }, "dpop.algorithms: \"HS256\" is not an asymmetric"},
		{"dpop algorithms empty", func(c *Config) { c.DPoP.Algorithms = nil }, "dpop.algorithms: must list at least one algorithm"},
		{"dpop algorithms one", func(c *Config) { c.DPoP.Algorithms = []string{"ES256"} }, ""},
		{"dpop proof lifetime too short", func(c *Config) { c.DPoP.ProofLifetime = 5 * time.Second }, "dpop.proof_lifetime: must be between 10s and 10m"},
		{"dpop proof lifetime too long", func(c *Config) { c.DPoP.ProofLifetime = time.Hour }, "dpop.proof_lifetime: must be between 10s and 10m"},
		{"dpop nonce lifetime too short", func(c *Config) { c.DPoP.NonceLifetime = 10 * time.Second }, "dpop.nonce_lifetime: must be between 30s and 1h"},
		{"dpop nonce lifetime too long", func(c *Config) { c.DPoP.NonceLifetime = 2 * time.Hour }, "dpop.nonce_lifetime: must be between 30s and 1h"},
		{"dpop nonces required", func(c *Config) { c.DPoP.RequireNonce = true }, ""},
		{"smtp off", func(c *Config) { c.SMTP = Default().SMTP }, ""},
		{"signup without e-mail", func(c *Config) { c.Signup.Enabled = true }, "signup.enabled: needs e-mail"},
		{"signup with e-mail", func(c *Config) {
			c.Signup.Enabled, c.SMTP.Host, c.SMTP.From = true, "smtp.example.com", "a@b.example"
		}, ""},
		{"signup without passwords", func(c *Config) {
			c.Signup.Enabled, c.SMTP.Host, c.SMTP.From, c.Login.Password = true, "smtp.example.com", "a@b.example", false
			c.Google.ClientID, c.Google.ClientSecret = "id", "secret"
		}, "signup.enabled: needs password sign-in"},
		{"signup domain with @", func(c *Config) { c.Signup.AllowedDomains = []string{"@example.com"} }, "signup.allowed_domains[0]: must be a lower-case domain"},
		{"smtp configured", func(c *Config) { c.SMTP.Host, c.SMTP.From = "smtp.example.com", "noreply@id.example.com" }, ""},
		{"smtp with auth", func(c *Config) {
			c.SMTP.Host, c.SMTP.From, c.SMTP.Username, c.SMTP.Password = "smtp.example.com", "noreply@id.example.com", "u", "p"
		}, ""},
		{"smtp password without host", func(c *Config) { c.SMTP.Password = "p" }, "smtp.host: is required when"},
		{"smtp without from", func(c *Config) { c.SMTP.Host = "smtp.example.com" }, "smtp.from: must be a bare e-mail address"},
		{"smtp from with a name", func(c *Config) { c.SMTP.Host, c.SMTP.From = "smtp.example.com", "ID <noreply@id.example.com>" }, "smtp.from: must be a bare"},
		{"smtp host with port", func(c *Config) { c.SMTP.Host, c.SMTP.From = "smtp.example.com:587", "a@b.example" }, "smtp.host: must be a host name"},
		{"smtp bad port", func(c *Config) { c.SMTP.Host, c.SMTP.From, c.SMTP.Port = "smtp.example.com", "a@b.example", 0 }, "smtp.port: must be between 1 and 65535"},
		{"smtp user without password", func(c *Config) { c.SMTP.Host, c.SMTP.From, c.SMTP.Username = "smtp.example.com", "a@b.example", "u" }, "smtp.username: smtp.username and smtp.password must be set together"},
		{"smtp unknown tls", func(c *Config) { c.SMTP.Host, c.SMTP.From, c.SMTP.TLS = "smtp.example.com", "a@b.example", "ssl" }, "smtp.tls: must be one of"},
		{"smtp in clear to a remote host", func(c *Config) { c.SMTP.Host, c.SMTP.From, c.SMTP.TLS = "smtp.example.com", "a@b.example", "none" }, "smtp.tls: none is allowed only for a loopback host"},
		{"smtp in clear to loopback", func(c *Config) { c.SMTP.Host, c.SMTP.From, c.SMTP.TLS = "127.0.0.1", "a@b.example", "none" }, ""},
		{"smtp implicit tls", func(c *Config) {
			c.SMTP.Host, c.SMTP.From, c.SMTP.TLS, c.SMTP.Port = "smtp.example.com", "a@b.example", "implicit", 465
		}, ""},
		{"smtp timeout too short", func(c *Config) {
			c.SMTP.Host, c.SMTP.From, c.SMTP.Timeout = "smtp.example.com", "a@b.example", time.Millisecond
		}, "smtp.timeout: must be between 1s and 5m"},
		{"smtp from_name on two lines", func(c *Config) {
			c.SMTP.Host, c.SMTP.From, c.SMTP.FromName = "smtp.example.com", "a@b.example", "a\r\nBcc: x@y"
		}, "smtp.from_name: must be one line"},
		{"branding defaults", func(c *Config) {}, ""},
		{"branding everything set", func(c *Config) {
			c.Branding = Branding{ProductName: "Acme ID", LogoURL: "https://cdn.acme.example/logo.svg", AccentColor: "#C0FFEE",
				SupportURL: "mailto:help@acme.example", TemplatesDir: t.TempDir()}
		}, ""},
		{"branding logo on this server", func(c *Config) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "static", "img"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "static", "img", "acme.png"), []byte("png"), 0o600); err != nil {
				t.Fatal(err)
			}
			c.Branding.LogoURL, c.Branding.TemplatesDir = "/static/img/acme.png", dir
		}, ""},
		{"branding logo on this server without templates dir", func(c *Config) { c.Branding.LogoURL = "/static/acme.png" }, "branding.logo_url: a path under /static/ needs the file in the static/ folder of branding.templates_dir"},
		{"branding logo missing from templates dir", func(c *Config) {
			c.Branding.LogoURL, c.Branding.TemplatesDir = "/static/acme.png", t.TempDir()
		}, "branding.logo_url: /static/acme.png is not a file in"},
		{"branding short colour", func(c *Config) { c.Branding.AccentColor = "#0a0" }, ""},
		{"branding empty product name", func(c *Config) { c.Branding.ProductName = "" }, "branding.product_name: must be one non-empty line"},
		{"branding product name on two lines", func(c *Config) { c.Branding.ProductName = "Acme\nBcc: x" }, "branding.product_name: must be one non-empty line"},
		{"branding logo over http", func(c *Config) { c.Branding.LogoURL = "http://cdn.acme.example/logo.svg" }, "branding.logo_url: must be an https URL or a path under /static/"},
		{"branding logo elsewhere on this server", func(c *Config) { c.Branding.LogoURL = "/admin/logo.png" }, "branding.logo_url: must be an https URL or a path under /static/"},
		{"branding logo javascript", func(c *Config) { c.Branding.LogoURL = "javascript:alert(1)" }, "branding.logo_url: must be an https URL"},
		{"branding colour named", func(c *Config) { c.Branding.AccentColor = "red" }, "branding.accent_color: must be a CSS hex colour #rgb or #rrggbb"},
		{"branding colour injection", func(c *Config) { c.Branding.AccentColor = "#fff;}body{display:none" }, "branding.accent_color: must be a CSS hex colour"},
		{"branding support mailto", func(c *Config) { c.Branding.SupportURL = "mailto:help@acme.example" }, ""},
		{"branding support http", func(c *Config) { c.Branding.SupportURL = "http://help.acme.example" }, "branding.support_url: must be an https URL or a mailto: address"},
		{"branding support path", func(c *Config) { c.Branding.SupportURL = "/static/help.html" }, "branding.support_url: must be an https URL or a mailto: address"},
		{"branding templates dir missing", func(c *Config) { c.Branding.TemplatesDir = "/nonexistent/gatehouse-templates" }, "branding.templates_dir: must be an existing directory"},
		{"google secret without id", func(c *Config) { c.Google.ClientSecret = "secret" }, "google: client_id and client_secret must be set together"},
		{"google issuer over http on loopback", func(c *Config) { c.Google.Issuer = "http://127.0.0.1:5556/dex" }, ""},
		{"google issuer with trailing slash", func(c *Config) { c.Google.Issuer = "https://tenant.auth0.com/" }, ""},
		{"google issuer over http elsewhere", func(c *Config) { c.Google.Issuer = "http://accounts.example.com" }, "google.issuer: plain http is allowed only for loopback hosts"},
		{"google issuer not a URL", func(c *Config) { c.Google.Issuer = "accounts.google.com" }, "google.issuer: must be an absolute http(s) URL"},
		{"google enabled without issuer", func(c *Config) { c.Google = Google{ClientID: "id", ClientSecret: "s"} }, "google.issuer: must be an absolute http(s) URL"},
		{"google unused without issuer", func(c *Config) { c.Google.Issuer = "" }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.modify(&c)
			err := c.Validate()
			checkOneProblem(t, err, "", tc.want)
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Validate() echoes a DSN password: %v", err)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	c := valid()
	c.OldSecrets = []string{secret48, secret32}
	c.Google.ClientID = "google-id"
	c.Google.ClientSecret = "google-secret"
	c.SMTP.Password = "smtp-password"
	c.DSN = "postgres://gatehouse:hunter2@db:5432/gatehouse?sslmode=require&sslpassword=keypass"

	r := c.Redacted()
	if r.Secret != "REDACTED" {
		t.Errorf("Secret = %q", r.Secret)
	}
	if !reflect.DeepEqual(r.OldSecrets, []string{"REDACTED", "REDACTED"}) {
		t.Errorf("OldSecrets = %q", r.OldSecrets)
	}
	if r.SMTP.Password != "REDACTED" {
		t.Errorf("SMTP.Password = %q", r.SMTP.Password)
	}
	if r.Google.ClientSecret != "REDACTED" || r.Google.ClientID != "google-id" {
		t.Errorf("Google = %+v", r.Google)
	}
	for _, leak := range []string{"hunter2", "keypass"} {
		if strings.Contains(r.DSN, leak) {
			t.Errorf("DSN %q leaks %q", r.DSN, leak)
		}
	}
	if !strings.Contains(r.DSN, "gatehouse:REDACTED@db:5432/gatehouse") || !strings.Contains(r.DSN, "sslmode=require") {
		t.Errorf("DSN = %q, want user, host and options kept", r.DSN)
	}
	if r.Issuer != c.Issuer || r.Lifespans != c.Lifespans {
		t.Error("Redacted changed a non-secret setting")
	}

	// The original, including the slice it shares storage with, is untouched.
	if c.Secret != secret32 || c.OldSecrets[0] != secret48 || c.Google.ClientSecret != "google-secret" {
		t.Error("Redacted modified its receiver")
	}

	// Unset secrets stay empty so the log shows they are missing.
	empty := Default().Redacted()
	if empty.Secret != "" || empty.OldSecrets != nil || empty.Google.ClientSecret != "" || empty.DSN != Default().DSN {
		t.Errorf("Default().Redacted() = %+v", empty)
	}
}

func TestSQLitePathAndIsPostgres(t *testing.T) {
	tests := []struct {
		dsn        string
		wantPath   string
		wantSQLite bool
		wantPG     bool
	}{
		{"sqlite:///abs/x.db", "/abs/x.db", true, false},
		{"sqlite://./data/x.db", "./data/x.db", true, false},
		{"sqlite://data/x.db", "data/x.db", true, false},
		{"sqlite://:memory:", ":memory:", true, false},
		{"sqlite://", "", false, false},
		{"postgres://u:p@db:5432/gatehouse", "", false, true},
		{"postgresql://db/gatehouse", "", false, true},
		{"./data/x.db", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			c := Config{DSN: tc.dsn}
			path, ok := c.SQLitePath()
			if path != tc.wantPath || ok != tc.wantSQLite {
				t.Errorf("SQLitePath() = %q, %v; want %q, %v", path, ok, tc.wantPath, tc.wantSQLite)
			}
			if got := c.IsPostgres(); got != tc.wantPG {
				t.Errorf("IsPostgres() = %v, want %v", got, tc.wantPG)
			}
		})
	}
}

// TestEnvNamingRule guards the documented rule: the variable for every YAML
// key is GATEHOUSE_ + the key path upper-cased with "." replaced by "_".
func TestEnvNamingRule(t *testing.T) {
	var yamlPaths []string
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, prefix string) {
		for f := range typ.Fields() {
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "-" || f.Tag.Get("env") == "-" {
				continue // not from the environment (Dev; YAML-only lists)
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				walk(f.Type, prefix+name+".")
				continue
			}
			yamlPaths = append(yamlPaths, prefix+name)
		}
	}
	walk(reflect.TypeFor[Config](), "")

	params, err := env.GetFieldParamsWithOptions(&Config{}, env.Options{Prefix: EnvPrefix})
	if err != nil {
		t.Fatal(err)
	}
	var envKeys []string
	for _, p := range params {
		envKeys = append(envKeys, p.Key)
	}

	var want []string
	for _, p := range yamlPaths {
		want = append(want, EnvPrefix+strings.ToUpper(strings.ReplaceAll(p, ".", "_")))
	}
	if !reflect.DeepEqual(envKeys, want) {
		t.Errorf("env keys\n%q\nwant (from YAML keys)\n%q", envKeys, want)
	}
	if len(want) != 92 {
		t.Errorf("%d settings; update docs/configuration.md when adding or removing one", len(want))
	}
}

func TestLoadErrorsAreJoined(t *testing.T) {
	_, err := Load("", []string{"GATEHOUSE_LIFESPANS_ID_TOKEN=x", "GATEHOUSE_LIFESPANS_LOGIN_SESSION=y"})
	if n := len(problemsOf(err)); n != 2 {
		t.Errorf("got %d errors, want 2: %v", n, err)
	}
	var pe env.ParseError
	if errors.As(err, &pe) {
		t.Error("env.ParseError leaks through; its message names the Go field, not the variable")
	}
}

func TestRefreshRetryWindowBounds(t *testing.T) {
	for _, tc := range []struct {
		w  time.Duration
		ok bool
	}{{0, true}, {10 * time.Second, true}, {time.Minute, true}, {-time.Second, false}, {61 * time.Second, false}} {
		c := Default()
		c.Dev = true
		c.RefreshRetryWindow = tc.w
		err := c.Validate()
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "refresh_retry_window")) {
			t.Errorf("window %s: %v", tc.w, err)
		}
	}
	cfg, err := Load("", []string{"GATEHOUSE_REFRESH_RETRY_WINDOW=3s"})
	if err != nil || cfg.RefreshRetryWindow != 3*time.Second {
		t.Fatalf("env: %v %v", cfg.RefreshRetryWindow, err)
	}
}

func TestUpstreams(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.yaml")
	yaml := `
login:
  password: false
upstreams:
  - id: corp
    name: Corp SSO
    issuer: https://sso.corp.example
    client_id: gatehouse
    client_secret: s3cret-s3cret
    scopes: [openid, email]
    allowed_domains: [corp.example]
    allow_signup: true
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{"GATEHOUSE_GOOGLE_CLIENT_ID=g-id", "GATEHOUSE_GOOGLE_CLIENT_SECRET=g-secret", "GATEHOUSE_GOOGLE_ALLOWED_DOMAINS=a.example,b.example"})
	if err != nil {
		t.Fatal(err)
	}
	c.Dev = true
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Upstreams) != 1 || c.Upstreams[0].ID != "corp" || !c.Upstreams[0].AllowSignup || c.Login.Password || len(c.Google.AllowedDomains) != 2 {
		t.Fatalf("loaded: %+v %+v %+v", c.Upstreams, c.Login, c.Google)
	}
	if r := c.Redacted(); r.Upstreams[0].ClientSecret != "REDACTED" || c.Upstreams[0].ClientSecret != "s3cret-s3cret" {
		t.Fatal("upstream secret not redacted (or the original changed)")
	}

	bad := Default()
	bad.Dev = true
	bad.Login.Password = false
	bad.Upstreams = []Upstream{{ID: "Bad ID", Issuer: "http://sso.example"}, {ID: "dup", Name: "x", Issuer: "https://a.example", ClientID: "a", ClientSecret: "b"}, {ID: "dup", Name: "y", Issuer: "https://a.example", ClientID: "a", ClientSecret: "b"},
		{ID: "second-factor", Name: "z", Issuer: "https://a.example", ClientID: "a", ClientSecret: "b"}}
	err = bad.Validate()
	for _, want := range []string{"upstreams[0].id", "upstreams[0].name", "upstreams[0].issuer", "upstreams[0]: client_id", "upstreams[2].id", "upstreams[3].id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	none := Default()
	none.Dev = true
	none.Login.Password = false
	if err := none.Validate(); err == nil || !strings.Contains(err.Error(), "login.password") {
		t.Fatalf("no way to sign in: %v", err)
	}
}

func TestKeysAndAccessTokens(t *testing.T) {
	c, err := Load("", []string{"GATEHOUSE_KEYS_ROTATION_INTERVAL=720h", "GATEHOUSE_KEYS_RSA_BITS=3072", "GATEHOUSE_ACCESS_TOKENS_FORMAT=jwt", "GATEHOUSE_ACCESS_TOKENS_SIGNING_ALG=ES256"})
	if err != nil {
		t.Fatal(err)
	}
	c.Dev = true
	if err := c.Validate(); err != nil || c.Keys.RSABits != 3072 || c.AccessTokens.Format != "jwt" {
		t.Fatalf("%+v %+v %v", c.Keys, c.AccessTokens, err)
	}
	bad := Default()
	bad.Dev = true
	bad.Keys = Keys{RotationInterval: time.Minute, JWKSCacheTTL: time.Hour, RSABits: 1024}
	bad.AccessTokens = AccessTokens{Format: "macaroon", SigningAlg: "HS256"}
	err = bad.Validate()
	for _, want := range []string{"keys.rotation_interval", "keys.rsa_bits", "access_tokens.format", "access_tokens.signing_alg"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	ttl := Default()
	ttl.Dev = true
	ttl.Keys.JWKSCacheTTL = 20 * 24 * time.Hour
	if err := ttl.Validate(); err == nil || !strings.Contains(err.Error(), "keys.jwks_cache_ttl") {
		t.Fatalf("cache longer than half the rotation: %v", err)
	}
}

// The default accent colour is the one style.css has, so the default
// brand.css changes nothing.
func TestDefaultAccentColorIsTheStylesheets(t *testing.T) {
	if DefaultAccentColor != templates.DefaultAccentColor {
		t.Errorf("config %s, templates %s", DefaultAccentColor, templates.DefaultAccentColor)
	}
}
