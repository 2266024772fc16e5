package operations

// Tests of what an operator sees: one JSON log line and one EMF metrics line per request,
// through real HTTP against the local API, which logs and measures exactly as the Lambda
// functions do (the same api.Handle, the same app logger, the same SDK middleware).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/config"
)

// env is a local API whose log and metrics go to buffers, and whose engine can be told to
// answer the next calls with a DynamoDB error.
type env struct {
	*testkit.API
	log, emf *testkit.Buffer
	door     *testkit.Door
	token    string
}

const org = "org-obs-001"

// The contract's two prefixes.
const single, doubled = testkit.Prefix, testkit.DoubledPrefix

// startAPI starts the local API as make run does (stage local), logging at level.
func startAPI(t *testing.T, level slog.Level) *env {
	t.Helper()
	e := &env{log: &testkit.Buffer{}, emf: &testkit.Buffer{}, door: &testkit.Door{}}
	cfg := testkit.Config()
	cfg.LogLevel = level
	e.API = testkit.StartAPI(t, localrun.Options{Config: cfg, Log: app.NewLogger(e.log, level), Metrics: e.emf, EngineWrap: e.door.Wrap})
	e.token = testkit.Token(t, org, "usr-obs")
	return e
}

// fail makes the engine answer the next n calls with a DynamoDB error of errorType.
func (e *env) fail(n int, errorType string) {
	e.door.Fail(n, "", testkit.DynamoDBError{Type: errorType})
}

// do sends one request: body "" sends none, header pairs are set on it.
func (e *env) do(t *testing.T, method, path, token, body string, header ...string) testkit.Reply {
	t.Helper()
	r := testkit.Request{Method: method, Path: path, Token: token, Header: map[string]string{}}
	if body != "" {
		r.Body = body
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header[header[i]] = header[i+1]
	}
	return e.MustDo(t, r)
}

var (
	uuidPattern    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	traceIDPattern = regexp.MustCompile(`^1-[0-9a-f]{8}-[0-9a-f]{24}$`)
)

// step is one request and what its log line and metrics line must say.
type step struct {
	name         string
	method, path string
	token        string // "" sends none; "-" the env's token
	body         string
	header       []string
	fail         int    // engine calls to fail
	failWith     string // the DynamoDB error type they answer
	status       int
	gateway      bool              // answered by the local API itself: a "gateway" line, no metrics
	level        string            // of the log line
	fields       map[string]any    // exact log fields
	absent       []string          // log fields that must not be there
	metrics      map[string]string // exact EMF members, as JSON
	noMetrics    []string          // EMF members that must not be there
	dynamoCallsN int               // -1: not checked
}

