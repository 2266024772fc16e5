package testkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// HTTP sends requests to one server and reads each answer whole. It is safe for concurrent use.
type HTTP struct {
	URL    string // e.g. http://127.0.0.1:8080
	Client *http.Client
}

// Request is one HTTP request.
type Request struct {
	Method, Path string
	Token        string            // sent as a bearer token unless empty
	Auth         string            // the whole Authorization header, instead of Token
	Body         any               // nil sends none; a string or []byte as it is, anything else as JSON
	ContentType  string            // of a body: application/json when empty, none when "-"
	Header       map[string]string // further headers
}

// Encode is a request body as it is sent: a string or []byte as it is, anything else as JSON.
func Encode(body any) ([]byte, error) {
	switch v := body.(type) {
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	}
	return json.Marshal(body)
}

// New builds r for the server at base.
func (r Request) New(base string) (*http.Request, error) {
	var rd io.Reader
	if r.Body != nil {
		b, err := Encode(r.Body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(r.Method, base+r.Path, rd)
	if err != nil {
		return nil, err
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if r.Auth != "" {
		req.Header.Set("Authorization", r.Auth)
	}
	if r.Body != nil {
		switch ct := r.ContentType; ct {
		case "":
			req.Header.Set("Content-Type", "application/json")
		case "-":
		default:
			req.Header.Set("Content-Type", ct)
		}
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	return req, nil
}

// Do sends r. It returns an error rather than failing a test, so that any goroutine may call it.
func (h HTTP) Do(r Request) (Reply, error) {
	req, err := r.New(h.URL)
	if err != nil {
		return Reply{}, err
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Method: r.Method, Path: r.Path, Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Send is Do of a request with a bearer token and a body (nil for none).
func (h HTTP) Send(method, path, token string, body any) (Reply, error) {
	return h.Do(Request{Method: method, Path: path, Token: token, Body: body})
}

// MustDo is Do for the test's own goroutine: an error fails t.
func (h HTTP) MustDo(t testing.TB, r Request) Reply {
	t.Helper()
	rep, err := h.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	return rep
}

// Must is Send for the test's own goroutine: an error fails t.
func (h HTTP) Must(t testing.TB, method, path, token string, body any) Reply {
	t.Helper()
	return h.MustDo(t, Request{Method: method, Path: path, Token: token, Body: body})
}

// Reply is an HTTP answer, read whole.
type Reply struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
}

func (r Reply) String() string {
	return fmt.Sprintf("%s %s → %d %s", r.Method, r.Path, r.Status, bytes.TrimSpace(r.Body))
}

// Object decodes the body as a JSON object, keeping numbers as they were written.
func (r Reply) Object(t testing.TB) map[string]any {
	t.Helper()
	m, err := decodeObject(r.Body)
	if err != nil {
		t.Fatalf("want a JSON object, got %s: %v", r, err)
	}
	return m
}

// Record checks that the body is a record of the contract's shape (with status_history) and
// decodes it.
func (r Reply) Record(t testing.TB) Record {
	t.Helper()
	WantJSON(t, r)
	CheckRecordShape(t, r.Object(t), true)
	var rec Record
	if err := json.Unmarshal(r.Body, &rec); err != nil {
		t.Fatalf("decode record from %s: %v", r, err)
	}
	return rec
}

// ParseRecord decodes the body as a record, for goroutines, which must not fail a test.
func (r Reply) ParseRecord() (Record, error) {
	var rec Record
	if err := json.Unmarshal(r.Body, &rec); err != nil || rec.RecordID == "" {
		return Record{}, fmt.Errorf("want a record, got %s (%v)", r, err)
	}
	return rec, nil
}

// Page checks that the body is a list answer whose items have the record's shape without
// status_history, and decodes it.
func (r Reply) Page(t testing.TB) Page {
	t.Helper()
	WantJSON(t, r)
	m := r.Object(t)
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, []string{"data", "pagination"}) {
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
		CheckRecordShape(t, item, false)
	}
	var p Page
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("decode list from %s: %v", r, err)
	}
	return p
}

// ParseProblem checks that r is a whole RFC 9457 problem document of status (any 4xx when
// status is 0): its content type, a type, the status's title, the status, a code and a detail.
// It returns the document, for goroutines, which must not fail a test.
func (r Reply) ParseProblem(status int) (map[string]any, error) {
	if (status != 0 && r.Status != status) || (status == 0 && (r.Status < 400 || r.Status > 499)) {
		return nil, fmt.Errorf("want status %d, got %s", status, r)
	}
	var errs []error
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		errs = append(errs, fmt.Errorf("want Content-Type application/problem+json, got %q", ct))
	}
	p, err := decodeObject(r.Body)
	if err != nil {
		return nil, fmt.Errorf("want a problem document, got %s: %v", r, err)
	}
	if s, ok := p["type"].(string); !ok || s == "" {
		errs = append(errs, errors.New("want a type in the problem"))
	}
	if p["title"] != http.StatusText(r.Status) {
		errs = append(errs, fmt.Errorf("want title %q", http.StatusText(r.Status)))
	}
	if n, ok := p["status"].(json.Number); !ok || n.String() != fmt.Sprint(r.Status) {
		errs = append(errs, fmt.Errorf("want status %d in the problem", r.Status))
	}
	for _, k := range []string{"code", "detail"} {
		if s, ok := p[k].(string); !ok || s == "" {
			errs = append(errs, fmt.Errorf("want a %s in the problem", k))
		}
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("%w; got %s", errors.Join(errs...), r)
	}
	return p, nil
}

// WantStatus fails t unless r answered status.
func WantStatus(t testing.TB, r Reply, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("want status %d, got %s", status, r)
	}
}

// WantProblem fails t unless r is a whole problem document of status with code, and returns it.
func WantProblem(t testing.TB, r Reply, status int, code string) map[string]any {
	t.Helper()
	p, err := r.ParseProblem(status)
	if err != nil {
		t.Fatalf("want a problem of %d (%s): %v", status, code, err)
	}
	if p["code"] != code {
		t.Errorf("want code %q, got %s", code, r)
	}
	return p
}

// WantFieldError checks that r is a validation problem naming field, with a message.
func WantFieldError(t testing.TB, r Reply, field string) {
	t.Helper()
	p := WantProblem(t, r, http.StatusBadRequest, "validation_failed")
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

// WantNotContain checks that none of secrets appears in r's body.
func WantNotContain(t testing.TB, r Reply, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(r.Body, []byte(s)) {
			t.Errorf("want no %q in the answer, got %s", s, r)
		}
	}
}

// WantJSON checks that r says its body is JSON.
func WantJSON(t testing.TB, r Reply) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("want Content-Type application/json, got %q on %s", ct, r)
	}
}

