package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bufdir/export-audit/internal/testkit"
)

// oneRecord starts a local API for one test with one record of org-hostile, of export: the
// caller who made it, the record, and the table as it then is.
func oneRecord(t *testing.T, export string) (caller, testkit.Record, testkit.Snapshot) {
	t.Helper()
	c := startServer(t).as(t, "org-hostile", "usr-hostile")
	rec := c.create(t, testkit.NewRecord(testkit.Fields{"export_id": export, "format": "csv"}))
	return c, rec, c.srv.Scan(t)
}

// TestHostile_BodiesAreRefusedAndStoreNothing: bodies built to break a parser or smuggle
// something through, on every route that takes a body and on both prefixes: each is a clear
// 4xx problem document, and afterwards the table holds exactly what it held before.
func TestHostile_BodiesAreRefusedAndStoreNothing(t *testing.T) {
	t.Parallel()
	c, rec, before := oneRecord(t, "exp-hostile-0")
	e, tok := c.srv, c.token

	valid := `"export_id":"exp-hostile-1","format":"csv","period_from":"2025-01-01","period_to":"2025-12-31"`
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cases := []struct {
		name   string
		body   string
		status int    // 0: any 4xx
		code   string // "" for any
	}{
		{"over 64 KiB", `{` + valid + `,"x":"` + strings.Repeat("a", 64<<10) + `"}`, 413, "payload_too_large"},
		{"over API Gateway's 10 MiB", strings.Repeat(" ", 10<<20+1), 413, "payload_too_large"},
		// Deeper than encoding/json's limit of 10000 levels, and within 64 KiB.
		{"deeply nested value", `{` + valid + `,"activity_count":` + nest(20000) + `}`, 400, "malformed_json"},
		{"deeply nested body", nest(30000), 400, "malformed_json"},
		{"nested objects", `{"export_id":` + strings.Repeat(`{"a":`, 10200) + `1` + strings.Repeat(`}`, 10200) + `}`, 400, "malformed_json"},
		{"nested within the limit", `{` + valid + `,"activity_count":` + nest(5000) + `}`, 400, "validation_failed"},
		{"duplicate key", `{` + valid + `,"export_id":"exp-other"}`, 400, "malformed_json"},
		{"duplicate key differing in case", `{` + valid + `,"Export_ID":"exp-other"}`, 400, "validation_failed"},
		{"invalid UTF-8", `{"export_id":"exp-` + "\xff\xfe" + `","format":"csv","period_from":"2025-01-01","period_to":"2025-12-31"}`, 400, "malformed_json"},
		{"overlong UTF-8 slash", `{"export_id":"exp-` + "\xc0\xaf" + `x"}`, 400, "malformed_json"},
		{"raw NUL byte", "{\"export_id\":\"exp-\x00\",\"format\":\"csv\"}", 400, "malformed_json"},
		{"escaped NUL", `{"export_id":"exp-\u0000","format":"csv","period_from":"2025-01-01","period_to":"2025-12-31"}`, 400, "validation_failed"},
		{"number beyond int64", `{` + valid + `,"activity_count":9223372036854775808}`, 400, "validation_failed"},
		{"number beyond float64", `{` + valid + `,"activity_count":1e400}`, 400, ""},
		{"float count", `{` + valid + `,"activity_count":1.5}`, 400, "validation_failed"},
		{"float count in exponent form", `{` + valid + `,"activity_count":1e3}`, 400, "validation_failed"},
		{"whole float count", `{` + valid + `,"activity_count":3.0}`, 400, "validation_failed"},
		{"count as a string", `{` + valid + `,"activity_count":"12"}`, 400, "validation_failed"},
		{"string where an object belongs", `"` + valid + `"`, 400, "malformed_json"},
		{"null body", `null`, 400, "malformed_json"},
		{"empty body", ``, 400, "malformed_json"},
		{"two objects", `{` + valid + `}{` + valid + `}`, 400, "malformed_json"},
		{"trailing garbage", `{` + valid + `} x`, 400, "malformed_json"},
		{"unterminated", `{` + valid, 400, "malformed_json"},
		{"byte order mark", "\ufeff{" + valid + `}`, 400, "malformed_json"},
		{"identifier too long", `{"export_id":"` + strings.Repeat("e", 129) + `","format":"csv","period_from":"2025-01-01","period_to":"2025-12-31"}`, 400, "validation_failed"},
		{"identifier with a slash", `{"export_id":"exp/../x","format":"csv","period_from":"2025-01-01","period_to":"2025-12-31"}`, 400, "validation_failed"},
		{"identifier with a homoglyph", `{"export_id":"ехр-1","format":"csv","period_from":"2025-01-01","period_to":"2025-12-31"}`, 400, "validation_failed"},
		{"prototype key", `{` + valid + `,"__proto__":{"org_id":"org-other"}}`, 400, "validation_failed"},
		{"other organisation in the body", `{` + valid + `,"org_id":"org-other"}`, 403, "forbidden_organisation"},
	}
	fileCases := []struct {
		name, url string
	}{
		{"CRLF header injection", "https://storage.example.no/a.pdf\r\nX-Injected: 1"},
		{"LF header injection", "https://storage.example.no/a.pdf\nSet-Cookie: a=b"},
		{"encoded CRLF in the host", "https://storage.example.no%0d%0aX-Injected:1/a.pdf"},
		{"NUL", "https://storage.example.no/a\u0000.pdf"},
		{"javascript scheme", "javascript:alert(1)"},
		{"user info", "https://admin:secret@storage.example.no/a.pdf"},
		{"plain http", "http://storage.example.no/a.pdf"},
		{"protocol-relative", "//storage.example.no/a.pdf"},
		{"over 2048 bytes", "https://storage.example.no/" + strings.Repeat("a", 2048)},
	}
	type sent struct {
		name, method, path, body string
		status                   int
		code                     string
	}
	var all []sent
	for _, p := range []string{single, doubled} {
		for _, c := range cases {
			all = append(all, sent{c.name, "POST", p, c.body, c.status, c.code})
		}
		id := p + "/" + rec.RecordID
		all = append(all,
			sent{"status: float count", "PUT", id + "/status", `{"status":"completed","activity_count":2.5}`, 400, "validation_failed"},
			sent{"status: huge count", "PUT", id + "/status", `{"status":"completed","activity_count":99999999999999999999}`, 400, "validation_failed"},
			sent{"status: duplicate status", "PUT", id + "/status", `{"status":"completed","status":"failed"}`, 400, "malformed_json"},
			sent{"status: NUL in failure_reason", "PUT", id + "/status", `{"status":"failed","failure_reason":"a\u0000b"}`, 400, "validation_failed"},
			sent{"status: CRLF in updated_at", "PUT", id + "/status", `{"status":"completed","updated_at":"2026-03-01T08:00:00Z\r\n"}`, 400, "validation_failed"},
			sent{"status: nested", "PUT", id + "/status", `{"status":` + nest(20000) + `}`, 400, "malformed_json"},
			sent{"status: over 64 KiB", "PUT", id + "/status", `{"status":"failed","failure_reason":"` + strings.Repeat("r", 64<<10) + `"}`, 413, "payload_too_large"},
			sent{"file: duplicate key", "PUT", id + "/file-url", `{"file_url":"https://a.example/x","file_url":"https://b.example/y"}`, 400, "malformed_json"},
			sent{"file: invalid UTF-8", "PUT", id + "/file-url", "{\"file_url\":\"https://storage.example.no/\xff\"}", 400, "malformed_json"},
		)
		for _, c := range fileCases {
			b, _ := json.Marshal(map[string]string{"file_url": c.url})
			all = append(all, sent{"file: " + c.name, "PUT", id + "/file-url", string(b), 400, "validation_failed"})
		}
	}
	for _, s := range all {
		r, err := e.Send(s.method, s.path, tok, s.body)
		if err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		p, err := r.ParseProblem(s.status)
		if err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		if s.code != "" && p["code"] != s.code {
			t.Errorf("%s: want code %s, got %s", s.name, s.code, r)
		}
		if r.Header.Get("X-Injected") != "" || r.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: a header was injected into the answer: %v", s.name, r.Header)
		}
	}
	after := e.Scan(t)
	if after.Items != before.Items || fmt.Sprint(after.Records) != fmt.Sprint(before.Records) || fmt.Sprint(after.Guards) != fmt.Sprint(before.Guards) {
		t.Errorf("want the table unchanged by refused requests: %d items before, %d after", before.Items, after.Items)
	}
	e.Check(t)
	t.Logf("%d hostile bodies refused with a 4xx problem; the table is unchanged", len(all))
}