// TestOperate_OneLogLineAndOneMetricsLinePerRequest walks a record through its life, with
// errors of every class, and checks each request's log line and EMF line.
func TestOperate_OneLogLineAndOneMetricsLinePerRequest(t *testing.T) {
	t.Parallel()
	e := startAPI(t, slog.LevelInfo)
	// Markers that must never reach the log: the query string, the body, the token.
	const (
		queryMarker = "exp-query-marker-0001"
		bodyMarker  = "body-marker-never-logged"
	)
	exportID := "exp-obs-" + fmt.Sprint(time.Now().UnixNano())
	create := fmt.Sprintf(`{"export_id":%q,"format":"pdf","period_from":"2025-01-01","period_to":"2025-12-31"}`, exportID)
	r := e.do(t, "POST", single, e.token, create)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: want 201, got %d %s", r.Status, r.Body)
	}
	var rec struct {
		RecordID string `json:"record_id"`
	}
	_ = json.Unmarshal(r.Body, &rec)
	id := rec.RecordID
	clientTrace := "Root=1-65f0a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"

	steps := []step{
		{name: "replay", method: "POST", path: single, token: "-", body: create, status: 200, level: "INFO",
			fields:  map[string]any{"route": "POST " + single, "function": "create-record", "method": "POST", "org_id": org, "record_id": id},
			absent:  []string{"code", "cause"},
			metrics: map[string]string{"Route": `"create-record"`, "StatusClass": `"2xx"`, "Requests": "1", "RecordsCreated": "0", "IdempotentReplays": "1"}, dynamoCallsN: -1},
		{name: "list with a query string", method: "GET", path: single + "?export_id=" + queryMarker + "&limit=5", token: "-", status: 200, level: "INFO",
			fields:  map[string]any{"route": "GET " + single, "function": "list-records", "org_id": org},
			absent:  []string{"record_id", "code"},
			metrics: map[string]string{"Route": `"list-records"`, "StatusClass": `"2xx"`}, noMetrics: []string{"RecordsCreated"}, dynamoCallsN: -1},
		{name: "status move", method: "PUT", path: single + "/" + id + "/status", token: "-", body: `{"status":"processing"}`, status: 200, level: "INFO",
			fields:  map[string]any{"route": "PUT " + single + "/{record_id}/status", "record_id": id},
			metrics: map[string]string{"Route": `"update-status"`, "ToStatus": `"processing"`, "StatusMoves": "1", "NoopUpdates": "0"}, dynamoCallsN: 1},
		{name: "status no-op", method: "PUT", path: single + "/" + id + "/status", token: "-", body: `{"status":"processing"}`, status: 200, level: "INFO",
			fields:  map[string]any{"record_id": id},
			metrics: map[string]string{"NoopUpdates": "1"}, noMetrics: []string{"StatusMoves", "ToStatus"}, dynamoCallsN: 1},
		{name: "illegal move with a body marker", method: "PUT", path: single + "/" + id + "/status", token: "-", body: `{"status":"queued"}`, status: 409, level: "INFO",
			fields:  map[string]any{"code": "illegal_status_transition", "record_id": id},
			absent:  []string{"cause"},
			metrics: map[string]string{"StatusClass": `"4xx"`}, noMetrics: []string{"StatusMoves", "NoopUpdates"}, dynamoCallsN: -1},
		{name: "invalid body", method: "PUT", path: single + "/" + id + "/status", token: "-", body: `{"status":"failed","failure_reason":"` + bodyMarker + `","extra":"` + bodyMarker + `"}`, status: 400, level: "INFO",
			fields: map[string]any{"code": "validation_failed", "record_id": id}, absent: []string{"cause"},
			metrics: map[string]string{"StatusClass": `"4xx"`, "DynamoDBCalls": "0"}, dynamoCallsN: 0},
		{name: "attach file", method: "PUT", path: single + "/" + id + "/file-url", token: "-", body: `{"file_url":"https://storage.example.no/x.pdf"}`, status: 200, level: "INFO",
			fields:  map[string]any{"function": "attach-file-url", "record_id": id},
			metrics: map[string]string{"NoopUpdates": "0"}, dynamoCallsN: 1},
		{name: "attach the same file again", method: "PUT", path: single + "/" + id + "/file-url", token: "-", body: `{"file_url":"https://storage.example.no/x.pdf"}`, status: 200, level: "INFO",
			metrics: map[string]string{"NoopUpdates": "1"}, dynamoCallsN: 1},
		{name: "get on the doubled prefix with a client trace header", method: "GET", path: doubled + "/" + id, token: "-", header: []string{"X-Amzn-Trace-Id", clientTrace}, status: 200, level: "INFO",
			fields:  map[string]any{"route": "GET " + single + "/{record_id}", "trace_id": "1-65f0a1b2-0123456789abcdef01234567"},
			metrics: map[string]string{"Route": `"get-record"`, "trace_id": `"1-65f0a1b2-0123456789abcdef01234567"`, "DynamoDBCalls": "1", "DynamoDBRetries": "0", "DynamoDBThrottles": "0"}, dynamoCallsN: 1},
		{name: "malformed record id", method: "GET", path: single + "/rec-bad", token: "-", status: 400, level: "INFO",
			fields: map[string]any{"code": "validation_failed"}, absent: []string{"record_id", "cause"},
			metrics: map[string]string{"StatusClass": `"4xx"`}, dynamoCallsN: 0},
		{name: "no such record", method: "GET", path: single + "/rec-20200101-001", token: "-", status: 404, level: "INFO",
			fields:  map[string]any{"code": "not_found", "record_id": "rec-20200101-001"},
			metrics: map[string]string{"StatusClass": `"4xx"`}, dynamoCallsN: 1},
		{name: "throttled once, then answered", method: "GET", path: single + "/" + id, token: "-", fail: 1, failWith: "ThrottlingException", status: 200, level: "INFO",
			absent:  []string{"code"},
			metrics: map[string]string{"DynamoDBCalls": "1", "DynamoDBRetries": "1", "DynamoDBThrottles": "1", "StatusClass": `"2xx"`}, dynamoCallsN: 1},
		{name: "throttled twice, then answered", method: "GET", path: single + "/" + id, token: "-", fail: 2, failWith: "ProvisionedThroughputExceededException", status: 200, level: "INFO",
			fields:  map[string]any{"record_id": id},
			metrics: map[string]string{"StatusClass": `"2xx"`, "DynamoDBRetries": "2", "DynamoDBThrottles": "2"}, dynamoCallsN: 1},
		{name: "engine failure", method: "GET", path: single + "/" + id, token: "-", fail: 1, failWith: "ValidationException", status: 500, level: "ERROR",
			fields:  map[string]any{"code": "internal_error"},
			metrics: map[string]string{"StatusClass": `"5xx"`, "DynamoDBRetries": "0", "DynamoDBThrottles": "0"}, dynamoCallsN: 1},
		{name: "no token", method: "GET", path: single + "?export_id=" + queryMarker, status: 401, gateway: true, level: "INFO",
			fields: map[string]any{"code": "unauthorized", "route": "GET " + single, "method": "GET"}},
		{name: "unknown path", method: "GET", path: "/nowhere?x=" + queryMarker, token: "-", status: 404, gateway: true, level: "INFO",
			fields: map[string]any{"code": "route_not_found"}, absent: []string{"route", "org_id"}},
		{name: "delete", method: "DELETE", path: single + "/" + id, token: "-", status: 200, level: "INFO",
			fields:  map[string]any{"function": "delete-record", "record_id": id, "org_id": org},
			metrics: map[string]string{"Route": `"delete-record"`, "DynamoDBCalls": "2"}, dynamoCallsN: 2},
	}
	for _, s := range steps {
		logBefore, emfBefore := len(e.log.Lines(t)), len(e.emf.Lines(t))
		e.fail(s.fail, s.failWith)
		token := s.token
		if token == "-" {
			token = e.token
		}
		r := e.do(t, s.method, s.path, token, s.body, s.header...)
		if r.Status != s.status {
			t.Fatalf("%s: want status %d, got %d %s", s.name, s.status, r.Status, r.Body)
		}
		logs, emfs := e.log.Lines(t)[logBefore:], e.emf.Lines(t)[emfBefore:]
		if len(logs) != 1 {
			t.Fatalf("%s: want one log line, got %d: %v", s.name, len(logs), logs)
		}
		l := logs[0]
		wantMsg := "request"
		if s.gateway {
			wantMsg = "gateway"
		}
		if l["msg"] != wantMsg || l["level"] != s.level {
			t.Errorf("%s: want msg %q at %s, got %v at %v", s.name, wantMsg, s.level, l["msg"], l["level"])
		}
		if l["api_request_id"] != r.Header.Get("Apigw-Requestid") || r.Header.Get("Apigw-Requestid") == "" {
			t.Errorf("%s: want api_request_id %q (the Apigw-Requestid header), got %v", s.name, r.Header.Get("Apigw-Requestid"), l["api_request_id"])
		}
		if l["status"] != json.Number(fmt.Sprint(s.status)) {
			t.Errorf("%s: want status %d in the log line, got %v", s.name, s.status, l["status"])
		}
		if n, ok := l["latency_ms"].(json.Number); !ok || strings.HasPrefix(n.String(), "-") {
			t.Errorf("%s: want latency_ms a number of 0 or more, got %#v", s.name, l["latency_ms"])
		}
		if l["method"] != s.method {
			t.Errorf("%s: want method %s, got %v", s.name, s.method, l["method"])
		}
		for k, v := range s.fields {
			if l[k] != v {
				t.Errorf("%s: want log field %s = %v, got %v (line %v)", s.name, k, v, l[k], l)
			}
		}
		for _, k := range s.absent {
			if _, ok := l[k]; ok {
				t.Errorf("%s: want no log field %s, got %v", s.name, k, l[k])
			}
		}
		cause, hasCause := l["cause"].(string)
		if s.status >= 500 && (!hasCause || cause == "") {
			t.Errorf("%s: want the cause of a 5xx in the log line, got %v", s.name, l)
		}
		if s.status < 500 && hasCause {
			t.Errorf("%s: want no cause below 500, got %q", s.name, cause)
		}
		if s.gateway {
			if len(emfs) != 0 {
				t.Errorf("%s: want no metrics line for a request the gateway refuses, got %v", s.name, emfs)
			}
			continue
		}
		if !uuidPattern.MatchString(fmt.Sprint(l["lambda_request_id"])) {
			t.Errorf("%s: want lambda_request_id a UUID, got %v", s.name, l["lambda_request_id"])
		}
		if !traceIDPattern.MatchString(fmt.Sprint(l["trace_id"])) {
			t.Errorf("%s: want trace_id like 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx, got %v", s.name, l["trace_id"])
		}
		if len(emfs) != 1 {
			t.Fatalf("%s: want one metrics line, got %d", s.name, len(emfs))
		}
		m := emfs[0]
		checkEMF(t, s.name, m)
		if m["api_request_id"] != r.Header.Get("Apigw-Requestid") || m["trace_id"] != l["trace_id"] || m["lambda_request_id"] != l["lambda_request_id"] {
			t.Errorf("%s: want the metrics line to carry the log line's ids, got %v", s.name, m)
		}
		want := map[string]string{"Requests": "1", "StatusClass": fmt.Sprintf(`"%dxx"`, s.status/100)}
		for k, v := range s.metrics {
			want[k] = v
		}
		for k, v := range want {
			if got, _ := json.Marshal(m[k]); string(got) != v {
				t.Errorf("%s: want metric member %s = %s, got %s", s.name, k, v, got)
			}
		}
		for _, k := range s.noMetrics {
			if _, ok := m[k]; ok {
				t.Errorf("%s: want no metric member %s, got %v", s.name, k, m[k])
			}
		}
		if s.dynamoCallsN >= 0 {
			lat, _ := m["DynamoDBLatency"].([]any)
			if _, one := m["DynamoDBLatency"].(json.Number); one {
				lat = []any{m["DynamoDBLatency"]}
			}
			if got, _ := json.Marshal(m["DynamoDBCalls"]); string(got) != fmt.Sprint(s.dynamoCallsN) || len(lat) != s.dynamoCallsN {
				t.Errorf("%s: want %d DynamoDB calls with a latency each, got DynamoDBCalls %s and latencies %v", s.name, s.dynamoCallsN, got, m["DynamoDBLatency"])
			}
		}
	}

	// The create before the steps, and every step: never a token, a query string or a body.
	all := e.log.Bytes()
	for _, secret := range []string{e.token, "Bearer", queryMarker, bodyMarker, "export_id=", `"period_from"`} {
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("want no %q in the log, got it in:\n%s", secret, all)
		}
	}
	first := e.emf.Lines(t)[0]
	for k, v := range map[string]string{"Route": `"create-record"`, "RecordsCreated": "1", "IdempotentReplays": "0", "DynamoDBCalls": "2"} {
		if got, _ := json.Marshal(first[k]); string(got) != v {
			t.Errorf("create: want %s = %s, got %s", k, v, got)
		}
	}
}

