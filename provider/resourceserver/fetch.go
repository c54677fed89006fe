package resourceserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// ErrUnavailable is the error of Verify when the authorization server
// could not be asked (down, slow, answering an error or nonsense): the
// request is answered 503, not 401, since the token may well be good.
var ErrUnavailable = errors.New("resourceserver: authorization server unavailable")

// fetchJSON does req with the fetch timeout and decodes a 200 JSON answer
// of at most limit bytes into out. Every failure wraps ErrUnavailable.
func (a *Authenticator) fetchJSON(ctx context.Context, req *http.Request, limit int64, out any) error {
	ctx, cancel := context.WithTimeout(ctx, a.opts.FetchTimeout)
	defer cancel()
	req = req.WithContext(ctx)
	req.Header.Set("Accept", "application/json")
	resp, err := a.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrUnavailable, req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("%w: %s %s: status %d", ErrUnavailable, req.Method, req.URL.Redacted(), resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return fmt.Errorf("%w: %s %s: content type %q", ErrUnavailable, req.Method, req.URL.Redacted(), mt)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrUnavailable, req.Method, req.URL.Redacted(), err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%w: %s %s: answer over %d bytes", ErrUnavailable, req.Method, req.URL.Redacted(), limit)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrUnavailable, req.Method, req.URL.Redacted(), err)
	}
	return nil
}

// getJSON fetches u.
func (a *Authenticator) getJSON(ctx context.Context, u string, limit int64, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return a.fetchJSON(ctx, req, limit, out)
}

// postForm posts form to u with HTTP Basic client authentication
// (client_secret_basic: id and secret form-urlencoded first, RFC 6749
// §2.3.1).
func (a *Authenticator) postForm(ctx context.Context, u string, form url.Values, limit int64, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(a.opts.ClientID), url.QueryEscape(a.opts.ClientSecret))
	return a.fetchJSON(ctx, req, limit, out)
}
