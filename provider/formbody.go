package provider

import (
	"mime"
	"net/http"
	"strings"

	"github.com/ory/fosite"
)

// errNotFormBody answers a request to an endpoint that takes client
// requests (token, PAR, introspection, revocation) whose body is not a
// form: RFC 6749 §3.2 (and RFC 9126 §2.1, RFC 7662 §2.1, RFC 7009 §2.1)
// has the parameters sent as application/x-www-form-urlencoded. Without
// this check such a body is simply not read, and fosite answers that "the
// POST body can not be empty", or that a parameter is missing.
var errNotFormBody = fosite.ErrInvalidRequest.WithHint(
	"The request body must be application/x-www-form-urlencoded (RFC 6749 §3.2).")

// requireFormBody refuses a POST whose body is not a form. An empty body
// passes (the endpoint then says what is missing), and so does
// multipart/form-data, which Go parses as a form and gatehouse has always
// accepted.
func requireFormBody(r *http.Request) error {
	if r.Method != http.MethodPost {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if r.ContentLength == 0 {
			return nil
		}
		return errNotFormBody
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return errNotFormBody
	}
	switch strings.ToLower(mt) {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		return nil
	}
	return errNotFormBody
}
