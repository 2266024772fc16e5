package contract

// The create, its defaults, its validation and its replays.

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
)

func TestCreate_AppliesDefaults(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	before := time.Now().UTC().Truncate(time.Second)
	body := testkit.NewRecord(nil)
	r := c.post(t, single, body)
	after := time.Now().UTC()
	testkit.WantStatus(t, r, http.StatusCreated)
	rec := r.Record(t)
	m := r.Object(t)

	if rec.Status != "queued" {
		t.Errorf("want status queued by default, got %q", rec.Status)
	}
	if rec.TriggeredBy != "usr-0042" {
		t.Errorf("want triggered_by_user_id to default to the token's sub usr-0042, got %q", rec.TriggeredBy)
	}
	if rec.OrgID != "org-bufdir-042" {
		t.Errorf("want org_id from the token, got %q", rec.OrgID)
	}
	for _, k := range []string{"file_url", "activity_count", "failure_reason"} {
		if m[k] != nil {
			t.Errorf("want %s null when unset, got %v", k, m[k])
		}
	}
	if rec.ExportID != body["export_id"] || rec.Format != "pdf" || rec.PeriodFrom != "2025-01-01" || rec.PeriodTo != "2025-12-31" {
		t.Errorf("want the given fields stored as sent, got %s", r)
	}
	if rec.CreatedAt.Before(before) || rec.CreatedAt.After(after) {
		t.Errorf("want created_at from the server's clock, between %v and %v, got %v", before, after, rec.CreatedAt)
	}
	if !rec.UpdatedAt.Equal(rec.CreatedAt) {
		t.Errorf("want updated_at = created_at on a new record, got %v and %v", rec.UpdatedAt, rec.CreatedAt)
	}
	want := []testkit.HistoryEntry{{Status: "queued", At: rec.CreatedAt, By: "usr-0042"}}
	if !equalHistory(rec.History, want) {
		t.Errorf("want status_history %v, got %v", want, rec.History)
	}
}

func TestCreate_KeepsGivenOptionalFields(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	count := func(rec testkit.Record) any {
		if rec.ActivityCount == nil {
			return nil
		}
		return *rec.ActivityCount
	}
	tests := []struct {
		name  string
		extra testkit.Fields
		want  string // what the record must hold, for the failure message
		ok    func(rec testkit.Record) bool
	}{
		{"status processing", testkit.Fields{"status": "processing"}, "status processing from the start",
			func(r testkit.Record) bool { return r.Status == "processing" && r.History[0].Status == "processing" }},
		{"status queued", testkit.Fields{"status": "queued"}, "status queued",
			func(r testkit.Record) bool { return r.Status == "queued" }},
		{"triggered_by_user_id", testkit.Fields{"triggered_by_user_id": "usr-0099"}, "triggered_by_user_id usr-0099, the creation written by the caller usr-0042",
			func(r testkit.Record) bool { return r.TriggeredBy == "usr-0099" && r.History[0].By == "usr-0042" }},
		{"activity_count 0", testkit.Fields{"activity_count": 0}, "activity_count 0 (not null)",
			func(r testkit.Record) bool { return count(r) == int64(0) }},
		{"activity_count 312", testkit.Fields{"activity_count": 312}, "activity_count 312",
			func(r testkit.Record) bool { return count(r) == int64(312) }},
		{"every format: excel", testkit.Fields{"format": "excel"}, "format excel",
			func(r testkit.Record) bool { return r.Format == "excel" }},
		{"every format: csv", testkit.Fields{"format": "csv"}, "format csv",
			func(r testkit.Record) bool { return r.Format == "csv" }},
		{"one-day period", testkit.Fields{"period_from": "2025-06-30", "period_to": "2025-06-30"}, "the one-day period kept",
			func(r testkit.Record) bool { return r.PeriodFrom == "2025-06-30" && r.PeriodTo == "2025-06-30" }},
		{"128-character export_id", testkit.Fields{"export_id": strings.Repeat("e", 128)}, "the 128-character export_id kept",
			func(r testkit.Record) bool { return len(r.ExportID) == 128 }},
		{"export_id of every allowed character", testkit.Fields{"export_id": "AZaz09._:-" + testkit.NewExportID()}, "the export_id kept",
			func(r testkit.Record) bool { return strings.HasPrefix(r.ExportID, "AZaz09._:-") }},
		{"null optional fields", testkit.Fields{"status": nil, "org_id": nil, "triggered_by_user_id": nil, "activity_count": nil}, "null optional fields to take their defaults",
			func(r testkit.Record) bool {
				return r.Status == "queued" && r.TriggeredBy == "usr-0042" && r.ActivityCount == nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if rec := c.create(t, testkit.NewRecord(tt.extra)); !tt.ok(rec) {
				t.Errorf("want %s, got %+v", tt.want, rec)
			}
		})
	}
}

