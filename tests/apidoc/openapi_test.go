package apidoc

// The API document (pkg/api/openapi.yaml, served at GET /openapi.yaml) and the code must agree:
// every route and every error case goes through the local API over real HTTP, and each request
// and answer is validated against the document with kin-openapi's openapi3filter. A request the
// case means to be invalid must be invalid by the document too, and every answer must be one the
// document describes (status, headers, body), so a client generated from the document works.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/local"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// oaEnv is a local API with the document it serves, a router over it, and an engine door that
// can answer the next call of one DynamoDB operation with an error.
type oaEnv struct {
	url    string
	doc    *openapi3.T
	router routers.Router
	door   oaDoor
	// seen records each (operationId, status) answered, to check that the cases cover the
	// document.
	mu   sync.Mutex
	seen map[string]bool
}

// oaDoor answers the next call of op with status and body instead of the engine.
type oaDoor struct {
	armed  atomic.Bool
	op     atomic.Value
	status atomic.Int32
	body   atomic.Value
}

func (d *oaDoor) fail(op string, status int, body string) {
	d.op.Store(op)
	d.status.Store(int32(status))
	d.body.Store(body)
	d.armed.Store(true)
}

func (d *oaDoor) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		if op, _ := d.op.Load().(string); op != "" && strings.HasSuffix(target, "."+op) && d.armed.CompareAndSwap(true, false) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(int(d.status.Load()))
			_, _ = io.WriteString(w, d.body.Load().(string))
			return
		}
		h.ServeHTTP(w, r)
	})
}

const oaOrg = "org-oa-042"

