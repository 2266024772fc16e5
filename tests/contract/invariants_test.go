package contract

// What the resilience, race, hostile-input, isolation and load tests share: a local API of
// their own with a fault injector in front of its engine, an HTTP client that never stops a
// goroutine with t.Fatal, a raw look at the table, the invariants every state of the table must
// keep, and a ledger of what the API acknowledged, checked against what it stores afterwards.
// Names start with rs so that they never meet the contract tests' helpers.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/pkg/api"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/bufdir/export-audit/pkg/local"
	"github.com/bufdir/export-audit/pkg/store"
)

const (
	rsSecret = "resilience-test-secret-of-at-least-32-bytes"
	rsTable  = "audit-resilience-test"
	rsBase   = "/api/v1/bufdir-audit-records"
)

var rsAllScopes = []string{"audit:read", "audit:write", "audit:delete"}

// rsEnv is one local API on its own engine, with the injector in front of the engine and a raw
// SDK client for looking at the table.
type rsEnv struct {
	url  string
	inj  *faults.Injector
	raw  *dynamodb.Client
	deps *api.Deps
	logs *rsLogs
}

// rsLogs keeps the API's error log lines (the 5xx answers, with their causes).
type rsLogs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *rsLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *rsLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rsStart starts the local API on loopback with inj (no rules yet) in front of its engine;
// opts may add store options or change the configuration.
func rsStart(t testing.TB, inj *faults.Injector, opts ...func(*localrun.Options)) *rsEnv {
	t.Helper()
	if inj == nil {
		inj = faults.New(1)
	}
	logs := &rsLogs{}
	o := localrun.Options{
		Addr: "127.0.0.1:0", EngineAddr: "127.0.0.1:0",
		Config: config.Config{
			TableName: rsTable, Region: "eu-north-1", OrgIDClaim: "org_id",
			DeletedRetention: 365 * 24 * time.Hour,
		},
		Auth:   local.Authorizer{Secret: rsSecret},
		Log:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelError})),
		Faults: inj,
	}
	for _, f := range opts {
		f(&o)
	}
	run, err := localrun.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start the local API: %v", err)
	}
	t.Cleanup(run.Close)
	raw, err := app.NewDynamoDB(config.Config{Region: "eu-north-1", DynamoDBEndpoint: run.EngineURL})
	if err != nil {
		t.Fatalf("raw client: %v", err)
	}
	return &rsEnv{url: run.APIURL, inj: inj, raw: raw, deps: run.Deps, logs: logs}
}

// rsWithClock makes the store's clock stand at at.
func rsWithClock(at time.Time) func(*localrun.Options) {
	return func(o *localrun.Options) {
		o.StoreOptions = append(o.StoreOptions, store.WithClock(func() time.Time { return at }))
	}
}

func rsToken(t testing.TB, org, sub string, scopes ...string) string {
	t.Helper()
	if len(scopes) == 0 {
		scopes = rsAllScopes
	}
	tok, err := local.Token(rsSecret, org, sub, scopes, time.Hour, time.Now())
	if err != nil {
		t.Fatalf("sign a token: %v", err)
	}
	return tok
}

// rsClient keeps connections to one API; its transport is shared by every goroutine of a test.
var rsClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
}

// rsReply is an answer, read whole.
type rsReply struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

func (r rsReply) String() string {
	return fmt.Sprintf("%s %s → %d %s", r.method, r.path, r.status, bytes.TrimSpace(r.body))
}

