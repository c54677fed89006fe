package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// The device flow (RFC 8628): the device authorization endpoint, and the
// verification page (/device) where a signed-in person enters the user
// code shown on a device, checks what it asks for, and approves or denies.

// devices is what the device pages ask of the engine (provider.Provider).
type devices interface {
	DeviceAuthorize(ctx context.Context, w http.ResponseWriter, r *http.Request)
	DeviceRequestByUserCode(ctx context.Context, userCode string) (*provider.DeviceRequest, error)
	ApproveDevice(ctx context.Context, userCode string, login *provider.Login) (*provider.DeviceRequest, error)
	DenyDevice(ctx context.Context, userCode string, login *provider.Login) error
}

// Wrong user codes allowed per IP and per sign-in session in a window
// (RFC 8628 §5.1: rate-limit user code entry so that the code space cannot
// be searched; with 20^8 codes and this limit, guessing a live code is
// hopeless).
const (
	deviceGuessLimit  = 5
	deviceGuessWindow = time.Minute
	// deviceGuessKeys bounds the limiter's memory: when full, it forgets
	// every window (and an attacker gets at most one more window).
	deviceGuessKeys = 10000
)

// guessLimiter counts wrong guesses per key in fixed windows. It is kept
// per instance: behind a load balancer the limit is per instance, which
// still bounds guessing to a few per minute per instance.
type guessLimiter struct {
	mu   sync.Mutex
	now  func() time.Time
	hits map[string]guessWindow
}

type guessWindow struct {
	start time.Time
	n     int
}

func newGuessLimiter(now func() time.Time) *guessLimiter {
	return &guessLimiter{now: now, hits: map[string]guessWindow{}}
}

// blocked reports whether any of keys has used up its wrong guesses.
func (l *guessLimiter) blocked(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if w, ok := l.hits[k]; ok && now.Sub(w.start) < deviceGuessWindow && w.n >= deviceGuessLimit {
			return true
		}
	}
	return false
}

// failed records a wrong guess against every key.
func (l *guessLimiter) failed(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.hits) > deviceGuessKeys {
		clear(l.hits)
	}
	for _, k := range keys {
		w := l.hits[k]
		if now.Sub(w.start) >= deviceGuessWindow {
			w = guessWindow{start: now}
		}
		w.n++
		l.hits[k] = w
	}
}

func (h *Handler) deviceAuthorize(c echo.Context) error {
	h.p.DeviceAuthorize(c.Request().Context(), c.Response(), c.Request())
	return nil
}

// devicePage asks for the user code, pre-filled from verification_uri_complete.
func (h *Handler) devicePage(c echo.Context) error {
	code := c.QueryParam("user_code")
	if len(code) > 20 {
		code = ""
	}
	return h.render(c, http.StatusOK, "device", &templates.DeviceData{Common: h.common(c, ""), UserCode: code})
}

// deviceLogin is the signed-in person, or nil after sending the browser to
// sign in and come back to the page with the code it typed.
func (h *Handler) deviceLogin(c echo.Context, code string) (*provider.Login, error) {
	signedIn, err := h.currentLogin(c)
	if err != nil || signedIn != nil {
		return signedIn, err
	}
	next := provider.PathDeviceVerification
	if n, ok := provider.NormalizeUserCode(code); ok {
		next += "?" + url.Values{"user_code": {provider.FormatUserCode(n)}}.Encode()
	}
	return nil, c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
}

// deviceSubmit checks the typed user code and shows what the device asks
// for. Wrong codes are throttled per IP and per session, and answered with
// one sentence whatever was wrong (RFC 8628 §5.1).
func (h *Handler) deviceSubmit(c echo.Context) error {
	code := c.FormValue("user_code")
	signedIn, err := h.deviceLogin(c, code)
	if signedIn == nil {
		return err
	}
	ctx := c.Request().Context()
	keys := []string{"ip:" + reqctx.ClientIP(ctx), "session:" + signedIn.Session.ID}
	data := &templates.DeviceData{Common: h.common(c, ""), UserCode: code}
	if h.deviceGuesses.blocked(keys...) {
		data.Message = "Too many wrong codes. Wait a minute and try again."
		return h.render(c, http.StatusTooManyRequests, "device", data)
	}
	req, err := h.p.DeviceRequestByUserCode(ctx, code)
	if errors.Is(err, provider.ErrUnknownUserCode) {
		h.deviceGuesses.failed(keys...)
		data.Message = "That code is not valid. Check the code on your device and try again."
		return h.render(c, http.StatusBadRequest, "device", data)
	} else if err != nil {
		return err
	}
	data = &templates.DeviceData{
		Common: h.common(c, "Connect a device?"), Step: "confirm", UserCode: provider.FormatUserCode(req.UserCode),
		ClientName: req.Client.Name, ClientID: req.Client.ID, UserEmail: signedIn.User.Email,
	}
	for _, s := range req.Scopes {
		data.Scopes = append(data.Scopes, templates.Scope{Name: s, Description: provider.ScopeDescription(s)})
	}
	return h.render(c, http.StatusOK, "device", data)
}

// deviceDecide records the person's decision, once per code.
func (h *Handler) deviceDecide(c echo.Context) error {
	code := c.FormValue("user_code")
	signedIn, err := h.deviceLogin(c, code)
	if signedIn == nil {
		return err
	}
	ctx := c.Request().Context()
	done := &templates.DeviceData{Common: h.common(c, "Device"), Step: "done"}
	switch c.FormValue("decision") {
	case "allow":
		var req *provider.DeviceRequest
		if req, err = h.p.ApproveDevice(ctx, code, signedIn); err == nil {
			// Remembered as the consent page's decisions are (audited as
			// consent.given): the app is listed on /account/apps, where
			// revoking it revokes the device's tokens.
			err = h.login.RememberConsent(ctx, signedIn.User.ID, req.Client.ID, req.Scopes)
		}
		done.Message = "The device is now connected to your account."
	case "deny":
		err = h.p.DenyDevice(ctx, code, signedIn)
		done.Message = "You denied the device access."
	default:
		return h.errorPage(c, http.StatusBadRequest, "Choose Allow or Deny.")
	}
	switch {
	case errors.Is(err, provider.ErrUnknownUserCode):
		return h.render(c, http.StatusBadRequest, "device", &templates.DeviceData{
			Common: h.common(c, ""), Message: "That code is not valid any more: it was already used, or has expired. Start again on your device.",
		})
	case errors.Is(err, provider.ErrDeviceClientMFA):
		return h.errorPage(c, http.StatusForbidden, "This app requires a second factor: sign out, then sign in again with your second factor.")
	case err != nil:
		return err
	}
	return h.render(c, http.StatusOK, "device", done)
}
