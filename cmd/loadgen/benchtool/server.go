// The requests to the server under test, all bounded in time and on
// loopback only: waiting for readiness, checking a token's format, and
// reading the Go heap figures (soak.sh).

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// loopbackURL refuses anything but an http(s) URL on a loopback address:
// the bench only ever talks to a server it started on this machine.
func loopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s: scheme must be http or https", raw)
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() == "localhost" {
		ip = net.IPv6loopback
	}
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: only loopback targets are allowed", raw)
	}
	return nil
}

// wait polls URL until it answers 200, the timeout passes, or the process
// PID (the server) has exited — then there is no point waiting further.
func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	u := fs.String("url", "", "URL to poll (loopback)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	pid := fs.Int("pid", 0, "stop early when this process is gone")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopbackURL(*u); err != nil {
		return err
	}
	if *timeout <= 0 || *timeout > 10*time.Minute {
		return errors.New("wait: -timeout must be in (0, 10m]")
	}
	cl := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(*timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		if *pid > 0 && !alive(*pid) {
			return fmt.Errorf("wait: process %d exited before %s answered", *pid, *u)
		}
		resp, err := cl.Get(*u)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("wait: %s not ready after %s (last: %s)", *u, *timeout, last)
}

// alive reports whether process pid exists (signal 0 checks without
// signalling).
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// checkToken fetches one client_credentials token and checks it has the
// expected form, so a run never measures the wrong thing (a JWT client
// silently getting opaque tokens, or RS256 where ES256 was meant).
func checkToken(args []string) error {
	fs := flag.NewFlagSet("check-token", flag.ContinueOnError)
	tokenURL := fs.String("token-url", "", "token endpoint (loopback)")
	id := fs.String("client-id", "", "client id")
	sec := fs.String("client-secret", "", "client secret or API key")
	want := fs.String("want", "opaque", "opaque, or the JWS alg of a JWT access token (ES256, RS256)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopbackURL(*tokenURL); err != nil {
		return err
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequest(http.MethodPost, *tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(*id), url.QueryEscape(*sec))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("check-token: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return errors.New("check-token: no access_token in the response")
	}
	got := "opaque"
	if parts := strings.Split(tr.AccessToken, "."); len(parts) == 3 {
		hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
		var h struct {
			Alg string `json:"alg"`
		}
		if err == nil && json.Unmarshal(hdr, &h) == nil && h.Alg != "" {
			got = h.Alg
		}
	}
	if got != *want {
		return fmt.Errorf("check-token: got a %s access token, want %s", got, *want)
	}
	// Never print the token itself: only its kind.
	fmt.Printf("ok: %s access token (%d bytes)\n", got, len(tr.AccessToken))
	return nil
}

// heapstats prints, as key=value, the runtime.MemStats that the text form
// of Go's heap profile ends with (/debug/pprof/heap?debug=1; add gc=1 to
// read them after a collection): exact figures, where the profile's own
// totals are sampled estimates.
func heapstats(args []string) error {
	fs := flag.NewFlagSet("heapstats", flag.ContinueOnError)
	u := fs.String("url", "", "the heap profile's text URL (loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopbackURL(*u); err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(*u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heapstats: %s: %s", resp.Status, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	stats := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		// "# HeapInuse = 12345"
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "#" && f[2] == "=" {
			if v, err := strconv.ParseFloat(f[3], 64); err == nil {
				stats[f[1]] = v
			}
		}
	}
	if _, ok := stats["HeapInuse"]; !ok {
		return errors.New("heapstats: no runtime.MemStats in the answer (not a ?debug=1 heap profile?)")
	}
	mb := func(k string) string { return strconv.FormatFloat(stats[k]/(1<<20), 'f', 1, 64) }
	fmt.Printf("heap_inuse_mb=%s heap_alloc_mb=%s heap_objects=%.0f heap_sys_mb=%s heap_released_mb=%s sys_mb=%s num_gc=%.0f\n",
		mb("HeapInuse"), mb("HeapAlloc"), stats["HeapObjects"], mb("HeapSys"), mb("HeapReleased"), mb("Sys"), stats["NumGC"])
	return nil
}
