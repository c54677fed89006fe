package clientjwks

import (
	"strings"
	"testing"
)

func TestCheckURI(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", MaxURILength)
	tests := []struct {
		uri string
		// want: "" = accepted; otherwise a substring of the error.
		want, wantPrivate string
	}{
		{"https://example.com/.well-known/jwks.json", "", ""},
		{"https://example.com:8443/jwks?tenant=a", "", ""},
		{"https://[2606:4700::1]/jwks", "", ""},
		{"https://8.8.8.8/jwks", "", ""},

		{"http://example.com/jwks", "must use https", "only for a loopback host"},
		{"http://127.0.0.1:8080/jwks", "must use https", ""},
		{"http://localhost:8080/jwks", "must use https", ""},
		{"http://[::1]:8080/jwks", "must use https", ""},
		{"https://127.0.0.1/jwks", "loopback", ""},
		{"https://localhost/jwks", "local host", ""},
		{"https://api.localhost/jwks", "local host", ""},
		{"https://10.0.0.5/jwks", "private", ""},
		{"https://169.254.169.254/latest/meta-data", "link-local", ""},
		{"https://[fd00::1]/jwks", "unique local", ""},
		{"https://[::ffff:127.0.0.1]/jwks", "loopback", ""},
		{"https://0.0.0.0/jwks", "unspecified", "unspecified"},
		{"https://224.0.0.1/jwks", "multicast", "multicast"},

		{"ftp://example.com/jwks", "must use https", "must use https"},
		{"file:///etc/passwd", "absolute URL with a host", "absolute URL with a host"},
		{"/jwks", "absolute URL", "absolute URL"},
		{"example.com/jwks", "absolute URL", "absolute URL"},
		{"https:example.com", "absolute URL", "absolute URL"},
		{"https://", "absolute URL", "absolute URL"},
		{"https://:443/jwks", "absolute URL", "absolute URL"},
		{"https://user:pass@example.com/jwks", "user information", "user information"},
		{"https://user@example.com/jwks", "user information", "user information"},
		{"https://example.com/jwks#keys", "fragment", "fragment"},
		{"https://example.com/jwks#", "fragment", "fragment"},
		{"https://example.com:0/jwks", "invalid port", "invalid port"},
		{"https://example.com:99999/jwks", "invalid port", "invalid port"},
		{"https://exa mple.com/", "not a valid URL", "not a valid URL"},
		{"https://example.com/\x00", "not a valid URL", "not a valid URL"},
		{long, "longer than 2000", "longer than 2000"},
	}
	for _, tc := range tests {
		for _, private := range []bool{false, true} {
			want := tc.want
			if private {
				want = tc.wantPrivate
			}
			err := CheckURI(tc.uri, private)
			switch {
			case want == "" && err != nil:
				t.Errorf("%q (private %v): %v", tc.uri, private, err)
			case want != "" && err == nil:
				t.Errorf("%q (private %v): accepted, want %q", tc.uri, private, want)
			case want != "" && !strings.Contains(err.Error(), want):
				t.Errorf("%q (private %v): error %q does not say %q", tc.uri, private, err, want)
			}
		}
	}
}
