package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/handlers/openapi"
)

// PathAdminOpenAPI is where the admin listener serves the admin API's
// OpenAPI 3.1 document.
const PathAdminOpenAPI = "/admin/openapi.json"

// adminOpenAPI serves the admin API's OpenAPI document (GET and HEAD)
// without a token: it describes the API and grants nothing, and tools
// (code generators, API explorers) fetch it before they hold a token. It
// is cacheable (RFC 9111 §5.2.2.9 public, with a strong ETag so a client
// revalidates with If-None-Match, RFC 9110 §13.1.2), unlike every other
// admin answer.
func (h *Handler) adminOpenAPI() echo.HandlerFunc {
	doc, err := openapi.AdminJSON()
	if err != nil {
		// A broken embedded document is a build defect the tests catch;
		// the listener still serves everything else.
		h.log.Error("admin api: the OpenAPI document does not load", "err", err)
		return func(c echo.Context) error {
			return writeAdminProblem(c, http.StatusInternalServerError, "Something went wrong on our side.", nil)
		}
	}
	sum := sha256.Sum256(doc)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	return func(c echo.Context) error {
		hdr := c.Response().Header()
		hdr.Del("Pragma")
		hdr.Set("Cache-Control", "public, max-age=300")
		hdr.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		hdr.Set("ETag", etag)
		hdr.Set("X-Content-Type-Options", "nosniff")
		// ServeContent answers If-None-Match with 304 and HEAD without a body.
		http.ServeContent(c.Response(), c.Request(), "openapi.json", time.Time{}, bytes.NewReader(doc))
		return nil
	}
}
