package perf

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
)

// Caller is who the events are from: the claims API Gateway's JWT authorizer would pass on.
type Caller struct {
	Org, Sub string
}

// Request is one call of a route: enough to send it to the local API over HTTP, or to build
// the event API Gateway would hand the function.
type Request struct {
	Method, Path, Query, Body string
	Params                    map[string]string
	RouteKey                  string
}

// Get reads one record.
func Get(id audit.RecordID) Request {
	return Request{Method: "GET", Path: config.BasePath + "/" + id.String(), Params: params(id), RouteKey: "GET " + config.BasePath + "/{record_id}"}
}

// List reads a page; query is the raw query string ("" for page 1 unfiltered).
func List(query string) Request {
	return Request{Method: "GET", Path: config.BasePath, Query: query, RouteKey: "GET " + config.BasePath}
}

// Create makes a record for exportID.
func Create(exportID string) Request {
	return Request{Method: "POST", Path: config.BasePath, RouteKey: "POST " + config.BasePath,
		Body: `{"export_id":"` + exportID + `","format":"pdf","period_from":"2025-01-01","period_to":"2025-12-31"}`}
}

// Status moves a record to st.
func Status(id audit.RecordID, st audit.Status) Request {
	return Request{Method: "PUT", Path: config.BasePath + "/" + id.String() + "/status", Params: params(id),
		RouteKey: "PUT " + config.BasePath + "/{record_id}/status", Body: `{"status":"` + string(st) + `"}`}
}

// FileURL attaches a file to a record.
func FileURL(id audit.RecordID) Request {
	return Request{Method: "PUT", Path: config.BasePath + "/" + id.String() + "/file-url", Params: params(id),
		RouteKey: "PUT " + config.BasePath + "/{record_id}/file-url",
		Body:     `{"file_url":"https://storage.example.no/exports/` + id.String() + `.xlsx"}`}
}

// Delete deletes a record.
func Delete(id audit.RecordID) Request {
	return Request{Method: "DELETE", Path: config.BasePath + "/" + id.String(), Params: params(id), RouteKey: "DELETE " + config.BasePath + "/{record_id}"}
}

func params(id audit.RecordID) map[string]string { return map[string]string{"record_id": id.String()} }

// URL is the request's path and query below the API's base URL.
func (r Request) URL() string {
	if r.Query == "" {
		return r.Path
	}
	return r.Path + "?" + r.Query
}

// Event is the payload 2.0 event API Gateway's HTTP API would hand the route's function for r,
// with c's verified claims, as pkg/local builds it.
func (r Request) Event(c Caller, requestID string, now time.Time) events.APIGatewayV2HTTPRequest {
	scopes := []string{config.ScopeRead, config.ScopeWrite, config.ScopeDelete}
	headers := map[string]string{
		"accept": "application/json", "host": "127.0.0.1", "user-agent": "bufdir-bench",
		"x-amzn-trace-id": "Root=1-" + strconv.FormatInt(now.Unix(), 16) + "-" + strings.Repeat("0", 24),
	}
	if r.Body != "" {
		headers["content-type"] = "application/json"
		headers["content-length"] = strconv.Itoa(len(r.Body))
	}
	var query map[string]string
	if r.Query != "" {
		q, _ := url.ParseQuery(r.Query)
		query = map[string]string{}
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: r.RouteKey, RawPath: r.Path, RawQueryString: r.Query,
		Headers: headers, QueryStringParameters: query, PathParameters: r.Params, Body: r.Body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: r.RouteKey, AccountID: "000000000000", Stage: "$default", RequestID: requestID,
			APIID: "bench", DomainName: "127.0.0.1",
			Time: now.UTC().Format("02/Jan/2006:15:04:05 -0700"), TimeEpoch: now.UnixMilli(),
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
					Claims: map[string]string{"sub": c.Sub, "org_id": c.Org, "scope": strings.Join(scopes, " ")},
					Scopes: scopes,
				},
			},
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.Path, Protocol: "HTTP/1.1", SourceIP: "127.0.0.1", UserAgent: "bufdir-bench",
			},
		},
	}
}