// checkEMF checks the shape of an EMF line as CloudWatch reads it (pkg/metrics tests it
// against the whole specification): namespace, every dimension a string member, every
// dimension set led by Stage, which is local, every metric a number or array of numbers.
func checkEMF(t *testing.T, name string, m map[string]any) {
	t.Helper()
	if m["Stage"] != config.LocalStage {
		t.Errorf("%s: want Stage %q, got %v", name, config.LocalStage, m["Stage"])
	}
	aws, _ := m["_aws"].(map[string]any)
	if _, ok := aws["Timestamp"].(json.Number); !ok {
		t.Errorf("%s: want _aws.Timestamp a number, got %v", name, m)
	}
	dirs, _ := aws["CloudWatchMetrics"].([]any)
	if len(dirs) == 0 {
		t.Fatalf("%s: want metric directives, got %v", name, m)
	}
	for _, d := range dirs {
		dir, _ := d.(map[string]any)
		if dir["Namespace"] != "BufdirExportAudit" {
			t.Errorf("%s: want namespace BufdirExportAudit, got %v", name, dir["Namespace"])
		}
		sets, _ := dir["Dimensions"].([]any)
		for _, s := range sets {
			keys, _ := s.([]any)
			if len(keys) == 0 || keys[0] != "Stage" {
				t.Errorf("%s: want every dimension set to start with Stage, got %v", name, keys)
			}
			for _, k := range keys {
				if v, ok := m[k.(string)].(string); !ok || v == "" {
					t.Errorf("%s: want dimension %v a string member, got %v", name, k, m[k.(string)])
				}
			}
		}
		ms, _ := dir["Metrics"].([]any)
		for _, x := range ms {
			n, _ := x.(map[string]any)["Name"].(string)
			switch m[n].(type) {
			case json.Number, []any:
			default:
				t.Errorf("%s: want metric %s a number or array, got %#v", name, n, m[n])
			}
		}
	}
}