// TestCreate_RefusesInvalidValues checks each field's rules; every refused create writes nothing.
func TestCreate_RefusesInvalidValues(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []refusal{
		{"export_id missing", without(testkit.NewRecord(nil), "export_id"), "export_id"},
		{"export_id null", testkit.NewRecord(testkit.Fields{"export_id": nil}), "export_id"},
		{"export_id empty", testkit.NewRecord(testkit.Fields{"export_id": ""}), "export_id"},
		{"export_id 129 characters", testkit.NewRecord(testkit.Fields{"export_id": strings.Repeat("e", 129)}), "export_id"},
		{"export_id with a space", testkit.NewRecord(testkit.Fields{"export_id": "exp 1"}), "export_id"},
		{"export_id with a slash", testkit.NewRecord(testkit.Fields{"export_id": "exp/1"}), "export_id"},
		{"export_id not ASCII", testkit.NewRecord(testkit.Fields{"export_id": "exp-ø"}), "export_id"},
		{"export_id a number", testkit.NewRecord(testkit.Fields{"export_id": 42}), "export_id"},
		{"format missing", without(testkit.NewRecord(nil), "format"), "format"},
		{"format unknown", testkit.NewRecord(testkit.Fields{"format": "docx"}), "format"},
		{"format in capitals", testkit.NewRecord(testkit.Fields{"format": "PDF"}), "format"},
		{"period_from missing", without(testkit.NewRecord(nil), "period_from"), "period_from"},
		{"period_to missing", without(testkit.NewRecord(nil), "period_to"), "period_to"},
		{"period_from not a date", testkit.NewRecord(testkit.Fields{"period_from": "01.01.2025"}), "period_from"},
		{"period_from a time", testkit.NewRecord(testkit.Fields{"period_from": "2025-01-01T00:00:00Z"}), "period_from"},
		{"period_to not a day of the month", testkit.NewRecord(testkit.Fields{"period_to": "2025-02-30"}), "period_to"},
		{"period_to before period_from", testkit.NewRecord(testkit.Fields{"period_from": "2025-12-31", "period_to": "2025-01-01"}), "period_to"},
		{"status completed", testkit.NewRecord(testkit.Fields{"status": "completed"}), "status"},
		{"status failed", testkit.NewRecord(testkit.Fields{"status": "failed"}), "status"},
		{"status unknown", testkit.NewRecord(testkit.Fields{"status": "done"}), "status"},
		{"triggered_by_user_id empty", testkit.NewRecord(testkit.Fields{"triggered_by_user_id": ""}), "triggered_by_user_id"},
		{"triggered_by_user_id with a space", testkit.NewRecord(testkit.Fields{"triggered_by_user_id": "usr 1"}), "triggered_by_user_id"},
		{"triggered_by_user_id 129 characters", testkit.NewRecord(testkit.Fields{"triggered_by_user_id": strings.Repeat("u", 129)}), "triggered_by_user_id"},
		{"activity_count negative", testkit.NewRecord(testkit.Fields{"activity_count": -1}), "activity_count"},
		{"activity_count a fraction", testkit.NewRecord(testkit.Fields{"activity_count": 1.5}), "activity_count"},
		{"activity_count a string", testkit.NewRecord(testkit.Fields{"activity_count": "3"}), "activity_count"},
		{"activity_count beyond int64", testkit.NewRecord(testkit.Fields{"activity_count": json.Number("9223372036854775808")}), "activity_count"},
		{"unknown field", testkit.NewRecord(testkit.Fields{"file_url": "https://storage.example.no/x.pdf"}), "file_url"},
		{"unknown field record_id", testkit.NewRecord(testkit.Fields{"record_id": "rec-20260301-001"}), "record_id"},
		{"unknown field with a known-looking name", testkit.NewRecord(testkit.Fields{"exportId": "exp-1"}), "exportId"},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				testkit.WantFieldError(t, c.post(t, single, tt.body), tt.field)
			})
		}
	})
	c.wantTotal(t, "", 0, "refused creates to write nothing")
}