func oaStart(t *testing.T) *oaEnv {
	t.Helper()
	e := &oaEnv{seen: map[string]bool{}}
	run, err := localrun.Start(context.Background(), localrun.Options{
		Addr: "127.0.0.1:0", EngineAddr: "127.0.0.1:0",
		Config: config.Config{TableName: "audit-openapi", Region: "eu-north-1", OrgIDClaim: "org_id", DeletedRetention: 24 * time.Hour},
		Auth:   local.Authorizer{Secret: secret}, Log: slog.New(slog.DiscardHandler), EngineWrap: e.door.wrap,
	})
	if err != nil {
		t.Fatalf("start the local API: %v", err)
	}
	t.Cleanup(run.Close)
	e.url = run.APIURL

	// The document as the local API serves it, without a token.
	resp, err := http.Get(e.url + "/openapi.yaml")
	if err != nil {
		t.Fatalf("GET /openapi.yaml: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/yaml") {
		t.Fatalf("GET /openapi.yaml: want 200 application/yaml, got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("load the document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("want a valid OpenAPI document (examples included), got %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: e.url}}
	if e.router, err = gorillamux.NewRouter(doc); err != nil {
		t.Fatalf("router: %v", err)
	}
	e.doc = doc
	return e
}

// oaToken signs a token for org with the given scopes; no org when org is "".
func oaToken(t *testing.T, org string, scopes ...string) string {
	t.Helper()
	claims := map[string]any{"sub": "usr-oa-1", "scope": strings.Join(scopes, " "), "exp": time.Now().Add(time.Hour).Unix()}
	if org != "" {
		claims["org_id"] = org
	}
	tok, err := local.Sign(secret, claims)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return tok
}

// oaAuth checks a request against the document's security requirement as far as the document
// can: a bearer JWT whose scope claim holds the scopes the operation names. The signature and
// expiry are the server's business.
func oaAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "jwt" {
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
	tok, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(tok, ".")
	if !ok || len(parts) != 3 {
		return fmt.Errorf("no bearer JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("JWT payload: %v", err)
	}
	var claims struct {
		Scope string `json:"scope"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return fmt.Errorf("JWT claims: %v", err)
	}
	have := strings.Fields(claims.Scope)
	for _, s := range in.Scopes {
		if !slices.Contains(have, s) {
			return fmt.Errorf("the token lacks scope %s", s)
		}
	}
	return nil
}

// oaCase is one request, whether the document should find it valid, and the status the server
// must answer.
type oaCase struct {
	name         string
	method, path string
	token        string
	body         string
	contentType  string // default application/json when there is a body
	fail         func(*oaDoor)
	docInvalid   bool // the document itself refuses the request
	status       int
	code         string // the problem's code, for an error
}

// oaCheck sends c, validating the request and the answer against the document, and returns the
// answer's body.
func (e *oaEnv) oaCheck(t *testing.T, c oaCase) []byte {
	t.Helper()
	build := func() *http.Request {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req, err := http.NewRequest(c.method, e.url+c.path, body)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.body != "" {
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
		}
		return req
	}
	vreq := build()
	route, params, err := e.router.FindRoute(vreq)
	if err != nil {
		t.Fatalf("%s: the document has no operation for %s %s: %v", c.name, c.method, c.path, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: oaAuth, MultiError: true, SkipSettingDefaults: true},
	}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if c.docInvalid && reqErr == nil {
		t.Errorf("%s: want the document to refuse the request, and it accepts it", c.name)
	}
	if !c.docInvalid && reqErr != nil {
		t.Errorf("%s: want the document to accept the request, got %v", c.name, reqErr)
	}

	if c.fail != nil {
		c.fail(&e.door)
	}
	resp, err := http.DefaultClient.Do(build())
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != c.status {
		t.Fatalf("%s: want status %d, got %d %s", c.name, c.status, resp.StatusCode, body)
	}
	if c.code != "" {
		var p struct {
			Code string `json:"code"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Code != c.code {
			t.Errorf("%s: want code %q, got %s", c.name, c.code, body)
		}
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		t.Errorf("%s: want an answer the document describes, got %d %s\n%v", c.name, resp.StatusCode, body, err)
	}
	e.mu.Lock()
	e.seen[fmt.Sprintf("%s %d", route.Operation.OperationID, resp.StatusCode)] = true
	e.mu.Unlock()
	return body
}

// oaCreate makes a record through oaCheck and returns its record_id.
func (e *oaEnv) oaCreate(t *testing.T, token, exportID string) string {
	t.Helper()
	body := e.oaCheck(t, oaCase{
		name: "create " + exportID, method: "POST", path: single, token: token, status: 201,
		body: fmt.Sprintf(`{"export_id":%q,"format":"csv","period_from":"2025-01-01","period_to":"2025-06-30"}`, exportID),
	})
	var r struct {
		RecordID string `json:"record_id"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.RecordID == "" {
		t.Fatalf("create %s: no record_id in %s", exportID, body)
	}
	return r.RecordID
}

// dynamoError is a DynamoDB JSON-protocol error body.
func dynamoError(errType, extra string) string {
	return `{"__type":"com.amazonaws.dynamodb.v20120810#` + errType + `","message":"injected"` + extra + `}`
}

func TestOpenAPI_DocumentAndCodeAgreeOnEveryRouteAndError(t *testing.T) {
	t.Parallel()
	e := oaStart(t)
	all := oaToken(t, oaOrg, "audit:read", "audit:write", "audit:delete")
	noOrg := oaToken(t, "", "audit:read", "audit:write", "audit:delete")
	badSig := all[:len(all)-4] + "AAAA"
	suffix := fmt.Sprint(time.Now().UnixNano())
	exp := func(n string) string { return "exp-oa-" + n + "-" + suffix }

	seed := fmt.Sprintf(`{"export_id":%q,"org_id":%q,"triggered_by_user_id":"usr-0099","status":"queued","format":"pdf","period_from":"2025-01-01","period_to":"2025-12-31"}`, exp("seed"), oaOrg)
	live := e.oaCreate(t, all, exp("live"))
	failed := e.oaCreate(t, all, exp("failed"))
	filed := e.oaCreate(t, all, exp("filed"))
	gone := e.oaCreate(t, all, exp("gone"))
	const missing = "rec-20200101-001"
	rec := func(id string) string { return single + "/" + id }
	now := time.Now().UTC().Format(time.RFC3339)

	cases := []oaCase{
		// Create.
		{name: "create the contract's example", method: "POST", path: single, token: all, body: seed, status: 201},
		{name: "create again: a replay", method: "POST", path: single, token: all, body: seed, status: 200},
		{name: "create with other fields: a clash", method: "POST", path: single, token: all, status: 409, code: "export_id_conflict",
			body: strings.Replace(seed, `"pdf"`, `"excel"`, 1)},
		{name: "create with every optional field", method: "POST", path: single, token: all, status: 201,
			body: fmt.Sprintf(`{"export_id":%q,"format":"excel","period_from":"2025-01-01","period_to":"2025-01-01","status":"processing","org_id":null,"triggered_by_user_id":"usr-7","activity_count":12}`, exp("full"))},
		{name: "create with the period backwards", method: "POST", path: single, token: all, status: 400, code: "validation_failed",
			body: fmt.Sprintf(`{"export_id":%q,"format":"pdf","period_from":"2025-12-31","period_to":"2025-01-01"}`, exp("backwards"))},
		{name: "create with an unknown format", method: "POST", path: single, token: all, status: 400, code: "validation_failed", docInvalid: true,
			body: fmt.Sprintf(`{"export_id":%q,"format":"docx","period_from":"2025-01-01","period_to":"2025-01-31"}`, exp("docx"))},
		{name: "create with an unknown field", method: "POST", path: single, token: all, status: 400, code: "validation_failed", docInvalid: true,
			body: fmt.Sprintf(`{"export_id":%q,"format":"pdf","period_from":"2025-01-01","period_to":"2025-01-31","colour":"red"}`, exp("unknown"))},
		{name: "create without required fields", method: "POST", path: single, token: all, status: 400, code: "validation_failed", docInvalid: true, body: `{}`},
		{name: "create with malformed JSON", method: "POST", path: single, token: all, status: 400, code: "malformed_json", docInvalid: true, body: `{"export_id":`},
		{name: "create with a key given twice", method: "POST", path: single, token: all, status: 400, code: "malformed_json",
			body: fmt.Sprintf(`{"export_id":%q,"export_id":%q,"format":"pdf","period_from":"2025-01-01","period_to":"2025-01-31"}`, exp("dup"), exp("dup"))},
		{name: "create as text/plain", method: "POST", path: single, token: all, status: 415, code: "unsupported_media_type", docInvalid: true,
			body: `{"export_id":"x"}`, contentType: "text/plain"},
		{name: "create over 64 KiB", method: "POST", path: single, token: all, status: 413, code: "payload_too_large", docInvalid: true,
			body: fmt.Sprintf(`{"export_id":%q,"format":"pdf","period_from":"2025-01-01","period_to":"2025-01-31"}`, strings.Repeat("x", 70_000))},
		{name: "create for another organisation", method: "POST", path: single, token: all, status: 403, code: "forbidden_organisation",
			body: fmt.Sprintf(`{"export_id":%q,"org_id":"org-other","format":"pdf","period_from":"2025-01-01","period_to":"2025-01-31"}`, exp("other"))},
		{name: "create while DynamoDB throttles the transaction", method: "POST", path: single, token: all, status: 503, code: "throttled",
			body: fmt.Sprintf(`{"export_id":%q,"format":"pdf","period_from":"2025-01-01","period_to":"2025-01-31"}`, exp("throttled")),
			fail: func(d *oaDoor) {
				d.fail("TransactWriteItems", 400, dynamoError("TransactionCanceledException",
					`,"CancellationReasons":[{"Code":"ThrottlingError"},{"Code":"None"},{"Code":"None"}]`))
			}},

		// List.
		{name: "list", method: "GET", path: single, token: all, status: 200},
		{name: "list with every filter", method: "GET", token: all, status: 200,
			path: single + "?page=1&limit=5&org_id=" + oaOrg + "&status=queued&format=csv&triggered_by_user_id=usr-oa-1&export_id=" + exp("live") + "&created_from=2020-01-01&created_to=" + now},
		{name: "list past the last page", method: "GET", path: single + "?page=999", token: all, status: 200},
		{name: "list with limit 0", method: "GET", path: single + "?limit=0", token: all, status: 400, code: "validation_failed", docInvalid: true},
		{name: "list with a bad created_from", method: "GET", path: single + "?created_from=yesterday", token: all, status: 400, code: "validation_failed", docInvalid: true},
		{name: "list with an unknown parameter", method: "GET", path: single + "?colour=red", token: all, status: 400, code: "validation_failed"},
		{name: "list another organisation", method: "GET", path: single + "?org_id=org-other", token: all, status: 403, code: "forbidden_organisation"},
		{name: "list with a token that names no organisation", method: "GET", path: single, token: noOrg, status: 403, code: "no_organisation"},
		{name: "list with a forged token", method: "GET", path: single, token: badSig, status: 401, code: "unauthorized"},
		{name: "list while DynamoDB fails", method: "GET", path: single, token: all, status: 500, code: "internal_error",
			fail: func(d *oaDoor) { d.fail("Query", 400, dynamoError("ValidationException", "")) }},

		// Get.
		{name: "get", method: "GET", path: rec(live), token: all, status: 200},
		{name: "get a record that does not exist", method: "GET", path: rec(missing), token: all, status: 404, code: "not_found"},
		{name: "get a malformed record_id", method: "GET", path: rec("rec-2026-1"), token: all, status: 400, code: "validation_failed", docInvalid: true},
		{name: "get a non-canonical record_id", method: "GET", path: rec("rec-20260301-0001"), token: all, status: 400, code: "validation_failed", docInvalid: true},

		// Update status.
		{name: "move to processing", method: "PUT", path: rec(live) + "/status", token: all, status: 200,
			body: fmt.Sprintf(`{"status":"processing","updated_at":%q,"activity_count":3}`, now)},
		{name: "move to the status it has: a no-op", method: "PUT", path: rec(live) + "/status", token: all, status: 200, body: `{"status":"processing"}`},
		{name: "move back to queued", method: "PUT", path: rec(live) + "/status", token: all, status: 409, code: "illegal_status_transition", body: `{"status":"queued"}`},
		{name: "fail a record", method: "PUT", path: rec(failed) + "/status", token: all, status: 200,
			body: `{"status":"failed","failure_reason":"the export service lost its connection"}`},
		{name: "failure_reason without failed", method: "PUT", path: rec(live) + "/status", token: all, status: 400, code: "validation_failed",
			body: `{"status":"completed","failure_reason":"no"}`},
		{name: "move to an unknown status", method: "PUT", path: rec(live) + "/status", token: all, status: 400, code: "validation_failed", docInvalid: true,
			body: `{"status":"archived"}`},
		{name: "move with a malformed updated_at", method: "PUT", path: rec(live) + "/status", token: all, status: 400, code: "validation_failed", docInvalid: true,
			body: `{"status":"completed","updated_at":"tomorrow"}`},
		{name: "move a record that does not exist", method: "PUT", path: rec(missing) + "/status", token: all, status: 404, code: "not_found", body: `{"status":"completed"}`},
		{name: "move with a body that is not JSON", method: "PUT", path: rec(live) + "/status", token: all, status: 415, code: "unsupported_media_type", docInvalid: true,
			body: "status=completed", contentType: "application/x-www-form-urlencoded"},
		{name: "move with an over-long body", method: "PUT", path: rec(live) + "/status", token: all, status: 413, code: "payload_too_large", docInvalid: true,
			body: `{"status":"failed","failure_reason":"` + strings.Repeat("y", 70_000) + `"}`},
		{name: "move while DynamoDB fails", method: "PUT", path: rec(live) + "/status", token: all, status: 500, code: "internal_error", body: `{"status":"completed"}`,
			fail: func(d *oaDoor) { d.fail("UpdateItem", 400, dynamoError("ValidationException", "")) }},

		// Attach the file URL.
		{name: "attach a file", method: "PUT", path: rec(filed) + "/file-url", token: all, status: 200, body: `{"file_url":"https://storage.example.no/exports/a.pdf"}`},
		{name: "attach the same file: a no-op", method: "PUT", path: rec(filed) + "/file-url", token: all, status: 200, body: `{"file_url":"https://storage.example.no/exports/a.pdf"}`},
		{name: "attach another file", method: "PUT", path: rec(filed) + "/file-url", token: all, status: 409, code: "file_url_already_set", body: `{"file_url":"https://storage.example.no/exports/b.pdf"}`},
		{name: "attach to a failed record", method: "PUT", path: rec(failed) + "/file-url", token: all, status: 409, code: "record_failed", body: `{"file_url":"https://storage.example.no/exports/c.pdf"}`},
		{name: "attach an http URL", method: "PUT", path: rec(live) + "/file-url", token: all, status: 400, code: "validation_failed", docInvalid: true, body: `{"file_url":"http://storage.example.no/x.pdf"}`},
		{name: "attach a URL with user info", method: "PUT", path: rec(live) + "/file-url", token: all, status: 400, code: "validation_failed", body: `{"file_url":"https://me:pw@storage.example.no/x.pdf"}`},
		{name: "attach to a record that does not exist", method: "PUT", path: rec(missing) + "/file-url", token: all, status: 404, code: "not_found", body: `{"file_url":"https://storage.example.no/x.pdf"}`},
		{name: "attach as text/plain", method: "PUT", path: rec(live) + "/file-url", token: all, status: 415, code: "unsupported_media_type", docInvalid: true,
			body: `{"file_url":"https://storage.example.no/x.pdf"}`, contentType: "text/plain"},
		{name: "attach with an over-long body", method: "PUT", path: rec(live) + "/file-url", token: all, status: 413, code: "payload_too_large", docInvalid: true,
			body: `{"file_url":"https://storage.example.no/` + strings.Repeat("z", 70_000) + `"}`},
		{name: "attach with a malformed body", method: "PUT", path: rec(live) + "/file-url", token: all, status: 400, code: "malformed_json", docInvalid: true, body: `[]`},

		// Delete.
		{name: "delete", method: "DELETE", path: rec(gone), token: all, status: 200},
		{name: "delete again", method: "DELETE", path: rec(gone), token: all, status: 404, code: "not_found"},
		{name: "delete a malformed record_id", method: "DELETE", path: rec("rec-x"), token: all, status: 400, code: "validation_failed", docInvalid: true},
		{name: "delete while DynamoDB throttles the transaction", method: "DELETE", path: rec(live), token: all, status: 503, code: "throttled",
			fail: func(d *oaDoor) {
				d.fail("TransactWriteItems", 400, dynamoError("TransactionCanceledException",
					`,"CancellationReasons":[{"Code":"ThrottlingError"},{"Code":"None"},{"Code":"None"}]`))
			}},
	}

	// Every operation: without a token, and with every scope but the one its security
	// requirement names (which pins the document's scopes to the server's), and for the
	// single-record ones the documented 404 and 500 paths too.
	ops := []struct {
		method, path, body, scope string
	}{
		{"GET", single, "", "audit:read"},
		{"POST", single, fmt.Sprintf(`{"export_id":%q,"format":"pdf","period_from":"2025-01-01","period_to":"2025-01-31"}`, exp("scoped")), "audit:write"},
		{"GET", rec(live), "", "audit:read"},
		{"PUT", rec(live) + "/status", `{"status":"completed"}`, "audit:write"},
		{"PUT", rec(live) + "/file-url", `{"file_url":"https://storage.example.no/s.pdf"}`, "audit:write"},
		{"DELETE", rec(live), "", "audit:delete"},
	}
	for _, op := range ops {
		var others []string
		for _, s := range []string{"audit:read", "audit:write", "audit:delete"} {
			if s != op.scope {
				others = append(others, s)
			}
		}
		cases = append(cases,
			oaCase{name: op.method + " " + op.path + " without a token", method: op.method, path: op.path, body: op.body,
				status: 401, code: "unauthorized", docInvalid: true},
			oaCase{name: op.method + " " + op.path + " without " + op.scope, method: op.method, path: op.path, body: op.body,
				token: oaToken(t, oaOrg, others...), status: 403, code: "insufficient_scope", docInvalid: true},
		)
	}
	for _, c := range cases {
		e.oaCheck(t, c)
	}
	// The delete of the live record ran last, now that its 503 left it in place.
	e.oaCheck(t, oaCase{name: "get while DynamoDB fails", method: "GET", path: rec(live), token: all, status: 500, code: "internal_error",
		fail: func(d *oaDoor) { d.fail("GetItem", 400, dynamoError("ValidationException", "")) }})
	e.oaCheck(t, oaCase{name: "delete while DynamoDB fails", method: "DELETE", path: rec(live), token: all, status: 500, code: "internal_error",
		fail: func(d *oaDoor) { d.fail("GetItem", 400, dynamoError("ValidationException", "")) }})
	e.oaCheck(t, oaCase{name: "attach while DynamoDB fails", method: "PUT", path: rec(live) + "/file-url", token: all, status: 500, code: "internal_error",
		body: `{"file_url":"https://storage.example.no/f.pdf"}`,
		fail: func(d *oaDoor) { d.fail("UpdateItem", 400, dynamoError("ValidationException", "")) }})
	e.oaCheck(t, oaCase{name: "create while DynamoDB fails", method: "POST", path: single, token: all, status: 500, code: "internal_error",
		body: fmt.Sprintf(`{"export_id":%q,"format":"pdf","period_from":"2025-01-01","period_to":"2025-01-31"}`, exp("fails")),
		fail: func(d *oaDoor) { d.fail("UpdateItem", 400, dynamoError("ValidationException", "")) }})

	// Every status the document gives an operation was answered by some case, except what only
	// API Gateway answers in AWS (429) and 503, which two operations stand for.
	for path, item := range e.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, resp := range op.Responses.Map() {
				if status == "429" || status == "503" || resp.Value == nil {
					continue
				}
				if !e.seen[op.OperationID+" "+status] {
					t.Errorf("want a case answering %s (%s %s) with %s", op.OperationID, method, path, status)
				}
			}
		}
	}
	for _, want := range []string{"createRecord 503", "deleteRecord 503"} {
		if !e.seen[want] {
			t.Errorf("want a case answering %s", want)
		}
	}
}

// TestOpenAPI_RequestExamplesWork sends every request body example of the document as a client
// would copy it, today: a create example to a fresh API, the others to a record just made. Each
// must succeed, so no example carries a time or an id that goes stale.
func TestOpenAPI_RequestExamplesWork(t *testing.T) {
	t.Parallel()
	e := oaStart(t)
	// The examples speak for the contract's organisation.
	all := oaToken(t, "org-bufdir-042", "audit:read", "audit:write", "audit:delete")
	sent := 0
	for path, item := range e.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil {
				continue
			}
			media := op.RequestBody.Value.Content.Get("application/json")
			if media == nil {
				t.Fatalf("%s %s: want an application/json request body", method, path)
			}
			examples := map[string]any{}
			if media.Example != nil {
				examples["example"] = media.Example
			}
			for name, ex := range media.Examples {
				examples[name] = ex.Value.Value
			}
			if len(examples) == 0 {
				t.Errorf("%s %s: want a request body example", method, path)
			}
			for name, ex := range examples {
				body, err := json.Marshal(ex)
				if err != nil {
					t.Fatal(err)
				}
				target, status := path, http.StatusOK
				if strings.Contains(path, "{record_id}") {
					id := e.oaCreate(t, all, fmt.Sprintf("exp-oa-example-%d", sent))
					target = strings.Replace(path, "{record_id}", id, 1)
				} else if method == http.MethodPost {
					status = http.StatusCreated
				}
				e.oaCheck(t, oaCase{name: fmt.Sprintf("%s %s, example %s", method, path, name), method: method, path: target,
					token: all, body: string(body), status: status})
				sent++
			}
		}
	}
	if sent < 5 {
		t.Errorf("want every request body example sent (at least 5), sent %d", sent)
	}
}

// TestOpenAPI_NullInABodyIsWhatTheDocumentSays sends null in every body field: an optional
// field given as null is the same as one left out (its default applies), a required one is a
// 400, and the document (nullable, an enum that lists null) says exactly that.
func TestOpenAPI_NullInABodyIsWhatTheDocumentSays(t *testing.T) {
	t.Parallel()
	e := oaStart(t)
	all := oaToken(t, oaOrg, "audit:read", "audit:write", "audit:delete")
	exportID := "exp-oa-null-" + fmt.Sprint(time.Now().UnixNano())
	create := map[string]any{"export_id": exportID, "format": "pdf", "period_from": "2025-01-01", "period_to": "2025-01-31"}
	jsonWith := func(base map[string]any, nulls ...string) string {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for _, k := range nulls {
			m[k] = nil
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	var rec struct {
		RecordID      string `json:"record_id"`
		Status        string `json:"status"`
		TriggeredBy   string `json:"triggered_by_user_id"`
		ActivityCount *int64 `json:"activity_count"`
		History       []struct {
			At string `json:"at"`
		} `json:"status_history"`
	}

	before := time.Now().UTC().Truncate(time.Second)
	body := e.oaCheck(t, oaCase{name: "create with every optional field null", method: "POST", path: single, token: all, status: 201,
		body: jsonWith(create, "status", "org_id", "triggered_by_user_id", "activity_count")})
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Status != "queued" || rec.TriggeredBy != "usr-oa-1" || rec.ActivityCount != nil {
		t.Errorf("create with nulls: want the defaults (status queued, triggered_by_user_id the token's sub, no activity_count), got %s", body)
	}
	for _, field := range []string{"export_id", "format", "period_from", "period_to"} {
		body := e.oaCheck(t, oaCase{name: "create with " + field + " null", method: "POST", path: single, token: all,
			status: 400, code: "validation_failed", docInvalid: true, body: jsonWith(create, field)})
		if !strings.Contains(string(body), `"field":"`+field+`"`) {
			t.Errorf("create with %s null: want the error to name %s, got %s", field, field, body)
		}
	}

	path := single + "/" + rec.RecordID
	body = e.oaCheck(t, oaCase{name: "move with every optional field null", method: "PUT", path: path + "/status", token: all, status: 200,
		body: `{"status":"processing","updated_at":null,"activity_count":null,"failure_reason":null}`})
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.History); rec.Status != "processing" || rec.ActivityCount != nil || n != 2 {
		t.Fatalf("move with nulls: want status processing, no activity_count and two history entries, got %s", body)
	}
	if at, err := time.Parse(time.RFC3339, rec.History[1].At); err != nil || at.Before(before) {
		t.Errorf("move with updated_at null: want the change dated now (not before %s), got %s", before.Format(time.RFC3339), rec.History[1].At)
	}
	e.oaCheck(t, oaCase{name: "move with status null", method: "PUT", path: path + "/status", token: all,
		status: 400, code: "validation_failed", docInvalid: true, body: `{"status":null}`})
	e.oaCheck(t, oaCase{name: "attach a null file_url", method: "PUT", path: path + "/file-url", token: all,
		status: 400, code: "validation_failed", docInvalid: true, body: `{"file_url":null}`})
}

// TestOpenAPI_RefusalsOutsideTheDocumentAreItsResponses checks what the document cannot list
// per operation, an unknown path and a method a listed path does not take: each answer must be
// the response the document gives for it (RouteNotFound, MethodNotAllowed), headers included,
// with an Allow header naming exactly the methods the document lists for the path, and both
// come before the token is checked.
func TestOpenAPI_RefusalsOutsideTheDocumentAreItsResponses(t *testing.T) {
	t.Parallel()
	e := oaStart(t)
	all := oaToken(t, oaOrg, "audit:read", "audit:write", "audit:delete")
	const id = "/rec-20260301-001"
	for _, c := range []struct {
		method, path string
		token        string
		status       int
		response     string // the document's component
		docPath      string // the path of the document whose methods Allow names
		code         string
	}{
		{"GET", "/api/v1/nothing-here", all, 404, "RouteNotFound", "", "route_not_found"},
		{"GET", single + id + "/extra", "", 404, "RouteNotFound", "", "route_not_found"},
		{"PATCH", single + id, all, 405, "MethodNotAllowed", single + "/{record_id}", "method_not_allowed"},
		{"POST", single + id, "", 405, "MethodNotAllowed", single + "/{record_id}", "method_not_allowed"},
		{"GET", single + id + "/status", all, 405, "MethodNotAllowed", single + "/{record_id}/status", "method_not_allowed"},
		{"DELETE", single, all, 405, "MethodNotAllowed", single, "method_not_allowed"},
		{"PUT", doubled, "", 405, "MethodNotAllowed", single, "method_not_allowed"},
	} {
		name := c.method + " " + c.path
		req, _ := http.NewRequest(c.method, e.url+c.path, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if _, _, err := e.router.FindRoute(req); err == nil {
			t.Errorf("%s: want the document to have no operation for it", name)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: want %d, got %d %s", name, c.status, resp.StatusCode, body)
			continue
		}
		var p struct {
			Code string `json:"code"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Code != c.code {
			t.Errorf("%s: want code %s, got %s", name, c.code, body)
		}

		// The answer against the component, as if it were the operation's own response.
		documented := e.doc.Components.Responses[c.response]
		if documented == nil {
			t.Fatalf("want components.responses.%s in the document", c.response)
		}
		op := openapi3.NewOperation()
		op.Responses = openapi3.NewResponses(openapi3.WithStatus(c.status, documented))
		in := &openapi3filter.RequestValidationInput{Request: req, Route: &routers.Route{Spec: e.doc, Path: c.path, Method: c.method, Operation: op}}
		err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		})
		if err != nil {
			t.Errorf("%s: want the document's %s, got %d %s\n%v", name, c.response, resp.StatusCode, body, err)
		}

		if c.docPath == "" {
			continue
		}
		item := e.doc.Paths.Find(c.docPath)
		if item == nil {
			t.Fatalf("want the document to list %s", c.docPath)
		}
		var want, got []string
		for m := range item.Operations() {
			want = append(want, m)
		}
		for _, m := range strings.Split(resp.Header.Get("Allow"), ",") {
			got = append(got, strings.TrimSpace(m))
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: want Allow to name the methods the document lists for %s, %v, got %q", name, c.docPath, want, resp.Header.Get("Allow"))
		}
	}
}

// TestOpenAPI_NeitherValidatorNorDocumentIsInTheFunctions keeps kin-openapi a test dependency:
// no Lambda function may link it (or the YAML library it brings), and none refers to the
// embedded document, so the linker leaves the YAML out of every bootstrap.
func TestOpenAPI_NeitherValidatorNorDocumentIsInTheFunctions(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "../../functions/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		for _, bad := range []string{"getkin/kin-openapi", "gorilla/mux", "yaml"} {
			if strings.Contains(line, bad) {
				t.Errorf("want no %s in the functions' dependencies, got %q", bad, line)
			}
		}
	}
	funcs, err := filepath.Glob("../../functions/*/*.go")
	if err != nil || len(funcs) == 0 {
		t.Fatalf("want the functions' sources, got %v %v", funcs, err)
	}
	for _, f := range funcs {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(src, []byte("api.OpenAPI")) {
			t.Errorf("want %s not to refer to api.OpenAPI, which would put the document in its bootstrap", f)
		}
	}
}
