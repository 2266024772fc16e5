package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/local"
)

// The two prefixes of the contract, written out here rather than taken from pkg/api, so that a
// change to the served paths fails these tests.
const (
	single  = "/api/v1/bufdir-audit-records"
	doubled = single + single
)

// prefixes names both prefixes for table-driven tests.
var prefixes = []struct{ name, path string }{
	{"single prefix", single},
	{"doubled prefix", doubled},
}

const secret = "contract-test-secret-of-at-least-32-bytes"

var allScopes = []string{"audit:read", "audit:write", "audit:delete"}

// server is one running local API: an embedded engine of its own and the API in front of it.
type server struct {
	url    string
	client *http.Client
}

// startServer starts the whole local API in-process for one test (or group of subtests);
// configure changes the configuration it starts with.
func startServer(t *testing.T, configure ...func(*config.Config)) *server {
	t.Helper()
	return startServerWith(t, localrun.Options{}, configure...)
}

// startServerWith starts the local API with o's engine wrapper and store options.
func startServerWith(t *testing.T, o localrun.Options, configure ...func(*config.Config)) *server {
	t.Helper()
	cfg := config.Config{
		TableName:        "audit-contract-test",
		Region:           "eu-north-1",
		OrgIDClaim:       "org_id",
		DeletedRetention: 365 * 24 * time.Hour,
	}
	for _, c := range configure {
		c(&cfg)
	}
	o.Addr, o.EngineAddr = "127.0.0.1:0", "127.0.0.1:0"
	o.Config, o.Auth.Secret, o.Log = cfg, secret, slog.New(slog.DiscardHandler)
	run, err := localrun.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start the local API: %v", err)
	}
	t.Cleanup(run.Close)
	// A connection the client dialled but never used keeps Shutdown waiting for 5 seconds; the
	// test's own client closes its connections first (cleanups run last in, first out).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &server{url: run.APIURL, client: &http.Client{Transport: tr}}
}

// caller is someone holding a token for the server.
type caller struct {
	srv   *server
	org   string
	sub   string
	token string
}

// as returns a caller of org with user id sub and the given scopes (all three when none given).
func (s *server) as(t *testing.T, org, sub string, scopes ...string) caller {
	t.Helper()
	if len(scopes) == 0 {
		scopes = allScopes
	}
	tok, err := local.Token(secret, org, sub, scopes, time.Hour, time.Now())
	if err != nil {
		t.Fatalf("sign a token: %v", err)
	}
	return caller{srv: s, org: org, sub: sub, token: tok}
}

// reply is an HTTP answer, read whole.
type reply struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

func (r reply) String() string {
	return fmt.Sprintf("%s %s → %d %s", r.method, r.path, r.status, r.body)
}

// call is one HTTP request to the server.
type call struct {
	method, path string
	token        string // sent as a bearer token unless empty
	auth         string // the whole Authorization header, instead of token
	body         []byte // sent when not nil
	contentType  string // of the body; application/json when empty and a body is sent
}