// rsSend makes one request. It returns an error instead of failing the test, so goroutines may
// call it; body is sent as JSON unless it is a string or []byte.
func (e *rsEnv) rsSend(method, path, token string, body any, header ...string) (rsReply, error) {
	var rd io.Reader
	if body != nil {
		var b []byte
		switch v := body.(type) {
		case string:
			b = []byte(v)
		case []byte:
			b = v
		default:
			var err error
			if b, err = json.Marshal(v); err != nil {
				return rsReply{}, err
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return rsReply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := rsClient.Do(req)
	if err != nil {
		return rsReply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return rsReply{}, err
	}
	return rsReply{method: method, path: path, status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// rsMust is rsSend for the test's own goroutine.
func (e *rsEnv) rsMust(t testing.TB, method, path, token string, body any) rsReply {
	t.Helper()
	r, err := e.rsSend(method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// rsRec is a record as the API answers it.
type rsRec struct {
	RecordID      string  `json:"record_id"`
	ExportID      string  `json:"export_id"`
	OrgID         string  `json:"org_id"`
	Status        string  `json:"status"`
	FileURL       *string `json:"file_url"`
	ActivityCount *int64  `json:"activity_count"`
	CreatedAt     string  `json:"created_at"`
	History       []struct {
		Status string `json:"status"`
		At     string `json:"at"`
		By     string `json:"by"`
	} `json:"status_history"`
}

func (r rsReply) rec() (rsRec, error) {
	var rec rsRec
	if err := json.Unmarshal(r.body, &rec); err != nil || rec.RecordID == "" {
		return rsRec{}, fmt.Errorf("want a record, got %s (%v)", r, err)
	}
	return rec, nil
}

// rsProblem checks that r is a problem document of status (any 4xx when status is 0) and
// returns its code.
func rsProblem(r rsReply, status int) (string, error) {
	if (status != 0 && r.status != status) || (status == 0 && (r.status < 400 || r.status > 499)) {
		return "", fmt.Errorf("want status %d, got %s", status, r)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		return "", fmt.Errorf("want a problem document, got Content-Type %q on %s", ct, r)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil || p.Status != r.status || p.Code == "" || p.Title == "" || p.Detail == "" {
		return "", fmt.Errorf("want a whole problem document, got %s (%v)", r, err)
	}
	return p.Code, nil
}

// rsBody is the smallest valid create body for export.
func rsBody(export string) map[string]any {
	return map[string]any{"export_id": export, "format": "csv", "period_from": "2025-01-01", "period_to": "2025-12-31"}
}

// The table as it is, read with the raw SDK (a Scan: tests only).

type rsItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	RecordID  string `dynamodbav:"record_id"`
	ExportID  string `dynamodbav:"export_id"`
	OrgID     string `dynamodbav:"org_id"`
	Status    string `dynamodbav:"status"`
	FileURL   string `dynamodbav:"file_url"`
	CreatedAt string `dynamodbav:"created_at"`
	UpdatedAt string `dynamodbav:"updated_at"`
	DeletedAt string `dynamodbav:"deleted_at"`
	DeletedBy string `dynamodbav:"deleted_by"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
	Live      *int64 `dynamodbav:"live"`
	Seq       int64  `dynamodbav:"seq"`
	LastAt    string `dynamodbav:"last_at"`
	History   []struct {
		Status string `dynamodbav:"status"`
		At     string `dynamodbav:"at"`
		By     string `dynamodbav:"by"`
	} `dynamodbav:"history"`
}

// rsSnapshot is every item of the table, sorted out by kind.
type rsSnapshot struct {
	records  map[string]rsItem // org|record_id
	guards   map[string]rsItem // org|export_id
	stats    map[string]int64  // org → live
	counters map[string]int64  // day → seq
	items    int
}

// rsScan reads the whole table. Faults are switched off first: the look must not fail.
func (e *rsEnv) rsScan(t testing.TB) rsSnapshot {
	t.Helper()
	e.inj.Set()
	s := rsSnapshot{records: map[string]rsItem{}, guards: map[string]rsItem{}, stats: map[string]int64{}, counters: map[string]int64{}}
	in := &dynamodb.ScanInput{TableName: aws.String(rsTable), ConsistentRead: aws.Bool(true)}
	for {
		out, err := e.raw.Scan(context.Background(), in)
		if err != nil {
			t.Fatalf("scan the table: %v", err)
		}
		for _, av := range out.Items {
			var it rsItem
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				t.Fatalf("decode item %v: %v", av, err)
			}
			s.items++
			org := strings.TrimPrefix(it.PK, "ORG#")
			switch {
			case strings.HasPrefix(it.PK, "SEQ#") && it.SK == "SEQ":
				s.counters[strings.TrimPrefix(it.PK, "SEQ#")] = it.Seq
			case strings.HasPrefix(it.SK, "REC#"):
				s.records[org+"|"+it.RecordID] = it
			case strings.HasPrefix(it.SK, "EXP#"):
				s.guards[org+"|"+strings.TrimPrefix(it.SK, "EXP#")] = it
			case it.SK == "STATS":
				if it.Live != nil {
					s.stats[org] = *it.Live
				}
			default:
				t.Errorf("unexpected item pk=%q sk=%q", it.PK, it.SK)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return s
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

var rsSKPattern = regexp.MustCompile(`^REC#(\d{8})#(\d{9})$`)

// rsFigures is what one check looked at.
type rsFigures struct {
	live, tombstones, guards, orgs int
}

// rsCheck checks every invariant of the table and returns what it counted:
//   - every guard points at a live record of its organisation with its export_id, and every
//     live record has that guard: a create wrote both or neither, one live record per export;
//   - each organisation's STATS live count is its number of live records;
//   - a tombstone has deleted_at, deleted_by and expires_at, and no guard points at it;
//   - a record's key is its record_id, and its day's counter has reached its sequence, so no
//     id is handed out twice;
//   - every history starts with a status a record may be created in, at created_at, takes only
//     moves the status machine allows, and ends in the record's status.
func (e *rsEnv) rsCheck(t testing.TB) rsFigures {
	t.Helper()
	s := e.rsScan(t)
	var f rsFigures
	liveByOrg := map[string]int64{}
	orgs := map[string]bool{}
	for k, r := range s.records {
		org := strings.SplitN(k, "|", 2)[0]
		orgs[org] = true
		m := rsSKPattern.FindStringSubmatch(r.SK)
		id, err := audit.ParseRecordID(r.RecordID)
		if m == nil || err != nil || id.DayKey() != m[1] || fmt.Sprintf("%09d", id.Seq) != m[2] {
			t.Errorf("record %s is kept under sk %s", r.RecordID, r.SK)
		} else if s.counters[m[1]] < id.Seq {
			t.Errorf("record %s is beyond its day's counter %d: the id could be handed out again", r.RecordID, s.counters[m[1]])
		}
		if r.OrgID != org {
			t.Errorf("record %s of org %s is in the partition of %s", r.RecordID, r.OrgID, org)
		}
		rsCheckHistory(t, r)
		g, guarded := s.guards[org+"|"+r.ExportID]
		if r.DeletedAt != "" {
			f.tombstones++
			if r.DeletedBy == "" || r.ExpiresAt == 0 {
				t.Errorf("tombstone %s lacks deleted_by or expires_at: %+v", r.RecordID, r)
			}
			if guarded && g.RecordID == r.RecordID {
				t.Errorf("the guard of export_id %s points at tombstone %s", r.ExportID, r.RecordID)
			}
			continue
		}
		f.live++
		liveByOrg[org]++
		if !guarded || g.RecordID != r.RecordID {
			t.Errorf("live record %s (export_id %s) has no guard of its own; guard: %+v", r.RecordID, r.ExportID, g)
		}
	}
	for k, g := range s.guards {
		f.guards++
		org := strings.SplitN(k, "|", 2)[0]
		r, ok := s.records[org+"|"+g.RecordID]
		if !ok || r.DeletedAt != "" || r.ExportID != g.ExportID {
			t.Errorf("guard %s points at %s, which is not a live record of that export_id", k, g.RecordID)
		}
	}
	for org := range s.stats {
		orgs[org] = true
	}
	for org := range orgs {
		if s.stats[org] != liveByOrg[org] {
			t.Errorf("org %s: STATS live is %d, but %d records are live", org, s.stats[org], liveByOrg[org])
		}
	}
	f.orgs = len(orgs)
	return f
}

func rsCheckHistory(t testing.TB, r rsItem) {
	t.Helper()
	h := r.History
	if len(h) == 0 {
		t.Errorf("record %s has no history", r.RecordID)
		return
	}
	if !audit.InitialStatus(audit.Status(h[0].Status)) || h[0].At != r.CreatedAt {
		t.Errorf("record %s: history starts with %+v, want a creation at %s", r.RecordID, h[0], r.CreatedAt)
	}
	for i := 1; i < len(h); i++ {
		if !audit.Status(h[i-1].Status).CanMoveTo(audit.Status(h[i].Status)) {
			t.Errorf("record %s: history moves %s → %s, which the status machine forbids", r.RecordID, h[i-1].Status, h[i].Status)
		}
		if h[i].At < r.CreatedAt {
			t.Errorf("record %s: history entry %d at %s is before created_at %s", r.RecordID, i, h[i].At, r.CreatedAt)
		}
	}
	if last := h[len(h)-1]; last.Status != r.Status {
		t.Errorf("record %s is %s but its history ends in %s", r.RecordID, r.Status, last.Status)
	}
}

// rsLedger keeps what the API acknowledged with a 2xx, to check afterwards that nothing
// acknowledged was lost.
type rsLedger struct {
	mu      sync.Mutex
	tokens  map[string]string          // org → a token with every scope
	created map[string]rsAck           // record_id → its creation
	deleted map[string]bool            // record_id → deleted with 200
	maybe   map[string]bool            // record_id → a delete answered with an error
	moved   map[string]map[string]bool // record_id → statuses answered 200
	files   map[string]string          // record_id → file_url answered 200
	acks    int
}

type rsAck struct{ org, export string }

func newRSLedger() *rsLedger {
	return &rsLedger{tokens: map[string]string{}, created: map[string]rsAck{}, deleted: map[string]bool{}, maybe: map[string]bool{},
		moved: map[string]map[string]bool{}, files: map[string]string{}}
}

func (l *rsLedger) create(org string, rec rsRec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks++
	l.created[rec.RecordID] = rsAck{org: org, export: rec.ExportID}
}

func (l *rsLedger) move(id, status string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks++
	if l.moved[id] == nil {
		l.moved[id] = map[string]bool{}
	}
	l.moved[id][status] = true
}

func (l *rsLedger) file(id, url string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks++
	l.files[id] = url
}

func (l *rsLedger) del(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks++
	l.deleted[id] = true
}

// maybeDel notes a delete that was not acknowledged: it may have been applied.
func (l *rsLedger) maybeDel(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maybe[id] = true
}

// rsVerify reads every acknowledged record back through the API, with faults off: a record
// created with 2xx and not deleted answers 200 with its export_id, every status answered 200
// is in its history, every file_url answered 200 is its file_url; a deleted one answers 404.
// It returns how many records it read.
func (e *rsEnv) rsVerify(t testing.TB, l *rsLedger) int {
	t.Helper()
	e.inj.Set()
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.created))
	for id := range l.created {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ack := l.created[id]
		r := e.rsMust(t, "GET", rsBase+"/"+id, l.tokens[ack.org], nil)
		if l.deleted[id] {
			if r.status != http.StatusNotFound {
				t.Errorf("deleted record %s: want 404, got %s", id, r)
			}
			continue
		}
		if l.maybe[id] && r.status == http.StatusNotFound {
			continue
		}
		if r.status != http.StatusOK {
			t.Errorf("acknowledged record %s is lost: %s", id, r)
			continue
		}
		rec, err := r.rec()
		if err != nil {
			t.Error(err)
			continue
		}
		if rec.ExportID != ack.export || rec.OrgID != ack.org {
			t.Errorf("record %s: want export %s of %s, got %s of %s", id, ack.export, ack.org, rec.ExportID, rec.OrgID)
		}
		seen := map[string]bool{}
		for _, h := range rec.History {
			seen[h.Status] = true
		}
		for st := range l.moved[id] {
			if !seen[st] {
				t.Errorf("record %s: the move to %s was acknowledged but is not in its history %+v", id, st, rec.History)
			}
		}
		if u, ok := l.files[id]; ok && (rec.FileURL == nil || *rec.FileURL != u) {
			t.Errorf("record %s: file_url %s was acknowledged, the record has %v", id, u, rec.FileURL)
		}
	}
	return len(ids)
}

// rsPercentile returns the p-th percentile (0..100) of sorted durations.
func rsPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// rsOneRecord creates a record of org (faults off) and returns it.
func rsOneRecord(t *testing.T, e *rsEnv, token, export string) rsRec {
	t.Helper()
	r := e.rsMust(t, "POST", rsBase, token, rsBody(export))
	if r.status != http.StatusCreated {
		t.Fatalf("create %s: %s", export, r)
	}
	rec, err := r.rec()
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

type rsRequest struct {
	method, path string
	body         any
}