func without(f testkit.Fields, key string) testkit.Fields {
	delete(f, key)
	return f
}

func TestCreate_ReportsEveryInvalidFieldAtOnce(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	r := c.post(t, single, testkit.Fields{"export_id": "exp 1", "format": "docx", "period_from": "2025-01-01", "period_to": "2024-01-01", "colour": "red"})
	for _, f := range []string{"export_id", "format", "period_to", "colour"} {
		testkit.WantFieldError(t, r, f)
	}
}

func TestCreate_RefusesMalformedJSON(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []struct{ name, body string }{
		{"empty body", ""},
		{"truncated", `{"export_id": "exp-1"`},
		{"not JSON", `export_id=exp-1`},
		{"an array", `[{"export_id": "exp-1"}]`},
		{"a string", `"exp-1"`},
		{"null", `null`},
		{"two objects", `{"export_id": "exp-1"} {}`},
		{"trailing comma", `{"export_id": "exp-1",}`},
		{"a key given twice", `{"export_id": "exp-1", "format": "pdf", "period_from": "2025-01-01", "period_to": "2025-12-31", "format": "csv"}`},
		{"not UTF-8", "{\"export_id\": \"exp-\xff\"}"},
	}
	for _, p := range []string{single, doubled} {
		for _, tt := range tests {
			t.Run(p+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				r := c.srv.MustDo(t, testkit.Request{Method: "POST", Path: p, Token: c.token, Body: []byte(tt.body)})
				testkit.WantProblem(t, r, http.StatusBadRequest, "malformed_json")
			})
		}
	}
}

// TestCreate_SeedExamplesWork sends the requests of the source API document, in its order. Its
// dates are fixed in the past; the status change is dated relative to the record instead.
func TestCreate_SeedExamplesWork(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	r := c.post(t, doubled, `{
"export_id": "exp-20260326-xyz789",
"org_id": "org-bufdir-042",
"triggered_by_user_id": "usr-0099",
"status": "queued",
"format": "pdf",
"period_from": "2025-01-01",
"period_to": "2025-12-31"
}`)
	testkit.WantStatus(t, r, http.StatusCreated)
	rec := r.Record(t)
	if rec.ExportID != "exp-20260326-xyz789" || rec.Status != "queued" || rec.TriggeredBy != "usr-0099" {
		t.Errorf("want the example's record, got %s", r)
	}
	at := ts(rec.CreatedAt.Add(3 * time.Minute))
	r = c.put(t, doubled+"/"+rec.RecordID+"/status", `{
"status": "completed",
"updated_at": "`+at+`"
}`)
	testkit.WantStatus(t, r, http.StatusOK)
	if m := r.Object(t); m["record_id"] != rec.RecordID || m["status"] != "completed" || m["updated_at"] != at {
		t.Errorf("want record_id, status completed and updated_at %s in the answer, got %s", at, r)
	}
	r = c.put(t, doubled+"/"+rec.RecordID+"/file-url", `{
"file_url": "https://storage.example.no/exports/exp-20260326-xyz789.pdf"
}`)
	testkit.WantStatus(t, r, http.StatusOK)
	if m := r.Object(t); m["file_url"] != "https://storage.example.no/exports/exp-20260326-xyz789.pdf" || m["updated_at"] == nil {
		t.Errorf("want file_url and updated_at in the answer, got %s", r)
	}
	r = c.get(t, doubled+"/"+rec.RecordID)
	testkit.WantStatus(t, r, http.StatusOK)
	list := c.get(t, doubled)
	if pg := list.Page(t); pg.Pagination.Page != 1 || pg.Pagination.Limit != 20 || pg.Pagination.Total != 1 {
		t.Errorf("want pagination page 1, limit 20, total 1, got %s", list)
	}
	r = c.del(t, doubled+"/"+rec.RecordID)
	testkit.WantStatus(t, r, http.StatusOK)
	wantDeleted(t, r, rec.RecordID)
}

