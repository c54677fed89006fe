package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// administration is what the admin API and people's own API keys ask of
// the administration (admin.Admin).
type administration interface {
	Authorize(ctx context.Context, cred provider.Credential) (*provider.Principal, error)
	CreateClient(ctx context.Context, who *provider.Principal, spec admin.ClientSpec) (*storage.Client, string, error)
	ListClients(ctx context.Context, page storage.Page) ([]*storage.Client, string, error)
	Client(ctx context.Context, id string) (*storage.Client, error)
	UpdateClientFromRequest(ctx context.Context, who *provider.Principal, id string, req *admin.AdminClientRequest) (*storage.Client, error)
	DeleteClient(ctx context.Context, who *provider.Principal, id string) error
	RotateClientSecret(ctx context.Context, who *provider.Principal, id string) (*storage.Client, string, error)
	CreateResource(ctx context.Context, who *provider.Principal, spec admin.ResourceSpec) (*storage.Resource, error)
	Resources(ctx context.Context) ([]*storage.Resource, error)
	Resource(ctx context.Context, id string) (*storage.Resource, error)
	ChangeResource(ctx context.Context, who *provider.Principal, id string, change func(*admin.ResourceSpec)) (*storage.Resource, error)
	DeleteResource(ctx context.Context, who *provider.Principal, id string) error
	CreateUser(ctx context.Context, who *provider.Principal, spec admin.UserSpec) (*storage.User, error)
	ListUsers(ctx context.Context, page storage.Page) ([]*storage.User, string, error)
	User(ctx context.Context, id string) (*storage.User, error)
	UpdateUser(ctx context.Context, who *provider.Principal, id string, upd admin.UserUpdate) (*storage.User, error)
	SetUserDisabled(ctx context.Context, who *provider.Principal, id string, disabled bool) (*storage.User, error)
	SetUserPassword(ctx context.Context, who *provider.Principal, id, password string) (*storage.User, error)
	DeleteUser(ctx context.Context, who *provider.Principal, id string) error
	UnlockLogin(ctx context.Context, who *provider.Principal, id string) (*storage.User, *admin.LoginUnlock, error)
	ResetSecondFactors(ctx context.Context, who *provider.Principal, id string) (*storage.User, *admin.SecondFactorReset, error)
	UserGrants(ctx context.Context, userID string) ([]login.AppGrant, error)
	RevokeUserGrant(ctx context.Context, who *provider.Principal, userID, clientID string) (*login.RevokedApp, error)
	UserSessions(ctx context.Context, userID string) ([]login.SessionView, error)
	EndUserSession(ctx context.Context, who *provider.Principal, userID, sid string) (*login.EndedSession, error)
	EndUserSessions(ctx context.Context, who *provider.Principal, userID string) ([]*login.EndedSession, error)
	CreateAPIKey(ctx context.Context, who *provider.Principal, spec admin.APIKeySpec) (*storage.APIKey, string, error)
	APIKeys(ctx context.Context, clientID string) ([]*storage.APIKey, error)
	APIKey(ctx context.Context, id string) (*storage.APIKey, error)
	RevokeAPIKey(ctx context.Context, who *provider.Principal, id string) error
	AuditEvents(ctx context.Context, q storage.AuditQuery) ([]*storage.AuditEvent, string, error)
	DeadMail(ctx context.Context, limit int) ([]admin.DeadMailView, error)
	SendVerification(ctx context.Context, who *provider.Principal, id string) (*storage.User, error)
	selfService
}

// The admin API: JSON over HTTP on the admin listener, for clients and
// users. Every request needs a bearer access token that
// (*admin.Admin).Authorize accepts (but the API's OpenAPI document,
// openapi/admin.yaml, served at PathAdminOpenAPI); every error is an RFC
// 9457 problem document. A change to a route or to a type it decodes or
// answers is a change to openapi/admin.yaml: admin_openapi_test.go checks
// them against each other. The use cases live in package admin (provider/admin); this
// file only maps HTTP to them.

// MaxAdminBodyBytes bounds an admin API request body.
const MaxAdminBodyBytes = 64 << 10

// adminHandler is an admin API route, called once the caller is authorized.
type adminHandler func(c echo.Context, who *provider.Principal) error