// TestOperate_ConcurrentRequestsKeepTheirOwnMetrics sends many requests of different routes at
// once and checks that each metrics line describes its own request only.
func TestOperate_ConcurrentRequestsKeepTheirOwnMetrics(t *testing.T) {
	t.Parallel()
	e := startAPI(t, slog.LevelInfo)
	type sent struct {
		route  string
		status int
		calls  int // DynamoDB calls; a create may make more when concurrent creates race for the day counter
	}
	var (
		mu   sync.Mutex
		want = map[string]sent{} // by api_request_id
		wg   sync.WaitGroup
	)
	const n = 20
	for i := range n {
		wg.Go(func() {
			var r testkit.Reply
			var s sent
			switch i % 3 {
			case 0:
				r = e.do(t, "POST", single, e.token, fmt.Sprintf(`{"export_id":"exp-conc-%d-%d","format":"csv","period_from":"2025-01-01","period_to":"2025-01-31"}`, i, time.Now().UnixNano()))
				s = sent{"create-record", 201, 2}
			case 1:
				r = e.do(t, "GET", single+fmt.Sprintf("/rec-20200101-%03d", i), e.token, "")
				s = sent{"get-record", 404, 1}
			case 2:
				r = e.do(t, "PUT", single+"/not-an-id/status", e.token, `{"status":"completed"}`)
				s = sent{"update-status", 400, 0}
			}
			if r.Status != s.status {
				t.Errorf("want %d, got %d %s", s.status, r.Status, r.Body)
			}
			mu.Lock()
			want[r.Header.Get("Apigw-Requestid")] = s
			mu.Unlock()
		})
	}
	wg.Wait()
	lines := e.emf.Lines(t)
	if len(lines) != n {
		t.Fatalf("want %d metrics lines, got %d", n, len(lines))
	}
	for _, m := range lines {
		id, _ := m["api_request_id"].(string)
		w, ok := want[id]
		if !ok {
			t.Errorf("want each metrics line to name a request sent, got %v", id)
			continue
		}
		delete(want, id)
		got := fmt.Sprintf("%v %v %v", m["Route"], m["StatusClass"], m["Requests"])
		if exp := fmt.Sprintf("%s %dxx 1", w.route, w.status/100); got != exp {
			t.Errorf("request %s: want Route, StatusClass, Requests %q, got %q", id, exp, got)
		}
		calls, _ := m["DynamoDBCalls"].(json.Number).Int64()
		if calls != int64(w.calls) && (w.route != "create-record" || calls < int64(w.calls)) {
			t.Errorf("request %s (%s): want %d DynamoDB calls, got %d", id, w.route, w.calls, calls)
		}
		var lat int64
		switch v := m["DynamoDBLatency"].(type) {
		case json.Number:
			lat = 1
		case []any:
			lat = int64(len(v))
		}
		if lat != calls {
			t.Errorf("request %s: want one latency per DynamoDB call (%d), got %d", id, calls, lat)
		}
	}
}

// TestOperate_LogLevelHidesRequestLinesButNotMetrics runs at LOG_LEVEL=warn: a 2xx request
// writes no log line, a 5xx one does, and both write their metrics.
func TestOperate_LogLevelHidesRequestLinesButNotMetrics(t *testing.T) {
	t.Parallel()
	e := startAPI(t, slog.LevelWarn)
	r := e.do(t, "GET", single, e.token, "")
	if r.Status != 200 {
		t.Fatalf("list: want 200, got %d %s", r.Status, r.Body)
	}
	e.fail(1, "ValidationException")
	r = e.do(t, "GET", single, e.token, "")
	if r.Status != 500 {
		t.Fatalf("list: want 500, got %d %s", r.Status, r.Body)
	}
	logs := e.log.Lines(t)
	if len(logs) != 1 || logs[0]["status"] != json.Number("500") {
		t.Errorf("want only the 500's line at warn, got %v", logs)
	}
	if n := len(e.emf.Lines(t)); n != 2 {
		t.Errorf("want both requests' metrics whatever the level, got %d lines", n)
	}
}