// TestHostile_RecordIDPathTricks: record ids that try to climb out of their segment, hide a
// NUL or a slash, or spell a real id another way are a 4xx problem on every record route and
// both prefixes, and never reach another record.
func TestHostile_RecordIDPathTricks(t *testing.T) {
	t.Parallel()
	c, rec, before := oneRecord(t, "exp-path-0")
	e, tok := c.srv, c.token
	tricks := []string{
		"..", "%2e%2e", "..%2F..", rec.RecordID + "%2F..", rec.RecordID + "%2Fstatus", "%2F" + rec.RecordID,
		rec.RecordID + "%00", "%00", rec.RecordID + "%0d%0aX-Injected:1", rec.RecordID + "%20",
		"rec-" + rec.RecordID[4:12] + "-0001", strings.ToUpper(rec.RecordID), rec.RecordID + "%3Bx",
		"rec-20260301-" + strings.Repeat("9", 30), "rec-99999999-001", "rec-20260230-001", "%252e%252e",
		"..%5C..", "%C0%AE%C0%AE", "%ff",
	}
	n := 0
	for _, p := range []string{single, doubled} {
		for _, trick := range tricks {
			path := p + "/" + trick
			for _, rq := range []testkit.Request{
				{Method: "GET", Path: path},
				{Method: "DELETE", Path: path},
				{Method: "PUT", Path: path + "/status", Body: map[string]any{"status": "completed"}},
				{Method: "PUT", Path: path + "/file-url", Body: map[string]any{"file_url": "https://storage.example.no/x.csv"}},
			} {
				n++
				rq.Token = tok
				r, err := e.Do(rq)
				if err != nil {
					t.Errorf("%s %s: %v", rq.Method, rq.Path, err)
					continue
				}
				if _, err := r.ParseProblem(0); err != nil {
					t.Errorf("%s %s: %v", rq.Method, rq.Path, err)
				}
				if bytes.Contains(r.Body, []byte(`"export_id"`)) || r.Header.Get("X-Injected") != "" {
					t.Errorf("%s %s reached a record: %s", rq.Method, rq.Path, r)
				}
			}
		}
	}
	after := e.Scan(t)
	if fmt.Sprint(after.Records) != fmt.Sprint(before.Records) {
		t.Errorf("want the record untouched by path tricks")
	}
	if r := e.Must(t, "GET", single+"/"+rec.RecordID, tok, nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"status":"queued"`) {
		t.Errorf("want the record still there and queued, got %s", r)
	}
	t.Logf("%d requests with %d path tricks answered 4xx", n, len(tricks))
}
