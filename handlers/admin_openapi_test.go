package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/gatehouse-dev/gatehouse/handlers/openapi"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// The admin API's OpenAPI document (openapi/admin.yaml) is checked
// against the handlers here, so that the two cannot drift: every route is
// documented and every documented operation exists (TestAdminOpenAPIRoutes),
// the schemas name exactly the JSON members of the Go types the handlers
// decode and answer (TestAdminOpenAPISchemasMatchGoTypes), and real answers
// of a real server validate against the document, as do the examples, whose
// required members the server really requires (TestAdminOpenAPIAnswers).

// oaDoc is the served document, decoded.
type oaDoc map[string]any

func loadAdminOpenAPI(t *testing.T) oaDoc {
	t.Helper()
	raw, err := openapi.AdminJSON()
	if err != nil {
		t.Fatal(err)
	}
	var d oaDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// obj is m[key] as an object (nil when absent).
func obj(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

// resolve follows a local $ref (#/components/...).
func (d oaDoc) resolve(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	ref, ok := v["$ref"].(string)
	if !ok {
		return v
	}
	cur := map[string]any(d)
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		cur = obj(cur, part)
		if cur == nil {
			t.Fatalf("unresolved $ref %s", ref)
		}
	}
	return d.resolve(t, cur)
}

// operations lists the documented operations as "METHOD /path/{}" (path
// parameters unnamed, as echo's :names differ) with their operation object.
func (d oaDoc) operations() map[string]map[string]any {
	out := map[string]map[string]any{}
	for path, item := range obj(d, "paths") {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			out[strings.ToUpper(method)+" "+templatePath(path)] = op.(map[string]any)
		}
	}
	return out
}

// templatePath writes {name} and :name path parameters alike, as {}.
func templatePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") || (strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}")) {
			parts[i] = "{}"
		}
	}
	return strings.Join(parts, "/")
}

// oaTestServer is a real admin listener on loopback with an admin token.
type oaTestServer struct {
	*dcrFixture
	srv   *httptest.Server
	token string
}

func newOATestServer(t *testing.T) *oaTestServer {
	t.Helper()
	f := newDCRFixture(t, provider.RegistrationPolicyOff)
	srv := httptest.NewServer(f.adm)
	t.Cleanup(srv.Close)
	robot, robotSecret := f.adminClient(t, provider.ScopeAdmin)
	status, tok := f.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
	if status != http.StatusOK {
		t.Fatalf("admin token: %d", status)
	}
	return &oaTestServer{dcrFixture: f, srv: srv, token: tok}
}

// send makes a request over HTTP (token "" for none) and returns the
// answer with its body read (and still readable from resp.Body).
func (s *oaTestServer) send(t *testing.T, method, path, token string, body []byte) (*http.Request, *http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(got))
	// The validator reads the request body again.
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return req, resp, got
}

func TestAdminOpenAPIServed(t *testing.T) {
	s := newOATestServer(t)
	want, err := openapi.AdminJSON()
	if err != nil {
		t.Fatal(err)
	}
	// No token needed: the document grants nothing.
	_, resp, body := s.send(t, http.MethodGet, PathAdminOpenAPI, "", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("GET: %d %.200s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != echo.MIMEApplicationJSON {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "public") || strings.Contains(cc, "no-store") {
		t.Fatalf("Cache-Control %q: the document is cacheable", cc)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	var d map[string]any
	if err := json.Unmarshal(body, &d); err != nil || d["openapi"] != "3.1.0" {
		t.Fatalf("not an OpenAPI 3.1 document: %v %v", err, d["openapi"])
	}

	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+PathAdminOpenAPI, nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	_, resp, body = s.send(t, http.MethodHead, PathAdminOpenAPI, "", nil)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("ETag") != etag {
		t.Fatalf("HEAD: %d %d bytes %q", resp.StatusCode, len(body), resp.Header.Get("ETag"))
	}
	_, resp, body = s.send(t, http.MethodPost, PathAdminOpenAPI, "", []byte(`{}`))
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
}

// adminOpenAPIValidator is libopenapi-validator's validator of the served
// document.
func adminOpenAPIValidator(t *testing.T) validator.Validator {
	t.Helper()
	raw, err := openapi.AdminJSON()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return v
}

// TestAdminOpenAPIDocumentIsValid checks the document against the OpenAPI
// 3.1 schema (libopenapi-validator embeds it).
func TestAdminOpenAPIDocumentIsValid(t *testing.T) {
	v := adminOpenAPIValidator(t)
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Error(e.Error())
		}
	}
}