var (
	// RecordIDPattern is a record_id as the contract writes it; its groups are the day and
	// the sequence.
	RecordIDPattern = regexp.MustCompile(`^rec-(\d{8})-(\d{3,})$`)
	timePattern     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
	datePattern     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	countPattern    = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
)

// recordKeys are the keys every record has, always.
var recordKeys = []string{
	"activity_count", "created_at", "export_id", "failure_reason", "file_url", "format", "org_id",
	"period_from", "period_to", "record_id", "status", "triggered_by_user_id", "updated_at",
}

// CheckRecordShape checks every rule of the record's shape: each key present (null where
// unset), no other key, times RFC 3339 UTC with Z in whole seconds, record_id rec-YYYYMMDD-NNN
// of the creation day, and, with history, status_history oldest first starting with the
// creation.
func CheckRecordShape(t testing.TB, m map[string]any, history bool) {
	t.Helper()
	want := slices.Clone(recordKeys)
	if history {
		want = append(want, "status_history")
		slices.Sort(want)
	}
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, want) {
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
		if n, ok := v.(json.Number); !ok || !countPattern.MatchString(n.String()) {
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
	if sm := RecordIDPattern.FindStringSubmatch(id); sm == nil {
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
		if got := slices.Sorted(maps.Keys(e)); !slices.Equal(got, []string{"at", "by", "status"}) {
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

func checkTime(t testing.TB, name string, v any) time.Time {
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
