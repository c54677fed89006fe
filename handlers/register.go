package handlers

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/registration"
)

// registrar is what the registration endpoints ask of RFC 7591/7592
// registration (registration.Registration).
type registrar interface {
	Register(ctx context.Context, bearer string, body []byte) (*admin.ClientMetadata, error)
	Client(ctx context.Context, clientID, accessToken string) (*admin.ClientMetadata, error)
	Update(ctx context.Context, clientID, accessToken string, body []byte) (*admin.ClientMetadata, error)
	Delete(ctx context.Context, clientID, accessToken string) error
}

// MaxRegistrationBodyBytes bounds a registration or update request.
const MaxRegistrationBodyBytes = 64 << 10

// mountRegistration serves dynamic client registration (RFC 7591) at
// provider.PathRegister and client configuration management (RFC 7592)
// below it, unless the registration policy is off (then nothing is
// mounted: 404).
func (h *Handler) mountRegistration(e *echo.Echo) {
	if h.reg == nil {
		return
	}
	e.POST(provider.PathRegister, h.register, h.limitIP(rlRegister), noStore)
	client := provider.PathRegister + "/:client_id"
	e.GET(client, h.registrationRead, h.limitIP(rlRegister), noStore)
	e.PUT(client, h.registrationUpdate, h.limitIP(rlRegister), noStore)
	e.DELETE(client, h.registrationDelete, h.limitIP(rlRegister), noStore)
}

// register is the RFC 7591 registration endpoint.
func (h *Handler) register(c echo.Context) error {
	body, rerr := registrationBody(c)
	if rerr != nil {
		return h.registrationError(c, rerr)
	}
	m, err := h.reg.Register(c.Request().Context(), bearerToken(c.Request()), body)
	if err != nil {
		return h.registrationError(c, err)
	}
	return c.JSON(http.StatusCreated, m)
}

// registrationClientID reads the :client_id path parameter of a client
// configuration endpoint. One that cannot be an id names no client, which
// RFC 7592 §2.1-2.3 answers like a wrong token: 401 invalid_token.
func registrationClientID(c echo.Context) (string, error) {
	id := c.Param("client_id")
	if !validID(id) {
		return "", registration.ErrAccessDenied
	}
	return id, nil
}

// registrationRead is an RFC 7592 read.
func (h *Handler) registrationRead(c echo.Context) error {
	id, err := registrationClientID(c)
	if err != nil {
		return h.registrationError(c, err)
	}
	m, err := h.reg.Client(c.Request().Context(), id, bearerToken(c.Request()))
	if err != nil {
		return h.registrationError(c, err)
	}
	return c.JSON(http.StatusOK, m)
}

// registrationUpdate is an RFC 7592 update (full replacement).
func (h *Handler) registrationUpdate(c echo.Context) error {
	id, err := registrationClientID(c)
	if err != nil {
		return h.registrationError(c, err)
	}
	body, rerr := registrationBody(c)
	if rerr != nil {
		return h.registrationError(c, rerr)
	}
	m, err := h.reg.Update(c.Request().Context(), id, bearerToken(c.Request()), body)
	if err != nil {
		return h.registrationError(c, err)
	}
	return c.JSON(http.StatusOK, m)
}

// registrationDelete is an RFC 7592 delete.
func (h *Handler) registrationDelete(c echo.Context) error {
	id, err := registrationClientID(c)
	if err != nil {
		return h.registrationError(c, err)
	}
	if err := h.reg.Delete(c.Request().Context(), id, bearerToken(c.Request())); err != nil {
		return h.registrationError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// registrationBody reads a JSON request body of bounded size.
func registrationBody(c echo.Context) ([]byte, *registration.Error) {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return nil, &registration.Error{Status: http.StatusBadRequest, Code: admin.ErrorInvalidClientMetadata,
			Description: "The request body must be JSON (Content-Type: application/json)."}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, MaxRegistrationBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		var he *echo.HTTPError
		if errors.As(err, &tooLarge) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) {
			return nil, &registration.Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request",
				Description: "The request body is larger than 64 KiB."}
		}
		return nil, &registration.Error{Status: http.StatusBadRequest, Code: "invalid_request",
			Description: "The request body could not be read."}
	}
	return body, nil
}

// registrationError answers an RFC 7591 / 7592 error as JSON; failures
// that are not the client's go to the error handler (503, 500).
func (h *Handler) registrationError(c echo.Context, err error) error {
	var re *registration.Error
	if !errors.As(err, &re) {
		return err
	}
	if re.Status == http.StatusUnauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
	}
	return c.JSON(re.Status, map[string]string{"error": re.Code, "error_description": re.Description})
}