// mountAdminAPI adds the admin API under /admin to e (the admin listener).
func (h *Handler) mountAdminAPI(e *echo.Echo) {
	routes := []struct {
		path    string
		methods map[string]adminHandler
	}{
		{"/admin/clients", map[string]adminHandler{http.MethodGet: h.adminListClients, http.MethodPost: h.adminCreateClient}},
		{"/admin/clients/:id", map[string]adminHandler{http.MethodGet: h.adminGetClient, http.MethodPut: h.adminUpdateClient, http.MethodDelete: h.adminDeleteClient}},
		{"/admin/clients/:id/rotate-secret", map[string]adminHandler{http.MethodPost: h.adminRotateSecret}},
		{"/admin/resources", map[string]adminHandler{http.MethodGet: h.adminListResources, http.MethodPost: h.adminCreateResource}},
		{"/admin/resources/:id", map[string]adminHandler{http.MethodGet: h.adminGetResource, http.MethodPut: h.adminUpdateResource, http.MethodDelete: h.adminDeleteResource}},
		{"/admin/users", map[string]adminHandler{http.MethodGet: h.adminListUsers, http.MethodPost: h.adminCreateUser}},
		{"/admin/users/:id", map[string]adminHandler{http.MethodGet: h.adminGetUser, http.MethodPut: h.adminUpdateUser, http.MethodDelete: h.adminDeleteUser}},
		{"/admin/users/:id/disable", map[string]adminHandler{http.MethodPost: h.adminDisableUser}},
		{"/admin/users/:id/enable", map[string]adminHandler{http.MethodPost: h.adminEnableUser}},
		{"/admin/users/:id/unlock", map[string]adminHandler{http.MethodPost: h.adminUnlockUser}},
		{"/admin/users/:id/reset-mfa", map[string]adminHandler{http.MethodPost: h.adminResetUserMFA}},
		{"/admin/users/:id/send-verification", map[string]adminHandler{http.MethodPost: h.adminSendVerification}},
		{"/admin/users/:id/password", map[string]adminHandler{http.MethodPut: h.adminSetPassword}},
		{"/admin/users/:id/grants", map[string]adminHandler{http.MethodGet: h.adminListUserGrants}},
		{"/admin/users/:id/grants/:client_id", map[string]adminHandler{http.MethodDelete: h.adminRevokeUserGrant}},
		{"/admin/users/:id/sessions", map[string]adminHandler{http.MethodGet: h.adminListUserSessions, http.MethodDelete: h.adminEndUserSessions}},
		{"/admin/users/:id/sessions/:sid", map[string]adminHandler{http.MethodDelete: h.adminEndUserSession}},
		{"/admin/apikeys", map[string]adminHandler{http.MethodGet: h.adminListAPIKeys, http.MethodPost: h.adminCreateAPIKey}},
		{"/admin/apikeys/:id", map[string]adminHandler{http.MethodGet: h.adminGetAPIKey, http.MethodDelete: h.adminRevokeAPIKey}},
		{"/admin/audit", map[string]adminHandler{http.MethodGet: h.adminListAuditEvents}},
		{"/admin/mail/dead", map[string]adminHandler{http.MethodGet: h.adminListDeadMail}},
	}
	for _, r := range routes {
		methods := make(map[string]echo.HandlerFunc, len(r.methods))
		for method, fn := range r.methods {
			methods[method] = h.admin(fn)
		}
		addProblemRoutes(e, r.path, methods)
	}
	doc := h.adminOpenAPI()
	addProblemRoutes(e, PathAdminOpenAPI, map[string]echo.HandlerFunc{http.MethodGet: doc, http.MethodHead: doc})
	notFound := func(c echo.Context) error {
		return writeAdminProblem(c, http.StatusNotFound, "There is no such admin API resource.", nil)
	}
	e.RouteNotFound("/admin", notFound)
	e.RouteNotFound("/admin/*", notFound)
}

// addProblemRoutes adds the methods of a JSON API resource (with
// no-store), and answers every other method with a 405 problem document
// naming the allowed ones.
func addProblemRoutes(e *echo.Echo, path string, methods map[string]echo.HandlerFunc) {
	all := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}
	var allowed []string
	for method, fn := range methods {
		e.Add(method, path, fn, noStore)
		allowed = append(allowed, method)
	}
	slices.Sort(allowed)
	var others []string
	for _, m := range all {
		if !slices.Contains(allowed, m) {
			others = append(others, m)
		}
	}
	allow := strings.Join(allowed, ", ")
	e.Match(others, path, func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderAllow, allow)
		return writeAdminProblem(c, http.StatusMethodNotAllowed, "This resource does not support "+c.Request().Method+".", nil)
	}, noStore)
}

// admin authorizes the request, then runs fn; any error fn returns
// becomes a problem document.
func (h *Handler) admin(fn adminHandler) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		cred := accessCredential(c.Request(), adminURL(c.Request()))
		who, err := h.adm.Authorize(ctx, cred)
		if err == nil {
			h.setDPoPNonce(c, cred)
			err = fn(c, who)
		}
		if err != nil {
			return h.apiProblem(c, err, adminAPI, cred)
		}
		return nil
	}
}

