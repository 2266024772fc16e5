// Package api turns API Gateway HTTP API (payload 2.0) events into calls on the repository and
// answers with JSON records or RFC 9457 problem documents. Each Lambda function serves one
// Operation; the local API serves all of them through the same Handle. It declares what its
// handlers need (Deps, with the Records interface the repository satisfies) and builds none of
// it: the composition root, internal/app, does.
package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// Operation is one endpoint's behaviour and the route it serves.
type Operation struct {
	Route config.Route
	run   func(ctx context.Context, d *Deps, r *request) (*response, error)
}

// request is what an operation sees of a call.
type request struct {
	ev       *events.APIGatewayV2HTTPRequest
	id       Identity
	loggedID string // the record_id for the log line, once known
	traceID  string // the X-Ray trace id, for the log and metrics lines; "" when there is none
}

type response struct {
	status  int
	body    any
	headers map[string]string
}

// Handler is the signature lambda.Start takes for an HTTP API function.
type Handler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// deadlineMargin is kept back from the Lambda deadline so that a slow DynamoDB still gets a
// 503 answer out before Lambda ends the invocation.
const deadlineMargin = 500 * time.Millisecond

// Handle returns the Lambda handler for op. It never returns an error to the runtime: every
// failure is answered as a problem document, so API Gateway never turns one into its own 500.
func Handle(d *Deps, op Operation) Handler {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (resp events.APIGatewayV2HTTPResponse, _ error) {
		start := time.Now()
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-deadlineMargin))
			defer cancel()
		}
		// The request's metrics travel in its context, so that concurrent requests (the local
		// API serves many at once) never share a document.
		doc := newDocument(start, op, d.Settings.Stage)
		ctx = metrics.NewContext(ctx, doc)
		r := &request{ev: &ev, traceID: traceID(ctx, &ev)}
		var p *Problem
		defer func() {
			if v := recover(); v != nil {
				p = toProblem(fmt.Errorf("panic: %v", v))
				resp = encode(p.Status, p, p.headers, "application/problem+json")
			}
			took := time.Since(start)
			logRequest(ctx, d.Log, op, r, resp.StatusCode, p, took)
			finishDocument(ctx, doc, r, resp.StatusCode, took)
			if err := d.Metrics.Emit(doc); err != nil {
				d.Log.LogAttrs(context.WithoutCancel(ctx), slog.LevelWarn, "metrics not written", slog.String("error", err.Error()))
			}
		}()
		out, err := serve(ctx, d, op, r)
		if err != nil {
			p = toProblem(err)
			return encode(p.Status, p, p.headers, "application/problem+json"), nil
		}
		return encode(out.status, out.body, out.headers, "application/json"), nil
	}
}

func serve(ctx context.Context, d *Deps, op Operation, r *request) (*response, error) {
	id, err := identify(r.ev, d.Settings.OrgIDClaim)
	if err != nil {
		return nil, err
	}
	r.id = id
	if !id.Scopes[op.Route.Scope] {
		return nil, problem(http.StatusForbidden, "insufficient_scope", "this route needs scope "+op.Route.Scope)
	}
	// The contract refuses an org_id in the query that is not the token's on every route, also
	// where the route reads nothing else from the query.
	for _, org := range queryOrgIDs(r.ev) {
		if err := id.sameOrg(org); err != nil {
			return nil, err
		}
	}
	return op.run(ctx, d, r)
}

func encode(status int, body any, headers map[string]string, contentType string) events.APIGatewayV2HTTPResponse {
	b, err := json.Marshal(body)
	if err != nil {
		status, contentType = http.StatusInternalServerError, "application/problem+json"
		b, _ = json.Marshal(problem(status, "internal_error", "something went wrong on our side"))
	}
	h := map[string]string{"Content-Type": contentType, "Cache-Control": "no-store"}
	for k, v := range headers {
		h[k] = v
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: h, Body: string(b)}
}

// logRequest writes the request's one log line. It holds no token, body or query string.
func logRequest(ctx context.Context, log *slog.Logger, op Operation, r *request, status int, p *Problem, took time.Duration) {
	attrs := []slog.Attr{
		slog.String("route", op.Route.Method+" "+config.BasePath+op.Route.Path),
		slog.String("function", op.Route.Function),
		slog.String("method", r.ev.RequestContext.HTTP.Method),
		slog.Int("status", status),
		slog.Float64("latency_ms", float64(took.Microseconds())/1000),
		slog.String("api_request_id", r.ev.RequestContext.RequestID),
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("lambda_request_id", lc.AwsRequestID))
	}
	if r.traceID != "" {
		attrs = append(attrs, slog.String("trace_id", r.traceID))
	}
	if r.id.OrgID != "" {
		attrs = append(attrs, slog.String("org_id", r.id.OrgID))
	}
	if r.loggedID != "" {
		attrs = append(attrs, slog.String("record_id", r.loggedID))
	}
	level := slog.LevelInfo
	if p != nil {
		attrs = append(attrs, slog.String("code", p.Code))
		if p.Status >= 500 {
			level = slog.LevelError
			if p.cause != nil {
				attrs = append(attrs, slog.String("cause", p.cause.Error()))
			}
		}
	}
	log.LogAttrs(context.WithoutCancel(ctx), level, "request", attrs...)
}

// TraceHeader is the header, and the context key of aws-lambda-go, that carries the X-Ray trace
// header: Root=1-<8 hex digits of time>-<24 hex digits>;Parent=...;Sampled=...
const TraceHeader = "x-amzn-trace-id"

// traceID returns the X-Ray trace id (the header's Root) of the invocation: Lambda's, which
// aws-lambda-go puts in the context, else the one the event's headers carry. Not
// _X_AMZN_TRACE_ID: that is one variable for the whole process, which aws-lambda-go leaves
// unset when a container runs invocations concurrently, and which the local API never sets.
func traceID(ctx context.Context, ev *events.APIGatewayV2HTTPRequest) string {
	h, _ := ctx.Value(TraceHeader).(string)
	if h == "" {
		h = header(ev, TraceHeader)
	}
	for part := range strings.SplitSeq(h, ";") {
		if root, ok := strings.CutPrefix(strings.TrimSpace(part), "Root="); ok && validTraceID(root) {
			return root
		}
	}
	return ""
}

// validTraceID checks the shape 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx, so that a client's header
// never puts anything else in the log.
func validTraceID(s string) bool {
	if len(s) != 35 || s[0] != '1' || s[1] != '-' || s[10] != '-' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if i == 10 {
			continue
		}
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
