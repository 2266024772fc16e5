// Package local is the local stand-in for API Gateway: an HTTP handler (API) that verifies the
// caller's HS256 token as the JWT authorizer would, checks the route's scope, builds the payload
// 2.0 event API Gateway would build and calls the very handlers the Lambda functions run, under
// both prefixes. It also serves the embedded DynamoDB-compatible engine (StartEngine). It takes
// the handlers' dependencies built; the composition root (internal/app/localrun) starts the
// whole local run with it.
package local

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/bufdir/export-audit/pkg/api"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/google/uuid"
)

// maxPayload is API Gateway's own limit on a request body; the handlers' smaller limit
// (api.MaxBody) applies after it.
const maxPayload = 10 << 20

// lambdaTimeout gives each local call the deadline the deployed functions have.
const lambdaTimeout = 10 * time.Second

// route is one served path: a prefix and a route of the table.
type route struct {
	segments []string // "{record_id}" matches one segment
	key      string   // API Gateway's routeKey, e.g. "GET /api/v1/bufdir-audit-records/{record_id}"
	op       api.Operation
	handler  api.Handler
}

// API is the local stand-in for API Gateway in front of the six handlers.
type API struct {
	log    *slog.Logger
	auth   Authorizer
	routes []route
	ready  func(context.Context) error
	now    func() time.Time
	extra  map[string]http.Handler // local-only paths, answered without a token
}

// NewAPI serves every operation under both prefixes with deps, verifying tokens with auth.
// ready, called by /healthz, says whether the storage answers.
func NewAPI(deps *api.Deps, auth Authorizer, ready func(context.Context) error) *API {
	a := &API{log: deps.Log, auth: auth, ready: ready, now: time.Now}
	for _, prefix := range config.Prefixes {
		for _, op := range api.Operations {
			path := prefix + op.Route.Path
			a.routes = append(a.routes, route{
				segments: strings.Split(strings.Trim(path, "/"), "/"),
				key:      op.Route.Method + " " + path,
				op:       op,
				handler:  api.Handle(deps, op),
			})
		}
	}
	return a
}

// HandleLocal serves h at path without a token: an endpoint of the local run only, such as
// /_local/events, which API Gateway does not have. Call it before the API serves.
func (a *API) HandleLocal(path string, h http.Handler) {
	if a.extra == nil {
		a.extra = map[string]http.Handler{}
	}
	a.extra[path] = h
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		a.health(w, r)
		return
	case "/openapi.yaml":
		serveOpenAPI(w, r)
		return
	}
	if h := a.extra[r.URL.Path]; h != nil {
		h.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	rt, params, allowed := a.match(r)
	if rt == nil {
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			a.refuse(w, r, nil, start, http.StatusMethodNotAllowed, "method_not_allowed", "this path does not take "+r.Method)
			return
		}
		a.refuse(w, r, nil, start, http.StatusNotFound, "route_not_found", "no route matches this path")
		return
	}
	claims, scopes, err := a.authorize(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		a.refuse(w, r, rt, start, http.StatusUnauthorized, "unauthorized", err.Error())
		return
	}
	if !contains(scopes, rt.op.Route.Scope) {
		a.refuse(w, r, rt, start, http.StatusForbidden, "insufficient_scope", "this route needs scope "+rt.op.Route.Scope)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		a.refuse(w, r, rt, start, http.StatusRequestEntityTooLarge, "payload_too_large", "the body is too large")
		return
	}
	ev := a.event(r, rt, params, claims, scopes, body)
	ctx, cancel := context.WithTimeout(r.Context(), lambdaTimeout)
	defer cancel()
	// What the Lambda runtime gives each invocation: its request id, so the log line carries
	// lambda_request_id as it does in CloudWatch.
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       uuid.NewString(), // Lambda's request ids are random UUIDs
		InvokedFunctionArn: "arn:aws:lambda:local:000000000000:function:" + rt.op.Route.Function,
	})
	resp, err := rt.handler(ctx, ev)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "internal_error", "something went wrong on our side")
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Apigw-Requestid", ev.RequestContext.RequestID)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.WriteString(w, resp.Body)
}

