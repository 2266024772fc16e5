package operations

// Tests of what an operator sees: one JSON log line and one EMF metrics line per request,
// through real HTTP against the local API, which logs and measures exactly as the Lambda
// functions do (the same api.Handle, the same app logger, the same SDK middleware).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/local"
)

// obsSink collects lines written by many goroutines.
type obsSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *obsSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *obsSink) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.buf.Bytes())
}

// lines decodes every line written so far.
func (s *obsSink) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split(s.bytes(), []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("want every line a JSON object, got %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// obsEnv is a local API whose log and metrics go to sinks, and whose engine can be told to
// answer the next calls with a DynamoDB error.
type obsEnv struct {
	url      string
	log, emf *obsSink
	failNext atomic.Int32
	failWith atomic.Value
	token    string
}

const obsOrg = "org-obs-001"

func obsStart(t *testing.T, level slog.Level) *obsEnv {
	t.Helper()
	e := &obsEnv{log: &obsSink{}, emf: &obsSink{}}
	door := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if e.failNext.Add(-1) >= 0 {
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected by the test"}`, e.failWith.Load())
				return
			}
			e.failNext.Store(0)
			h.ServeHTTP(w, r)
		})
	}
	run, err := localrun.Start(t.Context(), localrun.Options{
		Addr: "127.0.0.1:0", EngineAddr: "127.0.0.1:0",
		// make run's stage (cmd/local sets STAGE=local).
		Config: config.Config{Stage: config.LocalStage, TableName: "audit-observe", Region: "eu-north-1", OrgIDClaim: "org_id", DeletedRetention: 24 * time.Hour, LogLevel: level},
		Auth:   local.Authorizer{Secret: secret}, Log: app.NewLogger(e.log, level), Metrics: e.emf, EngineWrap: door,
	})
	if err != nil {
		t.Fatalf("start the local API: %v", err)
	}
	t.Cleanup(run.Close)
	e.url = run.APIURL
	e.token, err = local.Token(secret, obsOrg, "usr-obs", allScopes, time.Hour, time.Now())
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return e
}

// fail makes the engine answer the next n calls with a DynamoDB error of errorType.
func (e *obsEnv) fail(n int32, errorType string) {
	e.failWith.Store(errorType)
	e.failNext.Store(n)
}

type obsReply struct {
	status    int
	requestID string // Apigw-Requestid
	body      []byte
}

// obsDo sends one request; header pairs are set on it.
func (e *obsEnv) obsDo(t *testing.T, method, path, token, body string, header ...string) obsReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return obsReply{status: resp.StatusCode, requestID: resp.Header.Get("Apigw-Requestid"), body: b}
}

var (
	obsUUID    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	obsTraceID = regexp.MustCompile(`^1-[0-9a-f]{8}-[0-9a-f]{24}$`)
)

