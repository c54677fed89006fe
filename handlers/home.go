package handlers

import (
	"io/fs"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// home is the landing page at /: a person who opens the issuer's address
// in a browser learns what this is and where to sign in; one who is
// signed in goes on to the account pages. Without a session cookie it
// makes no database query, so / stays cheap for anyone probing it.
func (h *Handler) home(c echo.Context) error {
	signedIn, err := h.currentLogin(c)
	if err != nil {
		return err
	}
	if signedIn != nil {
		return c.Redirect(http.StatusSeeOther, provider.PathAccount)
	}
	return h.render(c, http.StatusOK, "home", &templates.HomeData{Common: h.common(c, "")})
}

// faviconMaxAge is how long browsers and proxies keep the icon: it changes
// with a release at most.
const faviconMaxAge = "public, max-age=86400"

// favicon answers /favicon.ico, which browsers ask for on every site
// whether or not a page links it, with the embedded icon.
func (h *Handler) favicon() echo.HandlerFunc {
	icon, err := fs.ReadFile(templates.Static(), "favicon.ico")
	if err != nil {
		// The icon is embedded in the binary: its absence is a build error.
		panic(err)
	}
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", faviconMaxAge)
		return c.Blob(http.StatusOK, "image/x-icon", icon)
	}
}

// brandStylesheet answers /static/brand.css, the accent colour of the
// deployment (templates.BrandCSS): a stylesheet of this origin keeps the
// pages' CSP at style-src 'self', with no inline style to allow.
func (h *Handler) brandStylesheet(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", h.brandCSS)
}