// TestAdminOpenAPIRoutes walks the admin listener's routes: every route
// under /admin that does more than answer 405 is a documented operation,
// and every documented operation is a route. Each route is asked without
// a token: an operation the document says needs one answers 401, one it
// says needs none (security: []) does not.
func TestAdminOpenAPIRoutes(t *testing.T) {
	s := newOATestServer(t)
	d := loadAdminOpenAPI(t)
	documented := d.operations()

	served := map[string]bool{}
	for _, r := range s.adm.Routes() {
		if !strings.HasPrefix(r.Path, "/admin") || r.Method == echo.RouteNotFound {
			continue
		}
		if strings.HasPrefix(r.Path, "/admin/dev/") {
			continue // the development mail page (serve --dev), not the API
		}
		key := r.Method + " " + templatePath(r.Path)
		path := strings.ReplaceAll(templatePath(r.Path), "{}", "x")
		_, resp, body := s.send(t, r.Method, path, "", nil)
		if resp.StatusCode == http.StatusMethodNotAllowed {
			if _, ok := documented[key]; ok {
				t.Errorf("%s is documented but answers 405", key)
			}
			continue
		}
		served[key] = true
		op, ok := documented[key]
		if !ok {
			t.Errorf("%s is served (%d) but not in openapi/admin.yaml", key, resp.StatusCode)
			continue
		}
		sec, hasOwn := op["security"].([]any)
		open := hasOwn && len(sec) == 0
		if open == (resp.StatusCode == http.StatusUnauthorized) {
			t.Errorf("%s without a token: %d %s; the document says it needs one: %v", key, resp.StatusCode, body, !open)
		}
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("%s is documented but not served", key)
		}
	}
	if len(served) < 30 {
		t.Fatalf("only %d operations found: is the route walk broken?", len(served))
	}
}