// obsStep is one request and what its log line and metrics line must say.
type obsStep struct {
	name         string
	method, path string
	token        string // "" sends none; "-" the env's token
	body         string
	header       []string
	fail         int32  // engine calls to fail
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
	e := obsStart(t, slog.LevelInfo)
	// Markers that must never reach the log: the query string, the body, the token.
	const (
		queryMarker = "exp-query-marker-0001"
		bodyMarker  = "body-marker-never-logged"
	)
	exportID := "exp-obs-" + fmt.Sprint(time.Now().UnixNano())
	create := fmt.Sprintf(`{"export_id":%q,"format":"pdf","period_from":"2025-01-01","period_to":"2025-12-31"}`, exportID)
	r := e.obsDo(t, "POST", single, e.token, create)
	if r.status != http.StatusCreated {
		t.Fatalf("create: want 201, got %d %s", r.status, r.body)
	}
	var rec struct {
		RecordID string `json:"record_id"`
	}
	_ = json.Unmarshal(r.body, &rec)
	id := rec.RecordID
	clientTrace := "Root=1-65f0a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"

	steps := []obsStep{
		{name: "replay", method: "POST", path: single, token: "-", body: create, status: 200, level: "INFO",
			fields:  map[string]any{"route": "POST " + single, "function": "create-record", "method": "POST", "org_id": obsOrg, "record_id": id},
			absent:  []string{"code", "cause"},
			metrics: map[string]string{"Route": `"create-record"`, "StatusClass": `"2xx"`, "Requests": "1", "RecordsCreated": "0", "IdempotentReplays": "1"}, dynamoCallsN: -1},
		{name: "list with a query string", method: "GET", path: single + "?export_id=" + queryMarker + "&limit=5", token: "-", status: 200, level: "INFO",
			fields:  map[string]any{"route": "GET " + single, "function": "list-records", "org_id": obsOrg},
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
			fields:  map[string]any{"function": "delete-record", "record_id": id, "org_id": obsOrg},
			metrics: map[string]string{"Route": `"delete-record"`, "DynamoDBCalls": "2"}, dynamoCallsN: 2},
	}
	for _, s := range steps {
		logBefore, emfBefore := len(e.log.lines(t)), len(e.emf.lines(t))
		e.fail(s.fail, s.failWith)
		token := s.token
		if token == "-" {
			token = e.token
		}
		r := e.obsDo(t, s.method, s.path, token, s.body, s.header...)
		if r.status != s.status {
			t.Fatalf("%s: want status %d, got %d %s", s.name, s.status, r.status, r.body)
		}
		logs, emfs := e.log.lines(t)[logBefore:], e.emf.lines(t)[emfBefore:]
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
		if l["api_request_id"] != r.requestID || r.requestID == "" {
			t.Errorf("%s: want api_request_id %q (the Apigw-Requestid header), got %v", s.name, r.requestID, l["api_request_id"])
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
		if !obsUUID.MatchString(fmt.Sprint(l["lambda_request_id"])) {
			t.Errorf("%s: want lambda_request_id a UUID, got %v", s.name, l["lambda_request_id"])
		}
		if !obsTraceID.MatchString(fmt.Sprint(l["trace_id"])) {
			t.Errorf("%s: want trace_id like 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx, got %v", s.name, l["trace_id"])
		}
		if len(emfs) != 1 {
			t.Fatalf("%s: want one metrics line, got %d", s.name, len(emfs))
		}
		m := emfs[0]
		obsCheckEMF(t, s.name, m)
		if m["api_request_id"] != r.requestID || m["trace_id"] != l["trace_id"] || m["lambda_request_id"] != l["lambda_request_id"] {
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
	all := e.log.bytes()
	for _, secret := range []string{e.token, "Bearer", queryMarker, bodyMarker, "export_id=", `"period_from"`} {
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("want no %q in the log, got it in:\n%s", secret, all)
		}
	}
	first := e.emf.lines(t)[0]
	for k, v := range map[string]string{"Route": `"create-record"`, "RecordsCreated": "1", "IdempotentReplays": "0", "DynamoDBCalls": "2"} {
		if got, _ := json.Marshal(first[k]); string(got) != v {
			t.Errorf("create: want %s = %s, got %s", k, v, got)
		}
	}
}

// obsCheckEMF checks the shape of an EMF line as CloudWatch reads it (pkg/metrics tests it
// against the whole specification): namespace, every dimension a string member, every
// dimension set led by Stage, which is local, every metric a number or array of numbers.
func obsCheckEMF(t *testing.T, name string, m map[string]any) {
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
	e := obsStart(t, slog.LevelInfo)
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
			var r obsReply
			var s sent
			switch i % 3 {
			case 0:
				r = e.obsDo(t, "POST", single, e.token, fmt.Sprintf(`{"export_id":"exp-conc-%d-%d","format":"csv","period_from":"2025-01-01","period_to":"2025-01-31"}`, i, time.Now().UnixNano()))
				s = sent{"create-record", 201, 2}
			case 1:
				r = e.obsDo(t, "GET", single+fmt.Sprintf("/rec-20200101-%03d", i), e.token, "")
				s = sent{"get-record", 404, 1}
			case 2:
				r = e.obsDo(t, "PUT", single+"/not-an-id/status", e.token, `{"status":"completed"}`)
				s = sent{"update-status", 400, 0}
			}
			if r.status != s.status {
				t.Errorf("want %d, got %d %s", s.status, r.status, r.body)
			}
			mu.Lock()
			want[r.requestID] = s
			mu.Unlock()
		})
	}
	wg.Wait()
	lines := e.emf.lines(t)
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
	e := obsStart(t, slog.LevelWarn)
	r := e.obsDo(t, "GET", single, e.token, "")
	if r.status != 200 {
		t.Fatalf("list: want 200, got %d %s", r.status, r.body)
	}
	e.fail(1, "ValidationException")
	r = e.obsDo(t, "GET", single, e.token, "")
	if r.status != 500 {
		t.Fatalf("list: want 500, got %d %s", r.status, r.body)
	}
	logs := e.log.lines(t)
	if len(logs) != 1 || logs[0]["status"] != json.Number("500") {
		t.Errorf("want only the 500's line at warn, got %v", logs)
	}
	if n := len(e.emf.lines(t)); n != 2 {
		t.Errorf("want both requests' metrics whatever the level, got %d lines", n)
	}
}