func TestCreate_ReplayReturnsStoredRecord(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	body := testkit.NewRecord(testkit.Fields{"triggered_by_user_id": "usr-0099", "activity_count": 7, "status": "processing"})
	first := c.post(t, single, body)
	testkit.WantStatus(t, first, http.StatusCreated)
	rec := first.Record(t)

	for _, p := range prefixes {
		t.Run(p.name, func(t *testing.T) {
			again := c.post(t, p.path, body)
			testkit.WantStatus(t, again, http.StatusOK)
			if h := again.Header.Get("Idempotent-Replayed"); h != "true" {
				t.Errorf("want Idempotent-Replayed: true, got %q", h)
			}
			if string(again.Body) != string(first.Body) {
				t.Errorf("want the stored record again\nfirst  %s\nreplay %s", first.Body, again.Body)
			}
			again.Record(t)
		})
	}
	if pg := c.get(t, single+"?export_id="+rec.ExportID).Page(t); pg.Pagination.Total != 1 {
		t.Errorf("want a replay to make no second record, got total %d", pg.Pagination.Total)
	}
	if h := first.Header.Get("Idempotent-Replayed"); h != "" {
		t.Errorf("want no Idempotent-Replayed on the first create, got %q", h)
	}
}

func TestCreate_ReplayWithDefaultsSpelledOutIsTheSameRequest(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	body := testkit.NewRecord(nil)
	rec := c.create(t, body)
	spelled := testkit.NewRecord(testkit.Fields{"export_id": rec.ExportID, "status": "queued", "triggered_by_user_id": "usr-0042", "org_id": "org-bufdir-042"})
	r := c.post(t, single, spelled)
	testkit.WantStatus(t, r, http.StatusOK)
	if got := r.Record(t); got.RecordID != rec.RecordID || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("want a replay of %s, got %s", rec.RecordID, r)
	}
}

func TestCreate_ReplayAfterStatusChangeReturnsCurrentRecord(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	body := testkit.NewRecord(nil)
	rec := c.create(t, body)
	c.move(t, rec.RecordID, "processing", rec.CreatedAt.Add(time.Second))
	c.move(t, rec.RecordID, "completed", rec.CreatedAt.Add(2*time.Second))
	testkit.WantStatus(t, c.put(t, single+"/"+rec.RecordID+"/file-url", testkit.Fields{"file_url": "https://storage.example.no/a.pdf"}), http.StatusOK)
	current := c.get(t, single+"/"+rec.RecordID)

	r := c.post(t, single, body)
	testkit.WantStatus(t, r, http.StatusOK)
	if r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("want Idempotent-Replayed: true, got %v", r.Header)
	}
	if string(r.Body) != string(current.Body) {
		t.Errorf("want the record as stored now\nstored %s\nreplay %s", current.Body, r.Body)
	}
}