// jsonMembers lists the JSON members of struct type typ (embedded structs
// flattened) with whether each is left out when empty.
func jsonMembers(typ reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			for k, v := range jsonMembers(f.Type) {
				out[k] = v
			}
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

// jsonTypes is the JSON Schema type(s) a Go type encodes to.
func jsonTypes(typ reflect.Type) []string {
	if typ == reflect.TypeFor[json.RawMessage]() {
		return []string{"object"}
	}
	if typ == reflect.TypeFor[time.Time]() {
		return []string{"string"}
	}
	switch typ.Kind() {
	case reflect.Pointer:
		return append(jsonTypes(typ.Elem()), "null")
	case reflect.String:
		return []string{"string"}
	case reflect.Bool:
		return []string{"boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return []string{"integer"}
	case reflect.Slice:
		return []string{"array"}
	case reflect.Map, reflect.Struct:
		return []string{"object"}
	}
	return []string{"?" + typ.String()}
}

func schemaTypes(s map[string]any) []string {
	switch v := s["type"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

// checkSchemaFields compares a schema's properties with typ's JSON members:
// the same names and types, no other members (additionalProperties false);
// for an answer (omitEmptyOptional), required is exactly the members that
// are always present.
func checkSchemaFields(t *testing.T, d oaDoc, name string, schema map[string]any, typ reflect.Type, answer bool) {
	t.Helper()
	schema = d.resolve(t, schema)
	members := jsonMembers(typ)
	props := obj(schema, "properties")
	var extra, missing []string
	for p := range props {
		if _, ok := members[p]; !ok {
			extra = append(extra, p)
		}
	}
	for m := range members {
		if _, ok := props[m]; !ok {
			missing = append(missing, m)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	if len(extra)+len(missing) > 0 {
		t.Errorf("%s (%s): documented but not in the Go type: %v; in the Go type but not documented: %v", name, typ, extra, missing)
	}
	if ap, ok := schema["additionalProperties"].(bool); !ok || ap {
		t.Errorf("%s: additionalProperties must be false (the decoder refuses unknown members; answers have no others)", name)
	}
	for m, f := range members {
		p, ok := props[m].(map[string]any)
		if !ok {
			continue
		}
		got := schemaTypes(d.resolve(t, p))
		if got == nil {
			continue // any value
		}
		want := jsonTypes(f.Type)
		if f.Type.Kind() == reflect.Pointer && answer && strings.Contains(f.Tag.Get("json"), ",omitempty") {
			want = jsonTypes(f.Type.Elem()) // a nil pointer is left out, never null
		}
		if f.Type.Kind() == reflect.Pointer && !answer {
			// A request's pointer member distinguishes absent from given;
			// documenting null is optional.
			want = jsonTypes(f.Type.Elem())
			got = slices.DeleteFunc(slices.Clone(got), func(s string) bool { return s == "null" })
		}
		if f.Type == reflect.TypeFor[json.RawMessage]() {
			got = slices.DeleteFunc(slices.Clone(got), func(s string) bool { return s == "null" })
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s.%s: documented type %v, Go encodes %v", name, m, got, want)
		}
	}
	if !answer {
		return
	}
	var required []string
	for _, r := range schema["required"].([]any) {
		required = append(required, r.(string))
	}
	var always []string
	for m, f := range members {
		if !strings.Contains(f.Tag.Get("json"), ",omitempty") {
			always = append(always, m)
		}
	}
	slices.Sort(required)
	slices.Sort(always)
	if !slices.Equal(required, always) {
		t.Errorf("%s: required %v, but the Go type always writes %v", name, required, always)
	}
}

// TestAdminOpenAPISchemasMatchGoTypes checks the request bodies against
// the types the handlers decode them into, and the answers' schemas
// against the views the handlers encode.
func TestAdminOpenAPISchemasMatchGoTypes(t *testing.T) {
	d := loadAdminOpenAPI(t)
	decodes := map[string]reflect.Type{
		"POST /admin/clients":          reflect.TypeFor[admin.AdminClientRequest](),
		"PUT /admin/clients/{}":        reflect.TypeFor[admin.AdminClientRequest](),
		"POST /admin/resources":        reflect.TypeFor[admin.ResourceRequest](),
		"PUT /admin/resources/{}":      reflect.TypeFor[admin.ResourceRequest](),
		"POST /admin/users":            reflect.TypeFor[adminUserCreateBody](),
		"PUT /admin/users/{}":          reflect.TypeFor[adminUserUpdateBody](),
		"PUT /admin/users/{}/password": reflect.TypeFor[adminPasswordBody](),
		"POST /admin/apikeys":          reflect.TypeFor[apiKeyCreateBody](),
	}
	for key, op := range d.operations() {
		body := obj(op, "requestBody")
		typ, decoded := decodes[key]
		if (body != nil) != decoded {
			t.Errorf("%s: documented body %v, handler decodes one %v", key, body != nil, decoded)
			continue
		}
		if body == nil {
			continue
		}
		checkSchemaFields(t, d, key, obj(obj(obj(body, "content"), "application/json"), "schema"), typ, false)
	}

	schemas := obj(obj(d, "components"), "schemas")
	for name, typ := range map[string]reflect.Type{
		"Problem":               reflect.TypeFor[adminProblemDoc](),
		"FieldProblem":          reflect.TypeFor[admin.Problem](),
		"ClientView":            reflect.TypeFor[admin.ClientView](),
		"ClientList":            reflect.TypeFor[adminList[admin.ClientView]](),
		"ResourceView":          reflect.TypeFor[admin.ResourceView](),
		"ResourceList":          reflect.TypeFor[adminList[admin.ResourceView]](),
		"UserView":              reflect.TypeFor[admin.UserView](),
		"UserList":              reflect.TypeFor[adminList[admin.UserView]](),
		"LoginUnlockView":       reflect.TypeFor[admin.LoginUnlockView](),
		"SecondFactorResetView": reflect.TypeFor[admin.SecondFactorResetView](),
		"AppGrantView":          reflect.TypeFor[admin.AppGrantView](),
		"AppGrantList":          reflect.TypeFor[adminList[admin.AppGrantView]](),
		"RevokedAppView":        reflect.TypeFor[admin.RevokedAppView](),
		"SessionView":           reflect.TypeFor[admin.SessionView](),
		"SessionClientView":     reflect.TypeFor[admin.SessionClientView](),
		"SessionList":           reflect.TypeFor[adminList[admin.SessionView]](),
		"EndedSessionView":      reflect.TypeFor[admin.EndedSessionView](),
		"EndedSessionList":      reflect.TypeFor[adminList[admin.EndedSessionView]](),
		"APIKeyView":            reflect.TypeFor[admin.APIKeyView](),
		"APIKeyList":            reflect.TypeFor[adminList[admin.APIKeyView]](),
		"AuditEventView":        reflect.TypeFor[admin.AuditEventView](),
		"AuditList":             reflect.TypeFor[adminAuditList](),
		"DeadMailView":          reflect.TypeFor[admin.DeadMailView](),
		"DeadMailList": reflect.TypeFor[struct {
			Items []admin.DeadMailView `json:"items"`
		}](),
	} {
		s := obj(schemas, name)
		if s == nil {
			t.Errorf("no schema %s", name)
			continue
		}
		checkSchemaFields(t, d, name, s, typ, true)
	}

	// The enums the code defines as lists.
	for _, tc := range []struct {
		schema string
		want   []string
	}{
		{"ServerSigningAlg", append([]string{""}, keys.Algorithms...)},
		{"SubjectTokenType", provider.TokenExchangeSubjectTypes},
		{"JWSAlg", append([]string{""}, provider.RequestObjectAlgs...)},
		{"AccessTokenFormat", []string{"", provider.FormatJWT, provider.FormatOpaque}},
		{"AuthMethod", []string{provider.AuthMethodNone, provider.AuthMethodBasic, provider.AuthMethodPost, provider.AuthMethodPrivateKeyJWT}},
		{"GrantType", []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken, provider.GrantClientCredentials,
			provider.GrantJWTBearer, provider.GrantTokenExchange, provider.GrantDeviceCode}},
	} {
		var got []string
		for _, v := range obj(schemas, tc.schema)["enum"].([]any) {
			got = append(got, v.(string))
		}
		want := slices.Clone(tc.want)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: documented %v, the code has %v", tc.schema, got, want)
		}
	}
}

// oaExample is the first example of an operation's request body.
func (d oaDoc) example(t *testing.T, key string) map[string]any {
	t.Helper()
	op := d.operations()[key]
	media := obj(obj(obj(op, "requestBody"), "content"), "application/json")
	for _, ex := range obj(media, "examples") {
		if v := obj(ex.(map[string]any), "value"); v != nil {
			return v
		}
	}
	t.Fatalf("%s: no request body example", key)
	return nil
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAdminOpenAPIAnswers drives every operation of a real admin listener
// over HTTP with the document's examples and checks each request and
// answer against the document (libopenapi-validator); it also checks that
// the server refuses each example without a member the document calls
// required, naming that member.
func TestAdminOpenAPIAnswers(t *testing.T) {
	s := newOATestServer(t)
	d := loadAdminOpenAPI(t)
	v := adminOpenAPIValidator(t)

	// send makes a request, checks its status, and validates the answer
	// and, when validRequest, the request; it returns the answer's JSON
	// object. call sends a valid request.
	var send func(method, path string, body any, want int, validRequest bool) map[string]any
	var location string // of the last answer
	call := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		return send(method, path, body, want, true)
	}
	send = func(method, path string, body any, want int, validRequest bool) map[string]any {
		t.Helper()
		var b []byte
		if body != nil {
			b = mustJSON(t, body)
		}
		req, resp, got := s.send(t, method, path, s.token, b)
		location = resp.Header.Get("Location")
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, got, want)
		}
		check := v.ValidateHttpRequestResponse
		if !validRequest {
			check = v.ValidateHttpResponse
		}
		if ok, verrs := check(req, resp); !ok {
			for _, e := range verrs {
				t.Errorf("%s %s -> %d: %s", method, path, resp.StatusCode, e.Error())
			}
		}
		var out map[string]any
		if len(got) > 0 {
			if err := json.Unmarshal(got, &out); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
		}
		return out
	}
	// checkRequired sends body without each required member of the
	// operation's schema in turn: a 400 problem naming it. Then it sends
	// only the required members: the server asks for nothing more
	// (status ok; what a POST made is deleted again).
	checkRequired := func(key, method, path string, body map[string]any, ok int) {
		t.Helper()
		op := d.operations()[key]
		schema := d.resolve(t, obj(obj(obj(obj(op, "requestBody"), "content"), "application/json"), "schema"))
		required, _ := schema["required"].([]any)
		only := map[string]any{}
		for _, r := range required {
			field := r.(string)
			only[field] = body[field]
			partial := map[string]any{}
			for k, v := range body {
				if k != field {
					partial[k] = v
				}
			}
			out := send(method, path, partial, http.StatusBadRequest, false)
			named := false
			for _, e := range out["errors"].([]any) {
				named = named || e.(map[string]any)["field"] == field
			}
			if !named {
				t.Errorf("%s without required %s: %v does not name it", key, field, out)
			}
		}
		call(method, path, only, ok)
		if ok == http.StatusCreated {
			call(http.MethodDelete, location, nil, http.StatusNoContent)
		}
	}

	// Clients.
	clientBody := d.example(t, "POST /admin/clients")
	checkRequired("POST /admin/clients", http.MethodPost, "/admin/clients", clientBody, http.StatusCreated)
	created := call(http.MethodPost, "/admin/clients", clientBody, http.StatusCreated)
	cid, _ := created["client_id"].(string)
	if created["client_secret"] == nil {
		t.Fatalf("no secret: %v", created)
	}
	call(http.MethodGet, "/admin/clients?limit=1", nil, http.StatusOK)
	call(http.MethodGet, "/admin/clients/"+cid, nil, http.StatusOK)
	update := d.example(t, "PUT /admin/clients/{}")
	checkRequired("PUT /admin/clients/{}", http.MethodPut, "/admin/clients/"+cid, update, http.StatusOK)
	call(http.MethodPut, "/admin/clients/"+cid, update, http.StatusOK)
	call(http.MethodPost, "/admin/clients/"+cid+"/rotate-secret", nil, http.StatusOK)

	// API keys of that client.
	keyBody := d.example(t, "POST /admin/apikeys")
	keyBody["client_id"] = cid
	checkRequired("POST /admin/apikeys", http.MethodPost, "/admin/apikeys", keyBody, http.StatusCreated)
	key := call(http.MethodPost, "/admin/apikeys", keyBody, http.StatusCreated)
	kid, _ := key["id"].(string)
	call(http.MethodGet, "/admin/apikeys?client_id="+cid, nil, http.StatusOK)
	call(http.MethodGet, "/admin/apikeys/"+kid, nil, http.StatusOK)
	call(http.MethodDelete, "/admin/apikeys/"+kid, nil, http.StatusNoContent)

	// Resources.
	resBody := d.example(t, "POST /admin/resources")
	checkRequired("POST /admin/resources", http.MethodPost, "/admin/resources", resBody, http.StatusCreated)
	res := call(http.MethodPost, "/admin/resources", resBody, http.StatusCreated)
	call(http.MethodPost, "/admin/resources", resBody, http.StatusConflict)
	resPath := "/admin/resources/" + strings.ReplaceAll(res["resource"].(string), "/", "%2F")
	call(http.MethodGet, "/admin/resources", nil, http.StatusOK)
	call(http.MethodGet, resPath, nil, http.StatusOK)
	resUpdate := d.example(t, "PUT /admin/resources/{}")
	checkRequired("PUT /admin/resources/{}", http.MethodPut, resPath, resUpdate, http.StatusOK)
	call(http.MethodPut, resPath, resUpdate, http.StatusOK)
	call(http.MethodDelete, resPath, nil, http.StatusNoContent)

	// Users.
	userBody := d.example(t, "POST /admin/users")
	checkRequired("POST /admin/users", http.MethodPost, "/admin/users", userBody, http.StatusCreated)
	user := call(http.MethodPost, "/admin/users", userBody, http.StatusCreated)
	call(http.MethodPost, "/admin/users", userBody, http.StatusConflict)
	uid, _ := user["id"].(string)
	up := "/admin/users/" + uid
	call(http.MethodGet, "/admin/users?limit=10", nil, http.StatusOK)
	call(http.MethodGet, up, nil, http.StatusOK)
	userUpdate := d.example(t, "PUT /admin/users/{}")
	checkRequired("PUT /admin/users/{}", http.MethodPut, up, userUpdate, http.StatusOK)
	call(http.MethodPut, up, userUpdate, http.StatusOK)
	pw := d.example(t, "PUT /admin/users/{}/password")
	checkRequired("PUT /admin/users/{}/password", http.MethodPut, up+"/password", pw, http.StatusNoContent)
	call(http.MethodPut, up+"/password", pw, http.StatusNoContent)
	call(http.MethodPost, up+"/disable", nil, http.StatusOK)
	call(http.MethodPost, up+"/enable", nil, http.StatusOK)
	call(http.MethodPost, up+"/unlock", nil, http.StatusOK)
	call(http.MethodPost, up+"/reset-mfa", nil, http.StatusOK)
	call(http.MethodGet, up+"/grants", nil, http.StatusOK)
	call(http.MethodDelete, up+"/grants/"+cid, nil, http.StatusNotFound)
	call(http.MethodGet, up+"/sessions", nil, http.StatusOK)
	call(http.MethodDelete, up+"/sessions", nil, http.StatusOK)
	call(http.MethodDelete, up+"/sessions/no-such-session", nil, http.StatusNotFound)
	call(http.MethodPost, up+"/send-verification", nil, http.StatusBadRequest)

	// Reading the trail (the fixture records no events: one is stored)
	// and the mail.
	if err := s.store.AppendAuditEvents(context.Background(), []*storage.AuditEvent{{
		ID: uuid.NewString(), Time: time.Now(), Type: "client.created", Actor: "operator", Subject: "client:" + cid, ClientID: cid,
		Details: map[string]string{"name": "Report exporter"},
	}}); err != nil {
		t.Fatal(err)
	}
	audit := call(http.MethodGet, "/admin/audit?type=client.&limit=5", nil, http.StatusOK)
	if events, _ := audit["events"].([]any); len(events) == 0 {
		t.Fatalf("no audit events: %v", audit)
	}
	call(http.MethodGet, "/admin/mail/dead?limit=10", nil, http.StatusOK)

	// Problems.
	call(http.MethodGet, "/admin/users/no-such-user", nil, http.StatusNotFound)
	send(http.MethodGet, "/admin/users?limit=0", nil, http.StatusBadRequest, false)
	call(http.MethodGet, "/admin/audit?since=yesterday", nil, http.StatusBadRequest)
	req, resp, _ := s.send(t, http.MethodGet, "/admin/users", "", nil)
	if ok, verrs := v.ValidateHttpResponse(req, resp); !ok || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d %v", resp.StatusCode, verrs)
	}

	call(http.MethodDelete, up, nil, http.StatusNoContent)
	call(http.MethodDelete, "/admin/clients/"+cid, nil, http.StatusNoContent)

	// The validator does find an answer that strays from the document.
	req, _ = http.NewRequest(http.MethodGet, s.srv.URL+up, nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	forged := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {echo.MIMEApplicationJSON}},
		Body: io.NopCloser(strings.NewReader(`{"id":"` + uid + `","password_hash":"x"}`)), Request: req}
	if ok, _ := v.ValidateHttpResponse(req, forged); ok {
		t.Fatal("a user without its members and with a password hash validates")
	}
}