// adminProblemDoc is an RFC 9457 problem document; errors lists the fields of an
// invalid request (an extension member).
type adminProblemDoc struct {
	Type   string          `json:"type"`
	Title  string          `json:"title"`
	Status int             `json:"status"`
	Detail string          `json:"detail,omitempty"`
	Errors []admin.Problem `json:"errors,omitempty"`
}

func writeAdminProblem(c echo.Context, status int, detail string, errs []admin.Problem) error {
	var buf bytes.Buffer
	// encoding/json escapes <, > and &: nothing is reflected as markup.
	if err := json.NewEncoder(&buf).Encode(adminProblemDoc{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Errors: errs}); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(status, "application/problem+json", buf.Bytes())
}

// adminError is an HTTP-level failure of an admin request (body, query).
type adminError struct {
	status int
	detail string
	errs   []admin.Problem
}

func (e *adminError) Error() string { return e.detail }

func adminBadInput(field, msg string) *adminError {
	return &adminError{status: http.StatusBadRequest, detail: field + ": " + msg, errs: []admin.Problem{{Field: field, Message: msg}}}
}

// adminNotFoundError says which kind of resource does not exist.
type adminNotFoundError struct{ what string }

func (e adminNotFoundError) Error() string { return "no such " + e.what }

// bearerAPI describes one of gatehouse's own JSON APIs that take a bearer
// access token: how it is named in logs and challenges, the scope it
// needs, and who it serves (for the 403's detail).
type bearerAPI struct {
	name, realm, scope, serves string
}

var (
	adminAPI = bearerAPI{name: "admin api", realm: "gatehouse-admin", scope: provider.ScopeAdmin,
		serves: "belong to an admin user or to a client granted that scope"}
	keysAPI = bearerAPI{name: "api keys", realm: "gatehouse", scope: provider.ScopeAPIKeys,
		serves: "be issued to a person"}
)

// apiProblem is the one place where an error of a JSON API (the admin API,
// the self-service key API) becomes its RFC 9457 problem document: a
// missing or refused access token (cred) with its RFC 6750 and RFC 9449
// challenges, bad input,
// unknown ids, conflicts, storage trouble. The server's own failures are
// logged, never shown.
func (h *Handler) apiProblem(c echo.Context, err error, api bearerAPI, cred provider.Credential) error {
	var (
		ae   *adminError
		ve   *admin.ValidationError
		ke   *admin.APIKeyInputError
		nf   adminNotFoundError
		ctx  = c.Request().Context()
		what = api.name
	)
	switch {
	case errors.Is(err, provider.ErrBearerUnauthorized):
		h.log.InfoContext(ctx, what+": unauthorized", "reason", err.Error())
		ch, detail := challenge{realm: api.realm}, "A valid access token with scope "+api.scope+" is required."
		var refused *dpop.Error
		switch {
		case errors.As(err, &refused):
			// RFC 9449 §7.1: the proof's error, on the DPoP challenge.
			ch.errCode, detail = refused.Code, dpopProblemDetail(refused.Code)
		case cred.Token != "":
			ch.errCode = "invalid_token"
		}
		h.setChallenges(c, cred, ch, err)
		return writeAdminProblem(c, http.StatusUnauthorized, detail, nil)
	case errors.Is(err, provider.ErrBearerForbidden):
		h.log.InfoContext(ctx, what+": forbidden", "reason", err.Error())
		h.setChallenges(c, cred, challenge{realm: api.realm, errCode: "insufficient_scope", scope: api.scope}, err)
		return writeAdminProblem(c, http.StatusForbidden, "The access token must carry scope "+api.scope+" and "+api.serves+".", nil)
	case errors.Is(err, admin.ErrNotClientManager):
		h.log.InfoContext(ctx, what+": forbidden", "reason", err.Error())
		return writeAdminProblem(c, http.StatusForbidden, "You may manage the API keys only of clients you own, and not of a client allowed a management scope (an administrator manages those).", nil)
	case errors.As(err, &ae):
		return writeAdminProblem(c, ae.status, ae.detail, ae.errs)
	case errors.As(err, &ve):
		return writeAdminProblem(c, http.StatusBadRequest, strings.ReplaceAll(ve.Error(), "\n", "; "), ve.Problems)
	case errors.As(err, &ke):
		return writeAdminProblem(c, http.StatusBadRequest, ke.Field+": "+ke.Message, []admin.Problem{{Field: ke.Field, Message: ke.Message}})
	case errors.As(err, &nf):
		return writeAdminProblem(c, http.StatusNotFound, "No "+nf.what+" has this id.", nil)
	case errors.Is(err, storage.ErrNotFound):
		return writeAdminProblem(c, http.StatusNotFound, "No such resource.", nil)
	case errors.Is(err, storage.ErrConflict):
		return writeAdminProblem(c, http.StatusConflict, "Another record already uses this value (for a user: the e-mail address).", nil)
	case clientGone(ctx, err):
		h.log.InfoContext(ctx, what+": the client went away before the answer", "path", c.Path())
		return writeAdminProblem(c, http.StatusBadRequest, requestCancelled, nil)
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		h.log.WarnContext(ctx, what+": unavailable", "path", c.Path(), "err", err)
		return writeAdminProblem(c, http.StatusServiceUnavailable, "The service is temporarily unavailable. Please try again shortly.", nil)
	}
	h.log.ErrorContext(ctx, what+" request failed", "path", c.Path(), "err", err)
	return writeAdminProblem(c, http.StatusInternalServerError, "Something went wrong on our side.", nil)
}