func TestCreate_SameExportIDWithOtherFieldsConflicts(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []struct {
		name   string
		change testkit.Fields
		drop   string
		as     string // another user of the same organisation, when set
	}{
		{name: "other format", change: testkit.Fields{"format": "csv"}},
		{name: "other period_from", change: testkit.Fields{"period_from": "2025-01-02"}},
		{name: "other period_to", change: testkit.Fields{"period_to": "2025-12-30"}},
		{name: "other status", change: testkit.Fields{"status": "processing"}},
		{name: "other triggered_by_user_id", change: testkit.Fields{"triggered_by_user_id": "usr-0099"}},
		{name: "other activity_count", change: testkit.Fields{"activity_count": 11}},
		{name: "activity_count left out", drop: "activity_count"},
		{name: "another user, triggered_by_user_id defaulted", as: "usr-0077"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := testkit.NewRecord(testkit.Fields{"activity_count": 10})
			rec := c.create(t, body)
			before := c.get(t, single+"/"+rec.RecordID)

			again := testkit.NewRecord(body)
			for k, v := range tt.change {
				again[k] = v
			}
			if tt.drop != "" {
				delete(again, tt.drop)
			}
			who := c
			if tt.as != "" {
				who = c.srv.as(t, c.org, tt.as)
			}
			r := who.post(t, single, again)
			p := testkit.WantProblem(t, r, http.StatusConflict, "export_id_conflict")
			if p["record_id"] != rec.RecordID && !strings.Contains(p["detail"].(string), rec.RecordID) {
				t.Errorf("want the conflict to name the existing record %s, got %s", rec.RecordID, r)
			}
			c.wantUnchanged(t, rec.RecordID, before, "the existing record unchanged")
			if pg := c.get(t, single+"?export_id="+rec.ExportID).Page(t); pg.Pagination.Total != 1 {
				t.Errorf("want one record for the export_id, got %d", pg.Pagination.Total)
			}
		})
	}
}

// TestCreate_ConcurrentRetriesMakeOneRecord sends the same create many times at once, as an
// impatient export service would: exactly one 201, every other answer a replay of it.
func TestCreate_ConcurrentRetriesMakeOneRecord(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	body := testkit.NewRecord(nil)
	const n = 8
	replies := make([]testkit.Reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { replies[i] = c.post(t, single, body) })
	}
	wg.Wait()
	created, ids := 0, map[string]bool{}
	for _, r := range replies {
		switch r.Status {
		case http.StatusCreated:
			created++
		case http.StatusOK:
			if r.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("want a 200 to be a replay, got %s", r)
			}
		default:
			t.Errorf("want 201 or a 200 replay, got %s", r)
			continue
		}
		ids[r.Record(t).RecordID] = true
	}
	if created != 1 || len(ids) != 1 {
		t.Errorf("want exactly one 201 and one record_id, got %d creates and ids %v", created, ids)
	}
	c.wantTotal(t, "", 1, "one stored record")
}

func TestCreate_RecordIDsFollowTheDaySequence(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	other := c.srv.as(t, "org-bufdir-043", "usr-0043")
	var ids []string
	for i := range 4 {
		who := c
		if i%2 == 1 {
			who = other
		}
		ids = append(ids, who.create(t, testkit.NewRecord(nil)).RecordID)
	}
	for i := 1; i < len(ids); i++ {
		// The sequence starts again on a new UTC day, so compare (day, sequence).
		prevDay, day := ids[i-1][4:12], ids[i][4:12]
		if day < prevDay || day == prevDay && seqOf(t, ids[i]) <= seqOf(t, ids[i-1]) {
			t.Errorf("want each record_id after the last in one sequence across organisations, got %v", ids)
		}
	}
}

func TestCreate_SubThatIsNoIdentifierNeedsTriggeredBy(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.as(t, "org-bufdir-042", "auth0|abc123")
	r := c.post(t, single, testkit.NewRecord(nil))
	testkit.WantProblem(t, r, http.StatusBadRequest, "validation_failed")
	testkit.WantFieldError(t, r, "triggered_by_user_id")
	if !strings.Contains(string(r.Body), "sub") {
		t.Errorf("want the problem to say the token's sub is the cause, got %s", r)
	}
	given := c.post(t, single, testkit.NewRecord(testkit.Fields{"triggered_by_user_id": "usr-0099"}))
	testkit.WantStatus(t, given, http.StatusCreated)
	if rec := given.Record(t); rec.TriggeredBy != "usr-0099" {
		t.Errorf("want triggered_by_user_id usr-0099, got %s", given)
	}
}
