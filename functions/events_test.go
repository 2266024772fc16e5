package functions_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/config"
)

// TestEvents_AgreeWithTheRoutes holds events/*.json, which sam local invoke and the emulator
// tests send, to config.Routes: one file per function, each an HTTP API payload 2.0 event (with
// no field aws-lambda-go would not read) of that function's route, under either prefix, with
// the claims and scopes the JWT authorizer would hand over; publish-events' is a batch of the
// table's stream (pkg/publish's tests hold what it holds), the archive's functions' what their
// triggers send (checkArchiveEvent). The stack's module checks the HTTP events' issuer
// (infra/agreement_test.go).
func TestEvents_AgreeWithTheRoutes(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no events/*.json (%v)", err)
	}
	routes := map[string]config.Route{} // by route key
	for _, prefix := range config.Prefixes {
		for _, r := range config.Routes {
			r.Path = prefix + r.Path
			routes[r.Method+" "+r.Path] = r
		}
	}
	covered := map[string]bool{}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if name == config.PublisherFunction {
				checkStreamEvent(t, raw)
				return
			}
			if checkArchiveEvent(t, name, raw) {
				return
			}
			var ev events.APIGatewayV2HTTPRequest
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields() // a misspelt field would silently be missing in the handler
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("not an HTTP API payload 2.0 event: %v", err)
			}
			route, ok := routes[ev.RouteKey]
			if !ok {
				t.Fatalf("routeKey %q is not a route of config.Routes under either prefix", ev.RouteKey)
			}
			if route.Function != name {
				t.Errorf("events/%s.json invokes %s's route", name, route.Function)
			}
			rc := ev.RequestContext
			if ev.Version != "2.0" || rc.RouteKey != ev.RouteKey || rc.HTTP.Method != route.Method || rc.Stage != "$default" {
				t.Errorf("version %q, requestContext.routeKey %q, method %q, stage %q: want 2.0, %q, %s, $default",
					ev.Version, rc.RouteKey, rc.HTTP.Method, rc.Stage, ev.RouteKey, route.Method)
			}
			wantPath := route.Path
			if strings.Contains(route.Path, "{record_id}") {
				id := ev.PathParameters["record_id"]
				if !regexp.MustCompile(`^rec-\d{8}-\d{3,}$`).MatchString(id) {
					t.Errorf("pathParameters.record_id = %q, want a record id", id)
				}
				wantPath = strings.ReplaceAll(route.Path, "{record_id}", id)
			} else if len(ev.PathParameters) != 0 {
				t.Errorf("pathParameters %v on a route without any", ev.PathParameters)
			}
			if ev.RawPath != wantPath || rc.HTTP.Path != wantPath {
				t.Errorf("rawPath %q, http.path %q, want %q", ev.RawPath, rc.HTTP.Path, wantPath)
			}
			for k := range ev.Headers {
				if k != strings.ToLower(k) {
					t.Errorf("header %q: HTTP API lower-cases header names", k)
				}
			}
			if ev.Headers["content-type"] != "application/json" {
				t.Errorf("content-type %q, want application/json", ev.Headers["content-type"])
			}
			if route.Method == "POST" || route.Method == "PUT" {
				if !json.Valid([]byte(ev.Body)) || ev.IsBase64Encoded || ev.Body == "" {
					t.Errorf("body %q: want a JSON body, not base64", ev.Body)
				}
			} else if ev.Body != "" {
				t.Errorf("%s with a body %q", route.Method, ev.Body)
			}

			if rc.Authorizer == nil || rc.Authorizer.JWT == nil {
				t.Fatal("no requestContext.authorizer.jwt")
			}
			claims := rc.Authorizer.JWT.Claims
			if claims["sub"] != "usr-0042" || claims["org_id"] != "org-bufdir-042" {
				t.Errorf("claims sub %q, org_id %q: want usr-0042, org-bufdir-042", claims["sub"], claims["org_id"])
			}
			if _, err := strconv.ParseInt(claims["exp"], 10, 64); err != nil {
				t.Errorf("claim exp %q: want epoch seconds (API Gateway passes claims as strings)", claims["exp"])
			}
			scopeClaim := strings.Fields(claims["scope"])
			if !slices.Contains(scopeClaim, route.Scope) || !slices.Contains(rc.Authorizer.JWT.Scopes, route.Scope) {
				t.Errorf("scope claim %v and jwt.scopes %v must both grant %s", scopeClaim, rc.Authorizer.JWT.Scopes, route.Scope)
			}
			if !sameItems(scopeClaim, rc.Authorizer.JWT.Scopes) {
				t.Errorf("scope claim %v and jwt.scopes %v differ", scopeClaim, rc.Authorizer.JWT.Scopes)
			}
		})
		covered[name] = true
	}
	for _, fn := range config.FunctionNames() {
		if !covered[fn] {
			t.Errorf("no events/%s.json", fn)
		}
	}
}

// checkStreamEvent checks that raw is a DynamoDB stream event as Lambda hands it to a function,
// with no field aws-lambda-go would not read.
func checkStreamEvent(t *testing.T, raw []byte) {
	t.Helper()
	var ev events.DynamoDBEvent
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("not a DynamoDB stream event: %v", err)
	}
	if len(ev.Records) == 0 {
		t.Fatal("a stream event without records")
	}
	for _, r := range ev.Records {
		if r.EventSource != "aws:dynamodb" || r.Change.SequenceNumber == "" || len(r.Change.Keys) == 0 {
			t.Errorf("record %s: source %q, sequence number %q, keys %v", r.EventID, r.EventSource, r.Change.SequenceNumber, r.Change.Keys)
		}
	}
}

func sameItems(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