// dpopProblemDetail is the detail of a problem document refusing a DPoP
// proof (RFC 9449 §7.1, §9).
func dpopProblemDetail(code string) string {
	if code == dpop.CodeUseNonce {
		return "The DPoP proof must carry the server's nonce: retry with the one in the DPoP-Nonce header."
	}
	return "The DPoP proof is missing, malformed, reused, too old, or does not match this request, this access token or the key it is bound to."
}

// decodeAdminBody reads a JSON object into v: Content-Type application/json,
// at most MaxAdminBodyBytes, no unknown members, nothing after it.
func decodeAdminBody(c echo.Context, v any) error {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return &adminError{status: http.StatusUnsupportedMediaType, detail: "The request body must be JSON (Content-Type: application/json)."}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, MaxAdminBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		var he *echo.HTTPError
		if errors.As(err, &tooLarge) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) {
			return &adminError{status: http.StatusRequestEntityTooLarge, detail: fmt.Sprintf("The request body is larger than %d KiB.", MaxAdminBodyBytes>>10)}
		}
		return &adminError{status: http.StatusBadRequest, detail: "The request body could not be read."}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return adminBadInput(typeErr.Field, "has the wrong JSON type")
	case errors.As(err, &typeErr):
		return &adminError{status: http.StatusBadRequest, detail: "The request body must be a JSON object."}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return adminBadInput(field, "is not a known field")
	}
	return &adminError{status: http.StatusBadRequest, detail: "The request body is not a valid JSON object."}
}

// adminPageParams reads ?limit= (default 50, at most 500) and ?after=<id>.
func adminPageParams(c echo.Context) (storage.Page, error) {
	page := storage.Page{Limit: admin.DefaultPageLimit, After: c.QueryParam("after")}
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > admin.MaxPageLimit {
			return page, adminBadInput("limit", fmt.Sprintf("must be a whole number from 1 to %d", admin.MaxPageLimit))
		}
		page.Limit = n
	}
	if page.After != "" && !validID(page.After) {
		return page, adminBadInput("after", "is not an id")
	}
	return page, nil
}

// adminList is the shape of every listing.
type adminList[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// adminID reads the :id path parameter; one that cannot be an id names
// nothing (404).
func adminID(c echo.Context, what string) (string, error) {
	v := c.Param("id")
	if !validID(v) {
		return "", adminNotFoundError{what}
	}
	return v, nil
}

// queryClientID reads the optional ?client_id= of a key listing; one that
// cannot be an id names no client (404).
func queryClientID(c echo.Context) (string, error) {
	v := c.QueryParam("client_id")
	if v != "" && !validID(v) {
		return "", adminNotFoundError{"client"}
	}
	return v, nil
}

func adminNotFoundAs(err error, what string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return adminNotFoundError{what}
	}
	return err
}

// --- clients ---

