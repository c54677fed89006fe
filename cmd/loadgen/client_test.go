package main

import (
	"encoding/base64"
	"testing"
)

func TestRequireLoopback(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080/oauth2/token", true},
		{"https://127.0.0.2/", true},
		{"http://[::1]:4444/.well-known/jwks.json", true},
		{"http://10.0.0.1/oauth2/token", false},
		{"http://[2001:db8::1]/", false},
		{"ftp://127.0.0.1/", false},
		{"127.0.0.1:8080", false}, // no scheme
		{"http://%zz/", false},
	}
	for _, tt := range tests {
		if err := requireLoopback(tt.url); (err == nil) != tt.ok {
			t.Errorf("requireLoopback(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

// RFC 6749 section 2.3.1: id and secret are form-urlencoded before base64.
func TestBasicEncodesBeforeBase64(t *testing.T) {
	got := basic("id:1", "p w+/")
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("id%3A1:p+w%2B%2F"))
	if got != want {
		t.Errorf("basic = %q, want %q", got, want)
	}
}