func (s *server) send(t *testing.T, c call) reply {
	t.Helper()
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, s.url+c.path, body)
	if err != nil {
		t.Fatalf("build %s %s: %v", c.method, c.path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if c.body != nil {
		ct := c.contentType
		if ct == "" {
			ct = "application/json"
		}
		if ct != "-" {
			req.Header.Set("Content-Type", ct)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", c.method, c.path, err)
	}
	return reply{method: c.method, path: c.path, status: resp.StatusCode, header: resp.Header, body: b}
}

// encode turns a request body into bytes: a string is sent as it is (for malformed bodies),
// anything else as JSON.
func encode(t *testing.T, v any) []byte {
	t.Helper()
	switch v := v.(type) {
	case string:
		return []byte(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %v: %v", v, err)
	}
	return b
}

func (c caller) do(t *testing.T, method, path string, body any) reply {
	t.Helper()
	cl := call{method: method, path: path, token: c.token}
	if body != nil {
		cl.body = encode(t, body)
	}
	return c.srv.send(t, cl)
}

func (c caller) get(t *testing.T, path string) reply { t.Helper(); return c.do(t, "GET", path, nil) }

func (c caller) post(t *testing.T, path string, body any) reply {
	t.Helper()
	return c.do(t, "POST", path, body)
}

func (c caller) put(t *testing.T, path string, body any) reply {
	t.Helper()
	return c.do(t, "PUT", path, body)
}

func (c caller) del(t *testing.T, path string) reply { t.Helper(); return c.do(t, "DELETE", path, nil) }

// exportSeq makes export ids unique across the whole test binary.
var exportSeq atomic.Int64

func newExportID() string { return fmt.Sprintf("exp-test-%06d", exportSeq.Add(1)) }

// fields is a request body.
type fields map[string]any

// newRecord is the smallest valid create body, with a fresh export_id; extra replaces or adds
// fields.
func newRecord(extra fields) fields {
	f := fields{"export_id": newExportID(), "format": "pdf", "period_from": "2025-01-01", "period_to": "2025-12-31"}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// create posts body to the canonical collection and expects 201.
func (c caller) create(t *testing.T, body fields) record {
	t.Helper()
	r := c.post(t, single, body)
	wantStatus(t, r, http.StatusCreated)
	return r.record(t)
}

// move changes a record's status and expects 200.
func (c caller) move(t *testing.T, id, status string, at time.Time) record {
	t.Helper()
	r := c.put(t, single+"/"+id+"/status", fields{"status": status, "updated_at": at.UTC().Format(time.RFC3339)})
	wantStatus(t, r, http.StatusOK)
	return r.record(t)
}

// record is a record as the API answers it.
type record struct {
	RecordID      string         `json:"record_id"`
	ExportID      string         `json:"export_id"`
	OrgID         string         `json:"org_id"`
	TriggeredBy   string         `json:"triggered_by_user_id"`
	Status        string         `json:"status"`
	Format        string         `json:"format"`
	PeriodFrom    string         `json:"period_from"`
	PeriodTo      string         `json:"period_to"`
	FileURL       *string        `json:"file_url"`
	ActivityCount *int64         `json:"activity_count"`
	FailureReason *string        `json:"failure_reason"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	History       []historyEntry `json:"status_history"`
}

type historyEntry struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
}

// listPage is a list answer.
type listPage struct {
	Data       []record `json:"data"`
	Pagination struct {
		Page  int `json:"page"`
		Limit int `json:"limit"`
		Total int `json:"total"`
	} `json:"pagination"`
}

func wantStatus(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("want status %d, got %s", status, r)
	}
}

// object decodes the body as a JSON object, keeping numbers as they were written.
func (r reply) object(t *testing.T) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("want a JSON object, got %s: %v", r, err)
	}
	return m
}

// record checks that the body is a record of the contract's shape (with status_history) and
// decodes it.
func (r reply) record(t *testing.T) record {
	t.Helper()
	wantJSON(t, r)
	checkRecordShape(t, r.object(t), true)
	var rec record
	if err := json.Unmarshal(r.body, &rec); err != nil {
		t.Fatalf("decode record from %s: %v", r, err)
	}
	return rec
}

// page checks that the body is a list answer whose items have the record's shape without
// status_history, and decodes it.
func (r reply) page(t *testing.T) listPage {
	t.Helper()
	wantJSON(t, r)
	m := r.object(t)
	if got := sortedKeys(m); !slices.Equal(got, []string{"data", "pagination"}) {
		t.Errorf("want a list answer with keys data and pagination, got %v", got)
	}
	data, ok := m["data"].([]any)
	if !ok {
		t.Fatalf("want data to be an array (never null), got %s", r)
	}
	for _, it := range data {
		item, ok := it.(map[string]any)
		if !ok {
			t.Fatalf("want every list item to be an object, got %s", r)
		}
		checkRecordShape(t, item, false)
	}
	var p listPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode list from %s: %v", r, err)
	}
	return p
}

func wantJSON(t *testing.T, r reply) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("want Content-Type application/json, got %q on %s", ct, r)
	}
}

var (
	recordIDPattern = regexp.MustCompile(`^rec-(\d{8})-(\d{3,})$`)
	timePattern     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
	datePattern     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// recordKeys are the keys every record has, always.
var recordKeys = []string{
	"activity_count", "created_at", "export_id", "failure_reason", "file_url", "format", "org_id",
	"period_from", "period_to", "record_id", "status", "triggered_by_user_id", "updated_at",
}

// checkRecordShape checks every rule of the record's shape: each key present (null where unset),
// no other key, times RFC 3339 UTC with Z in whole seconds, record_id rec-YYYYMMDD-NNN of the
// creation day, and, with history, status_history oldest first starting with the creation.
func checkRecordShape(t *testing.T, m map[string]any, history bool) {
	t.Helper()
	want := slices.Clone(recordKeys)
	if history {
		want = append(want, "status_history")
		slices.Sort(want)
	}
	if got := sortedKeys(m); !slices.Equal(got, want) {
		t.Errorf("want record keys %v, got %v", want, got)
	}
	for _, k := range []string{"record_id", "export_id", "org_id", "triggered_by_user_id", "status", "format", "period_from", "period_to", "created_at", "updated_at"} {
		if _, ok := m[k].(string); !ok {
			t.Errorf("want %s to be a string, got %#v", k, m[k])
		}
	}
	for _, k := range []string{"file_url", "failure_reason"} {
		if v, ok := m[k]; ok && v != nil {
			if _, ok := v.(string); !ok {
				t.Errorf("want %s to be a string or null, got %#v", k, v)
			}
		}
	}
	if v := m["activity_count"]; v != nil {
		if n, ok := v.(json.Number); !ok || !regexp.MustCompile(`^(0|[1-9][0-9]*)$`).MatchString(n.String()) {
			t.Errorf("want activity_count to be a whole number of 0 or more or null, got %#v", v)
		}
	}
	for _, k := range []string{"period_from", "period_to"} {
		if s, _ := m[k].(string); !datePattern.MatchString(s) {
			t.Errorf("want %s written YYYY-MM-DD, got %q", k, s)
		}
	}
	created := checkTime(t, "created_at", m["created_at"])
	updated := checkTime(t, "updated_at", m["updated_at"])
	if updated.Before(created) {
		t.Errorf("want updated_at %v not before created_at %v", updated, created)
	}
	id, _ := m["record_id"].(string)
	if sm := recordIDPattern.FindStringSubmatch(id); sm == nil {
		t.Errorf("want record_id like rec-YYYYMMDD-NNN, got %q", id)
	} else if day := created.Format("20060102"); sm[1] != day {
		t.Errorf("want record_id %s to carry the UTC day of created_at, %s", id, day)
	} else if strings.HasPrefix(sm[2], "0") && len(sm[2]) > 3 {
		t.Errorf("want the sequence of %s padded to three digits only", id)
	}
	if !history {
		return
	}
	hist, ok := m["status_history"].([]any)
	if !ok || len(hist) == 0 {
		t.Fatalf("want status_history to be a non-empty list, got %#v", m["status_history"])
	}
	var prev time.Time
	for i, h := range hist {
		e, ok := h.(map[string]any)
		if !ok {
			t.Fatalf("want status_history[%d] to be an object, got %#v", i, h)
		}
		if got := sortedKeys(e); !slices.Equal(got, []string{"at", "by", "status"}) {
			t.Errorf("want status_history[%d] keys at, by, status, got %v", i, got)
		}
		at := checkTime(t, fmt.Sprintf("status_history[%d].at", i), e["at"])
		if i == 0 && !at.Equal(created) {
			t.Errorf("want status_history to start with the creation at %v, got %v", created, at)
		}
		if at.Before(prev) {
			t.Errorf("want status_history oldest first, got %v after %v", at, prev)
		}
		prev = at
	}
	if last, _ := hist[len(hist)-1].(map[string]any); last["status"] != m["status"] {
		t.Errorf("want the last status_history entry to be the record's status %v, got %v", m["status"], last["status"])
	}
}

func checkTime(t *testing.T, name string, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	if !timePattern.MatchString(s) {
		t.Errorf("want %s in RFC 3339 UTC with Z and whole seconds, got %#v", name, v)
		return time.Time{}
	}
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Errorf("want %s to be a valid time, got %q: %v", name, s, err)
	}
	return tm
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// wantProblem checks that r is an RFC 9457 problem document with status and code, and returns it.
func wantProblem(t *testing.T, r reply, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("want status %d (%s), got %s", status, code, r)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("want Content-Type application/problem+json, got %q on %s", ct, r)
	}
	p := r.object(t)
	if s, ok := p["type"].(string); !ok || s == "" {
		t.Errorf("want a type in the problem, got %s", r)
	}
	if p["title"] != http.StatusText(status) {
		t.Errorf("want title %q, got %s", http.StatusText(status), r)
	}
	if n, ok := p["status"].(json.Number); !ok || n.String() != fmt.Sprint(status) {
		t.Errorf("want status %d in the problem, got %s", status, r)
	}
	if p["code"] != code {
		t.Errorf("want code %q, got %s", code, r)
	}
	if s, ok := p["detail"].(string); !ok || s == "" {
		t.Errorf("want a detail in the problem, got %s", r)
	}
	return p
}

// wantFieldError checks that a validation problem names field.
func wantFieldError(t *testing.T, r reply, field string) {
	t.Helper()
	p := wantProblem(t, r, http.StatusBadRequest, "validation_failed")
	errs, _ := p["errors"].([]any)
	for _, e := range errs {
		if m, _ := e.(map[string]any); m["field"] == field {
			if msg, _ := m["message"].(string); msg == "" {
				t.Errorf("want a message for field %s, got %s", field, r)
			}
			return
		}
	}
	t.Errorf("want an error naming field %s, got %s", field, r)
}

// wantNotContain checks that no secret of another organisation appears in r's body.
func wantNotContain(t *testing.T, r reply, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(r.body, []byte(s)) {
			t.Errorf("want no %q in the answer, got %s", s, r)
		}
	}
}

func ts(tm time.Time) string { return tm.UTC().Format(time.RFC3339) }

// seqOf is the day sequence number of a record_id.
func seqOf(t *testing.T, id string) int {
	t.Helper()
	sm := recordIDPattern.FindStringSubmatch(id)
	if sm == nil {
		t.Fatalf("want a record_id like rec-YYYYMMDD-NNN, got %q", id)
	}
	n, err := strconv.Atoi(sm[2])
	if err != nil {
		t.Fatalf("record_id %q: %v", id, err)
	}
	return n
}