func (h *Handler) adminListClients(c echo.Context, _ *provider.Principal) error {
	page, err := adminPageParams(c)
	if err != nil {
		return err
	}
	clients, next, err := h.adm.ListClients(c.Request().Context(), page)
	if err != nil {
		return err
	}
	out := adminList[admin.ClientView]{Items: make([]admin.ClientView, 0, len(clients)), Next: next}
	for _, cl := range clients {
		out.Items = append(out.Items, admin.ClientViewOf(cl, ""))
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) adminCreateClient(c echo.Context, who *provider.Principal) error {
	var body admin.AdminClientRequest
	if err := decodeAdminBody(c, &body); err != nil {
		return err
	}
	cl, plain, err := h.adm.CreateClient(c.Request().Context(), who, body.Spec())
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/clients/"+cl.ID)
	return c.JSON(http.StatusCreated, admin.ClientViewOf(cl, plain))
}

func (h *Handler) adminGetClient(c echo.Context, _ *provider.Principal) error {
	cid, err := adminID(c, "client")
	if err != nil {
		return err
	}
	cl, err := h.adm.Client(c.Request().Context(), cid)
	if err != nil {
		return adminNotFoundAs(err, "client")
	}
	return c.JSON(http.StatusOK, admin.ClientViewOf(cl, ""))
}

func (h *Handler) adminUpdateClient(c echo.Context, who *provider.Principal) error {
	cid, err := adminID(c, "client")
	if err != nil {
		return err
	}
	var body admin.AdminClientRequest
	if err := decodeAdminBody(c, &body); err != nil {
		return err
	}
	cl, err := h.adm.UpdateClientFromRequest(c.Request().Context(), who, cid, &body)
	if err != nil {
		return adminNotFoundAs(err, "client")
	}
	return c.JSON(http.StatusOK, admin.ClientViewOf(cl, ""))
}

func (h *Handler) adminDeleteClient(c echo.Context, who *provider.Principal) error {
	cid, err := adminID(c, "client")
	if err != nil {
		return err
	}
	if err := h.adm.DeleteClient(c.Request().Context(), who, cid); err != nil {
		return adminNotFoundAs(err, "client")
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handler) adminRotateSecret(c echo.Context, who *provider.Principal) error {
	cid, err := adminID(c, "client")
	if err != nil {
		return err
	}
	cl, plain, err := h.adm.RotateClientSecret(c.Request().Context(), who, cid)
	if err != nil {
		return adminNotFoundAs(err, "client")
	}
	return c.JSON(http.StatusOK, admin.ClientViewOf(cl, plain))
}

// --- protected resources ---

// adminResourceID reads the :id path parameter of /admin/resources/:id:
// the resource indicator, percent-encoded as one path segment (its
// slashes as %2F). One that is not a resource indicator names nothing
// (404).
func adminResourceID(c echo.Context) (string, error) {
	v := c.Param("id")
	if c.Request().URL.RawPath != "" {
		// The router matched the escaped path; the parameter is still
		// escaped.
		var err error
		if v, err = url.PathUnescape(v); err != nil {
			return "", adminNotFoundError{"resource"}
		}
	}
	if !provider.ValidResourceIndicator(v) {
		return "", adminNotFoundError{"resource"}
	}
	return v, nil
}

func (h *Handler) adminListResources(c echo.Context, _ *provider.Principal) error {
	list, err := h.adm.Resources(c.Request().Context())
	if err != nil {
		return err
	}
	// Resources are few: one page holds them all.
	out := adminList[admin.ResourceView]{Items: make([]admin.ResourceView, 0, len(list))}
	for _, r := range list {
		out.Items = append(out.Items, admin.ResourceViewOf(r))
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) adminCreateResource(c echo.Context, who *provider.Principal) error {
	var body admin.ResourceRequest
	if err := decodeAdminBody(c, &body); err != nil {
		return err
	}
	r, err := h.adm.CreateResource(c.Request().Context(), who, body.Spec())
	if errors.Is(err, storage.ErrConflict) {
		return &adminError{status: http.StatusConflict, detail: "A resource with this identifier is already registered; change it with PUT.",
			errs: []admin.Problem{{Field: "resource", Message: "is already registered"}}}
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/resources/"+url.PathEscape(r.ID))
	return c.JSON(http.StatusCreated, admin.ResourceViewOf(r))
}

func (h *Handler) adminGetResource(c echo.Context, _ *provider.Principal) error {
	id, err := adminResourceID(c)
	if err != nil {
		return err
	}
	r, err := h.adm.Resource(c.Request().Context(), id)
	if err != nil {
		return adminNotFoundAs(err, "resource")
	}
	return c.JSON(http.StatusOK, admin.ResourceViewOf(r))
}

// adminUpdateResource replaces a resource's settings with the body's; its
// resource member may be left out, and otherwise must name the resource
// of the path (the identifier cannot change).
func (h *Handler) adminUpdateResource(c echo.Context, who *provider.Principal) error {
	id, err := adminResourceID(c)
	if err != nil {
		return err
	}
	var body admin.ResourceRequest
	if err := decodeAdminBody(c, &body); err != nil {
		return err
	}
	if body.Resource == "" {
		body.Resource = id
	}
	r, err := h.adm.ChangeResource(c.Request().Context(), who, id, func(spec *admin.ResourceSpec) { *spec = body.Spec() })
	if err != nil {
		return adminNotFoundAs(err, "resource")
	}
	return c.JSON(http.StatusOK, admin.ResourceViewOf(r))
}

func (h *Handler) adminDeleteResource(c echo.Context, who *provider.Principal) error {
	id, err := adminResourceID(c)
	if err != nil {
		return err
	}
	if err := h.adm.DeleteResource(c.Request().Context(), who, id); err != nil {
		return adminNotFoundAs(err, "resource")
	}
	return c.NoContent(http.StatusNoContent)
}

// --- users ---

func (h *Handler) adminListUsers(c echo.Context, _ *provider.Principal) error {
	page, err := adminPageParams(c)
	if err != nil {
		return err
	}
	users, next, err := h.adm.ListUsers(c.Request().Context(), page)
	if err != nil {
		return err
	}
	out := adminList[admin.UserView]{Items: make([]admin.UserView, 0, len(users)), Next: next}
	for _, u := range users {
		out.Items = append(out.Items, admin.UserViewOf(u))
	}
	return c.JSON(http.StatusOK, out)
}

type adminUserCreateBody struct {
	Email         string   `json:"email"`
	Password      string   `json:"password"`
	Name          string   `json:"name"`
	EmailVerified bool     `json:"email_verified"`
	Roles         []string `json:"roles"`
}

type adminUserUpdateBody struct {
	Email         string   `json:"email"`
	Name          string   `json:"name"`
	EmailVerified bool     `json:"email_verified"`
	Roles         []string `json:"roles"`
}

type adminPasswordBody struct {
	Password string `json:"password"`
}

func (h *Handler) adminCreateUser(c echo.Context, who *provider.Principal) error {
	var body adminUserCreateBody
	if err := decodeAdminBody(c, &body); err != nil {
		return err
	}
	u, err := h.adm.CreateUser(c.Request().Context(), who, admin.UserSpec{
		Email: body.Email, Password: body.Password, Name: body.Name, Roles: body.Roles, EmailVerified: body.EmailVerified,
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/users/"+u.ID)
	return c.JSON(http.StatusCreated, admin.UserViewOf(u))
}

func (h *Handler) adminGetUser(c echo.Context, _ *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	u, err := h.adm.User(c.Request().Context(), uid)
	if err != nil {
		return adminNotFoundAs(err, "user")
	}
	return c.JSON(http.StatusOK, admin.UserViewOf(u))
}

func (h *Handler) adminUpdateUser(c echo.Context, who *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	var body adminUserUpdateBody
	if err := decodeAdminBody(c, &body); err != nil {
		return err
	}
	u, err := h.adm.UpdateUser(c.Request().Context(), who, uid, admin.UserUpdate{
		Email: body.Email, Name: body.Name, EmailVerified: body.EmailVerified, Roles: body.Roles,
	})
	if err != nil {
		return adminNotFoundAs(err, "user")
	}
	return c.JSON(http.StatusOK, admin.UserViewOf(u))
}

func (h *Handler) adminDeleteUser(c echo.Context, who *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	if err := h.adm.DeleteUser(c.Request().Context(), who, uid); err != nil {
		return adminNotFoundAs(err, "user")
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handler) adminDisableUser(c echo.Context, who *provider.Principal) error {
	return h.adminSetDisabled(c, who, true)
}

func (h *Handler) adminEnableUser(c echo.Context, who *provider.Principal) error {
	return h.adminSetDisabled(c, who, false)
}

func (h *Handler) adminSetDisabled(c echo.Context, who *provider.Principal, disabled bool) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	u, err := h.adm.SetUserDisabled(c.Request().Context(), who, uid, disabled)
	if err != nil {
		return adminNotFoundAs(err, "user")
	}
	return c.JSON(http.StatusOK, admin.UserViewOf(u))
}

// adminUnlockUser lifts the lock that failed password sign-ins put on a
// user and clears their count (as `gatehouse users unlock` does).
func (h *Handler) adminUnlockUser(c echo.Context, who *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	u, res, err := h.adm.UnlockLogin(c.Request().Context(), who, uid)
	if err != nil {
		return adminNotFoundAs(err, "user")
	}
	return c.JSON(http.StatusOK, admin.LoginUnlockViewOf(u, res))
}

// adminResetUserMFA removes a user's second factors and ends their
// sessions (as `gatehouse users reset-mfa` does).
func (h *Handler) adminResetUserMFA(c echo.Context, who *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	u, res, err := h.adm.ResetSecondFactors(c.Request().Context(), who, uid)
	if err != nil {
		return adminNotFoundAs(err, "user")
	}
	return c.JSON(http.StatusOK, admin.SecondFactorResetViewOf(u, res))
}

// adminListUserGrants lists the apps a user has allowed, each with the API
// keys it made for them that still work.
func (h *Handler) adminListUserGrants(c echo.Context, _ *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	grants, err := h.adm.UserGrants(c.Request().Context(), uid)
	if err != nil {
		return adminNotFoundAs(err, "user")
	}
	now := h.now()
	out := adminList[admin.AppGrantView]{Items: make([]admin.AppGrantView, 0, len(grants))}
	for _, g := range grants {
		out.Items = append(out.Items, admin.AppGrantViewOf(g, now))
	}
	return c.JSON(http.StatusOK, out)
}

// adminRevokeUserGrant withdraws a user's consent for an app (as the user
// can at /account/apps): the app's tokens for them stop working at once,
// and the answer lists the API keys the app made for them, which still
// work until revoked.
func (h *Handler) adminRevokeUserGrant(c echo.Context, who *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	clientID := c.Param("client_id")
	if !validID(clientID) {
		return adminNotFoundError{"grant"}
	}
	revoked, err := h.adm.RevokeUserGrant(c.Request().Context(), who, uid, clientID)
	if err != nil {
		return adminNotFoundAs(err, "user or grant")
	}
	return c.JSON(http.StatusOK, admin.RevokedAppViewOf(uid, revoked, h.now()))
}

// adminListUserSessions lists a user's login sessions, each with the apps
// that got tokens in it.
func (h *Handler) adminListUserSessions(c echo.Context, _ *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	views, err := h.adm.UserSessions(c.Request().Context(), uid)
	if err != nil {
		return adminNotFoundAs(err, "user")
	}
	out := adminList[admin.SessionView]{Items: make([]admin.SessionView, 0, len(views))}
	for _, v := range views {
		out.Items = append(out.Items, admin.SessionViewOf(v))
	}
	return c.JSON(http.StatusOK, out)
}

// adminEndUserSession ends one of a user's login sessions (by its sid):
// its apps are told through the back channel.
func (h *Handler) adminEndUserSession(c echo.Context, who *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	sid := c.Param("sid")
	if !validID(sid) {
		return adminNotFoundError{"session"}
	}
	ended, err := h.adm.EndUserSession(c.Request().Context(), who, uid, sid)
	if err != nil {
		return adminNotFoundAs(err, "user or session")
	}
	return c.JSON(http.StatusOK, admin.EndedSessionViewOf(ended))
}

// adminEndUserSessions ends every login session of a user.
func (h *Handler) adminEndUserSessions(c echo.Context, who *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	ended, err := h.adm.EndUserSessions(c.Request().Context(), who, uid)
	if err != nil {
		return adminNotFoundAs(err, "user")
	}
	out := adminList[admin.EndedSessionView]{Items: make([]admin.EndedSessionView, 0, len(ended))}
	for _, e := range ended {
		out.Items = append(out.Items, admin.EndedSessionViewOf(e))
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) adminSetPassword(c echo.Context, who *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	var body adminPasswordBody
	if err := decodeAdminBody(c, &body); err != nil {
		return err
	}
	if _, err := h.adm.SetUserPassword(c.Request().Context(), who, uid, body.Password); err != nil {
		return adminNotFoundAs(err, "user")
	}
	return c.NoContent(http.StatusNoContent)
}

// --- API keys ---

// apiKeyCreateBody is the body that creates an API key, in the admin API
// and in self-service: scope is space-separated (default: all the
// client's scopes), expires_in the key's lifetime in whole seconds (0 or
// left out: the key does not expire).
type apiKeyCreateBody struct {
	ClientID  string `json:"client_id"`
	Name      string `json:"name"`
	Scope     string `json:"scope"`
	ExpiresIn int64  `json:"expires_in"`
}

// spec checks the body's shape; the use case checks the rest.
func (b *apiKeyCreateBody) spec() (admin.APIKeySpec, error) {
	if b.ClientID == "" {
		return admin.APIKeySpec{}, adminBadInput("client_id", "required")
	}
	if !validID(b.ClientID) {
		return admin.APIKeySpec{}, adminBadInput("client_id", "is not a client id")
	}
	maxSeconds := int64(admin.MaxAPIKeyLifetime / time.Second)
	if b.ExpiresIn < 0 || b.ExpiresIn > maxSeconds {
		return admin.APIKeySpec{}, adminBadInput("expires_in", fmt.Sprintf("must be a whole number of seconds from 0 (never) to %d", maxSeconds))
	}
	return admin.APIKeySpec{
		ClientID: b.ClientID, Name: b.Name, Scopes: strings.Fields(b.Scope),
		ExpiresIn: time.Duration(b.ExpiresIn) * time.Second,
	}, nil
}

// apiKeyList is the shape of key listings (next is always "": keys are
// few per client and listed whole).
func (h *Handler) apiKeyList(keys []*storage.APIKey) adminList[admin.APIKeyView] {
	now := h.now()
	out := adminList[admin.APIKeyView]{Items: make([]admin.APIKeyView, 0, len(keys))}
	for _, k := range keys {
		out.Items = append(out.Items, admin.APIKeyViewOf(k, "", now))
	}
	return out
}

func (h *Handler) adminCreateAPIKey(c echo.Context, who *provider.Principal) error {
	var body apiKeyCreateBody
	if err := decodeAdminBody(c, &body); err != nil {
		return err
	}
	spec, err := body.spec()
	if err != nil {
		return err
	}
	k, plain, err := h.adm.CreateAPIKey(c.Request().Context(), who, spec)
	if err != nil {
		return adminNotFoundAs(err, "client")
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/apikeys/"+k.ID)
	return c.JSON(http.StatusCreated, admin.APIKeyViewOf(k, plain, h.now()))
}

func (h *Handler) adminListAPIKeys(c echo.Context, _ *provider.Principal) error {
	clientID, err := queryClientID(c)
	if err != nil {
		return err
	}
	keys, err := h.adm.APIKeys(c.Request().Context(), clientID)
	if err != nil {
		return adminNotFoundAs(err, "client")
	}
	return c.JSON(http.StatusOK, h.apiKeyList(keys))
}

func (h *Handler) adminGetAPIKey(c echo.Context, _ *provider.Principal) error {
	id, err := adminID(c, "API key")
	if err != nil {
		return err
	}
	k, err := h.adm.APIKey(c.Request().Context(), id)
	if err != nil {
		return adminNotFoundAs(err, "API key")
	}
	return c.JSON(http.StatusOK, admin.APIKeyViewOf(k, "", h.now()))
}

func (h *Handler) adminRevokeAPIKey(c echo.Context, who *provider.Principal) error {
	id, err := adminID(c, "API key")
	if err != nil {
		return err
	}
	if err := h.adm.RevokeAPIKey(c.Request().Context(), who, id); err != nil {
		return adminNotFoundAs(err, "API key")
	}
	return c.NoContent(http.StatusNoContent)
}

// --- audit trail ---

// adminAuditList is the shape of GET /admin/audit (as `gatehouse audit
// --json` prints it): newest first; next continues as ?before=.
type adminAuditList struct {
	Events []admin.AuditEventView `json:"events"`
	Next   string                 `json:"next"`
}

// adminListAuditEvents answers GET /admin/audit?since=&until=&type=
// &subject=&actor=&client_id=&limit=&before=. since and until take a
// duration before now (1h, 7d) or an RFC 3339 time; type an exact type or
// a prefix ending in "."; limit 1 to storage.MaxAuditLimit (default
// storage.DefaultAuditLimit).
func (h *Handler) adminListAuditEvents(c echo.Context, _ *provider.Principal) error {
	var q storage.AuditQuery
	now := h.now()
	for _, p := range []struct {
		name string
		into *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		raw := c.QueryParam(p.name)
		if raw == "" {
			continue
		}
		t, err := admin.ParseAuditTime(raw, now)
		if err != nil {
			return adminBadInput(p.name, "must be a duration before now (1h, 7d) or an RFC 3339 time")
		}
		*p.into = t
	}
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > storage.MaxAuditLimit {
			return adminBadInput("limit", fmt.Sprintf("must be a whole number from 1 to %d", storage.MaxAuditLimit))
		}
		q.Limit = n
	}
	q.Type, q.Subject, q.Actor = c.QueryParam("type"), c.QueryParam("subject"), c.QueryParam("actor")
	q.ClientID, q.Before = c.QueryParam("client_id"), c.QueryParam("before")
	events, next, err := h.adm.AuditEvents(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, adminAuditList{Events: admin.AuditEventViews(events), Next: next})
}

// --- e-mail ---

// adminListDeadMail answers GET /admin/mail/dead?limit=: the e-mail
// gatehouse gave up sending, most recent first (as `gatehouse mail dead
// --json` prints it).
func (h *Handler) adminListDeadMail(c echo.Context, _ *provider.Principal) error {
	limit := admin.MaxDeadMail
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > admin.MaxDeadMail {
			return adminBadInput("limit", fmt.Sprintf("must be a whole number from 1 to %d", admin.MaxDeadMail))
		}
		limit = n
	}
	items, err := h.adm.DeadMail(c.Request().Context(), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Items []admin.DeadMailView `json:"items"`
	}{items})
}

// adminSendVerification has a verification link e-mailed to the user
// (as `gatehouse users send-verification` does): 202, the message is
// queued; 400 when the address is verified already or gatehouse sends no
// e-mail.
func (h *Handler) adminSendVerification(c echo.Context, who *provider.Principal) error {
	uid, err := adminID(c, "user")
	if err != nil {
		return err
	}
	u, err := h.adm.SendVerification(c.Request().Context(), who, uid)
	if err != nil {
		return adminNotFoundAs(err, "user")
	}
	return c.JSON(http.StatusAccepted, admin.UserViewOf(u))
}