// refuse answers a request the local API refuses itself, as API Gateway would (unknown route,
// wrong method, bad token, missing scope, too large), and logs it. In AWS these never reach a
// function: they are in API Gateway's access log, not in the functions' log groups, which is
// why the line's message is "gateway" rather than "request".
func (a *API) refuse(w http.ResponseWriter, r *http.Request, rt *route, start time.Time, status int, code, detail string) {
	id := requestID()
	w.Header().Set("Apigw-Requestid", id)
	writeProblem(w, status, code, detail)
	if a.log == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("api_request_id", id),
		slog.String("method", r.Method),
		slog.Int("status", status),
		slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("code", code),
	}
	if rt != nil {
		attrs = append(attrs, slog.String("route", rt.op.Route.Method+" "+config.BasePath+rt.op.Route.Path), slog.String("function", rt.op.Route.Function))
	}
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "gateway", attrs...)
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := a.ready(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"status":"starting"}`)
		return
	}
	_, _ = io.WriteString(w, `{"status":"ok"}`)
}

// match finds the route for the request's path and method. Segments are compared escaped, so
// that %2F inside a record id stays inside its segment, as it does in API Gateway.
func (a *API) match(r *http.Request) (*route, map[string]string, []string) {
	segs := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	var allowed []string
	for i := range a.routes {
		rt := &a.routes[i]
		params, ok := matchSegments(rt.segments, segs)
		if !ok {
			continue
		}
		if rt.op.Route.Method != r.Method {
			allowed = append(allowed, rt.op.Route.Method)
			continue
		}
		return rt, params, nil
	}
	return nil, nil, allowed
}

func matchSegments(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") {
			v, err := url.PathUnescape(segs[i])
			if err != nil || v == "" {
				return nil, false
			}
			params[strings.Trim(p, "{}")] = v
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// authorize verifies the bearer token and returns its claims and scopes.
func (a *API) authorize(r *http.Request) (map[string]string, []string, error) {
	h := r.Header.Get("Authorization")
	token, found := strings.CutPrefix(h, "Bearer ")
	if !found || token == "" {
		return nil, nil, errMissingToken
	}
	v, err := a.auth.Verify(strings.TrimSpace(token), a.now())
	if err != nil {
		return nil, nil, err
	}
	return v.Claims, v.Scopes, nil
}

type tokenError string

func (e tokenError) Error() string { return string(e) }

const errMissingToken = tokenError("a bearer token is required")

// event builds the payload 2.0 event API Gateway's HTTP API hands a Lambda proxy integration.
func (a *API) event(r *http.Request, rt *route, params map[string]string, claims map[string]string, scopes []string, body []byte) events.APIGatewayV2HTTPRequest {
	now := a.now()
	headers := map[string]string{}
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	if !strings.Contains(headers[api.TraceHeader], "Root=1-") {
		headers[api.TraceHeader] = newTraceHeader(now)
	}
	var query map[string]string
	if q := r.URL.Query(); len(q) > 0 {
		query = map[string]string{}
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              rt.key,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   rt.key,
			AccountID:  "000000000000",
			Stage:      "$default",
			RequestID:  requestID(),
			APIID:      "local",
			DomainName: r.Host,
			Time:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  now.UnixMilli(),
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: scopes},
			},
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto,
				SourceIP: strings.Split(r.RemoteAddr, ":")[0], UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		// API Gateway passes text as it is and anything else base64-encoded.
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

// newTraceHeader makes an X-Ray trace header as Lambda passes one: a new trace (its id the
// time in seconds and 96 random bits), not sampled.
func newTraceHeader(now time.Time) string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", now.Unix(), hex.EncodeToString(b[:12]), hex.EncodeToString(b[12:]))
}

func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status, "code": code, "detail": detail,
	})
}
