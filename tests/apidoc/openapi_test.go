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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/local"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// env is a local API with the document it serves, a router over it, and an engine door that
// can answer the next call of one DynamoDB operation with an error.
type env struct {
	*testkit.API
	doc    *openapi3.T
	router routers.Router
	door   testkit.Door
	// seen records each (operationId, status) answered, to check that the cases cover the
	// document.
	mu   sync.Mutex
	seen map[string]bool
}

const org = "org-oa-042"

// The contract's two prefixes.
const single, doubled = testkit.Prefix, testkit.DoubledPrefix

func startAPI(t *testing.T) *env {
	t.Helper()
	e := &env{seen: map[string]bool{}}
	e.API = testkit.StartAPI(t, localrun.Options{EngineWrap: e.door.Wrap})

	// The document as the local API serves it, without a token.
	r := e.Must(t, "GET", "/openapi.yaml", "", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/yaml") {
		t.Fatalf("GET /openapi.yaml: want 200 application/yaml, got %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(r.Body)
	if err != nil {
		t.Fatalf("load the document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("want a valid OpenAPI document (examples included), got %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: e.URL}}
	if e.router, err = gorillamux.NewRouter(doc); err != nil {
		t.Fatalf("router: %v", err)
	}
	e.doc = doc
	return e
}

// failing answers the next call of op with a DynamoDB ValidationException, which the service
// cannot place: a 500.
func failing(op string) func(*testkit.Door) {
	return func(d *testkit.Door) { d.Fail(1, op, testkit.DynamoDBError{Type: "ValidationException"}) }
}

// throttledTransaction answers the next transaction as DynamoDB cancels one it throttled.
func throttledTransaction(d *testkit.Door) {
	d.Fail(1, "TransactWriteItems", testkit.DynamoDBError{Type: "TransactionCanceledException", Extra: map[string]any{
		"CancellationReasons": []map[string]string{{"Code": "ThrottlingError"}, {"Code": "None"}, {"Code": "None"}},
	}})
}

// token signs a token for org with the given scopes; no org when org is "".
func token(t *testing.T, org string, scopes ...string) string {
	t.Helper()
	claims := map[string]any{"sub": "usr-oa-1", "scope": strings.Join(scopes, " "), "exp": time.Now().Add(time.Hour).Unix()}
	if org != "" {
		claims["org_id"] = org
	}
	tok, err := local.Sign(testkit.Secret, claims)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return tok
}

// authenticate checks a request against the document's security requirement as far as the document
// can: a bearer JWT whose scope claim holds the scopes the operation names. The signature and
// expiry are the server's business.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
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

// call is one request, whether the document should find it valid, and the status the server
// must answer.
type call struct {
	name         string
	method, path string
	token        string
	body         string
	contentType  string // default application/json when there is a body
	fail         func(*testkit.Door)
	docInvalid   bool // the document itself refuses the request
	status       int
	code         string // the problem's code, for an error
}

// check sends c, validating the request and the answer against the document, and returns the
// answer's body.
func (e *env) check(t *testing.T, c call) []byte {
	t.Helper()
	req := testkit.Request{Method: c.method, Path: c.path, Token: c.token, ContentType: c.contentType}
	if c.body != "" {
		req.Body = c.body
	}
	vreq, err := req.New(e.URL)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	route, params, err := e.router.FindRoute(vreq)
	if err != nil {
		t.Fatalf("%s: the document has no operation for %s %s: %v", c.name, c.method, c.path, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: authenticate, MultiError: true, SkipSettingDefaults: true},
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
	r := e.MustDo(t, req)
	body := r.Body
	if r.Status != c.status {
		t.Fatalf("%s: want status %d, got %s", c.name, c.status, r)
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
		Status:                 r.Status,
		Header:                 r.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		t.Errorf("%s: want an answer the document describes, got %s\n%v", c.name, r, err)
	}
	e.mu.Lock()
	e.seen[fmt.Sprintf("%s %d", route.Operation.OperationID, r.Status)] = true
	e.mu.Unlock()
	return body
}

// create makes a record through check and returns its record_id.
func (e *env) create(t *testing.T, token, exportID string) string {
	t.Helper()
	body := e.check(t, call{
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

func TestOpenAPI_DocumentAndCodeAgreeOnEveryRouteAndError(t *testing.T) {
	t.Parallel()
	e := startAPI(t)
	all := token(t, org, "audit:read", "audit:write", "audit:delete")
	noOrg := token(t, "", "audit:read", "audit:write", "audit:delete")
	badSig := all[:len(all)-4] + "AAAA"
	suffix := fmt.Sprint(time.Now().UnixNano())
	exp := func(n string) string { return "exp-oa-" + n + "-" + suffix }

	seed := fmt.Sprintf(`{"export_id":%q,"org_id":%q,"triggered_by_user_id":"usr-0099","status":"queued","format":"pdf","period_from":"2025-01-01","period_to":"2025-12-31"}`, exp("seed"), org)
	live := e.create(t, all, exp("live"))
	failed := e.create(t, all, exp("failed"))
	filed := e.create(t, all, exp("filed"))
	gone := e.create(t, all, exp("gone"))
	const missing = "rec-20200101-001"
	rec := func(id string) string { return single + "/" + id }
	now := time.Now().UTC().Format(time.RFC3339)

	cases := []call{
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
			fail: throttledTransaction},

		// List.
		{name: "list", method: "GET", path: single, token: all, status: 200},
		{name: "list with every filter", method: "GET", token: all, status: 200,
			path: single + "?page=1&limit=5&org_id=" + org + "&status=queued&format=csv&triggered_by_user_id=usr-oa-1&export_id=" + exp("live") + "&created_from=2020-01-01&created_to=" + now},
		{name: "list past the last page", method: "GET", path: single + "?page=999", token: all, status: 200},
		{name: "list with limit 0", method: "GET", path: single + "?limit=0", token: all, status: 400, code: "validation_failed", docInvalid: true},
		{name: "list with a bad created_from", method: "GET", path: single + "?created_from=yesterday", token: all, status: 400, code: "validation_failed", docInvalid: true},
		{name: "list with an unknown parameter", method: "GET", path: single + "?colour=red", token: all, status: 400, code: "validation_failed"},
		{name: "list another organisation", method: "GET", path: single + "?org_id=org-other", token: all, status: 403, code: "forbidden_organisation"},
		{name: "list with a token that names no organisation", method: "GET", path: single, token: noOrg, status: 403, code: "no_organisation"},
		{name: "list with a forged token", method: "GET", path: single, token: badSig, status: 401, code: "unauthorized"},
		{name: "list while DynamoDB fails", method: "GET", path: single, token: all, status: 500, code: "internal_error",
			fail: failing("Query")},

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
			fail: failing("UpdateItem")},

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
			fail: throttledTransaction},
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
			call{name: op.method + " " + op.path + " without a token", method: op.method, path: op.path, body: op.body,
				status: 401, code: "unauthorized", docInvalid: true},
			call{name: op.method + " " + op.path + " without " + op.scope, method: op.method, path: op.path, body: op.body,
				token: token(t, org, others...), status: 403, code: "insufficient_scope", docInvalid: true},
		)
	}
	for _, c := range cases {
		e.check(t, c)
	}
	// The delete of the live record ran last, now that its 503 left it in place.
	e.check(t, call{name: "get while DynamoDB fails", method: "GET", path: rec(live), token: all, status: 500, code: "internal_error",
		fail: failing("GetItem")})
	e.check(t, call{name: "delete while DynamoDB fails", method: "DELETE", path: rec(live), token: all, status: 500, code: "internal_error",
		fail: failing("GetItem")})
	e.check(t, call{name: "attach while DynamoDB fails", method: "PUT", path: rec(live) + "/file-url", token: all, status: 500, code: "internal_error",
		body: `{"file_url":"https://storage.example.no/f.pdf"}`,
		fail: failing("UpdateItem")})
	e.check(t, call{name: "create while DynamoDB fails", method: "POST", path: single, token: all, status: 500, code: "internal_error",
		body: fmt.Sprintf(`{"export_id":%q,"format":"pdf","period_from":"2025-01-01","period_to":"2025-01-31"}`, exp("fails")),
		fail: failing("UpdateItem")})

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
	e := startAPI(t)
	// The examples speak for the contract's organisation.
	all := token(t, "org-bufdir-042", "audit:read", "audit:write", "audit:delete")
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
					id := e.create(t, all, fmt.Sprintf("exp-oa-example-%d", sent))
					target = strings.Replace(path, "{record_id}", id, 1)
				} else if method == http.MethodPost {
					status = http.StatusCreated
				}
				e.check(t, call{name: fmt.Sprintf("%s %s, example %s", method, path, name), method: method, path: target,
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
	e := startAPI(t)
	all := token(t, org, "audit:read", "audit:write", "audit:delete")
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
	body := e.check(t, call{name: "create with every optional field null", method: "POST", path: single, token: all, status: 201,
		body: jsonWith(create, "status", "org_id", "triggered_by_user_id", "activity_count")})
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Status != "queued" || rec.TriggeredBy != "usr-oa-1" || rec.ActivityCount != nil {
		t.Errorf("create with nulls: want the defaults (status queued, triggered_by_user_id the token's sub, no activity_count), got %s", body)
	}
	for _, field := range []string{"export_id", "format", "period_from", "period_to"} {
		body := e.check(t, call{name: "create with " + field + " null", method: "POST", path: single, token: all,
			status: 400, code: "validation_failed", docInvalid: true, body: jsonWith(create, field)})
		if !strings.Contains(string(body), `"field":"`+field+`"`) {
			t.Errorf("create with %s null: want the error to name %s, got %s", field, field, body)
		}
	}

	path := single + "/" + rec.RecordID
	body = e.check(t, call{name: "move with every optional field null", method: "PUT", path: path + "/status", token: all, status: 200,
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
	e.check(t, call{name: "move with status null", method: "PUT", path: path + "/status", token: all,
		status: 400, code: "validation_failed", docInvalid: true, body: `{"status":null}`})
	e.check(t, call{name: "attach a null file_url", method: "PUT", path: path + "/file-url", token: all,
		status: 400, code: "validation_failed", docInvalid: true, body: `{"file_url":null}`})
}

// TestOpenAPI_RefusalsOutsideTheDocumentAreItsResponses checks what the document cannot list
// per operation, an unknown path and a method a listed path does not take: each answer must be
// the response the document gives for it (RouteNotFound, MethodNotAllowed), headers included,
// with an Allow header naming exactly the methods the document lists for the path, and both
// come before the token is checked.
func TestOpenAPI_RefusalsOutsideTheDocumentAreItsResponses(t *testing.T) {
	t.Parallel()
	e := startAPI(t)
	all := token(t, org, "audit:read", "audit:write", "audit:delete")
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
		sent := testkit.Request{Method: c.method, Path: c.path, Token: c.token}
		req, err := sent.New(e.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.router.FindRoute(req); err == nil {
			t.Errorf("%s: want the document to have no operation for it", name)
		}
		r := e.MustDo(t, sent)
		body := r.Body
		if r.Status != c.status {
			t.Errorf("%s: want %d, got %s", name, c.status, r)
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
			RequestValidationInput: in, Status: r.Status, Header: r.Header, Body: io.NopCloser(bytes.NewReader(body)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		})
		if err != nil {
			t.Errorf("%s: want the document's %s, got %s\n%v", name, c.response, r, err)
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
		for _, m := range strings.Split(r.Header.Get("Allow"), ",") {
			got = append(got, strings.TrimSpace(m))
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: want Allow to name the methods the document lists for %s, %v, got %q", name, c.docPath, want, r.Header.Get("Allow"))
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
