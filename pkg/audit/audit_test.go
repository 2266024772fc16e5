package audit_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/pkg/audit"
)

func TestParseRecordID_CanonicalOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		ok   bool
		seq  int64
		date string
	}{
		{"rec-20260301-001", true, 1, "20260301"},
		{"rec-20260301-999", true, 999, "20260301"},
		{"rec-20260301-1000", true, 1000, "20260301"},
		{"rec-20240229-042", true, 42, "20240229"},
		{"rec-20260301-01", false, 0, ""},
		{"rec-20260301-0001", false, 0, ""},
		{"rec-20260301-000", false, 0, ""},
		{"rec-20250229-001", false, 0, ""},
		{"rec-20261301-001", false, 0, ""},
		{"rec-2026031-001", false, 0, ""},
		{"REC-20260301-001", false, 0, ""},
		{"rec-20260301-001/..", false, 0, ""},
		{"rec-20260301-1e3", false, 0, ""},
		{"rec-20260301--01", false, 0, ""},
		{"rec-20260301-1000000000", false, 0, ""},
		{"", false, 0, ""},
	} {
		id, err := audit.ParseRecordID(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (id.Seq != tc.seq || id.DayKey() != tc.date || id.String() != tc.in) {
			t.Errorf("%q: parsed %+v (%s)", tc.in, id, id)
		}
	}
}

func TestStatus_Machine(t *testing.T) {
	t.Parallel()
	allowed := map[[2]audit.Status]bool{
		{audit.StatusQueued, audit.StatusProcessing}:    true,
		{audit.StatusQueued, audit.StatusCompleted}:     true,
		{audit.StatusQueued, audit.StatusFailed}:        true,
		{audit.StatusProcessing, audit.StatusCompleted}: true,
		{audit.StatusProcessing, audit.StatusFailed}:    true,
	}
	for _, from := range audit.Statuses {
		for _, to := range audit.Statuses {
			if got := from.CanMoveTo(to); got != allowed[[2]audit.Status{from, to}] {
				t.Errorf("%s -> %s: CanMoveTo %v", from, to, got)
			}
		}
	}
	if !audit.StatusCompleted.Final() || !audit.StatusFailed.Final() || audit.StatusQueued.Final() {
		t.Error("completed and failed are final, queued is not")
	}
	if audit.Status("done").Valid() || audit.Status("").Valid() {
		t.Error("unknown statuses must not be valid")
	}
}

func TestStatusChange_Decide(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	rec := audit.Record{RecordID: "rec-20260301-001", Status: audit.StatusProcessing, CreatedAt: created}
	var ce *audit.ConflictError
	var ve *audit.ValidationError
	for name, tc := range map[string]struct {
		c     audit.StatusChange
		noop  bool
		check func(error) bool
	}{
		"same status is a no-op": {audit.StatusChange{To: audit.StatusProcessing, At: created}, true, func(e error) bool { return e == nil }},
		"allowed move":           {audit.StatusChange{To: audit.StatusCompleted, At: created}, false, func(e error) bool { return e == nil }},
		"back to queued":         {audit.StatusChange{To: audit.StatusQueued, At: created}, false, func(e error) bool { return errors.As(e, &ce) && ce.Code == audit.CodeIllegalTransition }},
		"before created_at":      {audit.StatusChange{To: audit.StatusFailed, At: created.Add(-time.Second)}, false, func(e error) bool { return errors.As(e, &ve) }},
	} {
		outcome, err := tc.c.Decide(rec)
		if noop := outcome == audit.Unchanged; noop != tc.noop || !tc.check(err) {
			t.Errorf("%s: outcome=%v err=%v", name, outcome, err)
		}
	}
}

func TestStatusChange_Validate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	reason := "timeout"
	long := strings.Repeat("é", 1001)
	nul := "bad\x00reason"
	neg := int64(-1)
	for name, tc := range map[string]struct {
		c     audit.StatusChange
		field string
	}{
		"valid":                      {audit.StatusChange{To: audit.StatusFailed, At: now, FailureReason: &reason}, ""},
		"five minutes ahead is fine": {audit.StatusChange{To: audit.StatusCompleted, At: now.Add(5 * time.Minute)}, ""},
		"too far ahead":              {audit.StatusChange{To: audit.StatusCompleted, At: now.Add(5*time.Minute + time.Second)}, "updated_at"},
		"unknown status":             {audit.StatusChange{To: "done", At: now}, "status"},
		"reason without failed":      {audit.StatusChange{To: audit.StatusCompleted, At: now, FailureReason: &reason}, "failure_reason"},
		"reason too long":            {audit.StatusChange{To: audit.StatusFailed, At: now, FailureReason: &long}, "failure_reason"},
		"reason with NUL":            {audit.StatusChange{To: audit.StatusFailed, At: now, FailureReason: &nul}, "failure_reason"},
		"negative activity_count":    {audit.StatusChange{To: audit.StatusCompleted, At: now, ActivityCount: &neg}, "activity_count"},
	} {
		err := tc.c.Validate(now)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		var ve *audit.ValidationError
		if !errors.As(err, &ve) || ve.Errors[0].Field != tc.field {
			t.Errorf("%s: got %v, want a problem with %s", name, err, tc.field)
		}
	}
}

func TestValidateFileURL(t *testing.T) {
	t.Parallel()
	allowed := []string{"storage.example.no", ".files.bufdir.no"}
	for _, tc := range []struct {
		url   string
		hosts []string
		ok    bool
	}{
		{"https://storage.example.no/exports/a.xlsx", nil, true},
		{"https://storage.example.no/exports/a.xlsx", allowed, true},
		{"https://eu.storage.example.no/a.pdf", allowed, true},
		{"https://x.files.bufdir.no/a.pdf", allowed, true},
		{"https://badstorage.example.no/a.pdf", allowed, false},
		{"https://storage.example.no.evil.com/a.pdf", allowed, false},
		{"http://storage.example.no/a.pdf", nil, false},
		{"https://user:pw@storage.example.no/a.pdf", nil, false},
		{"/exports/a.pdf", nil, false},
		{"https:///a.pdf", nil, false},
		{"https://storage.example.no/a.pdf\r\nX-Injected: 1", nil, false},
		{"https://storage.example.no/a b.pdf", nil, false},
		{"https://storage.example.no/" + strings.Repeat("a", 2048), nil, false},
		{"ftp://storage.example.no/a.pdf", nil, false},
		{"", nil, false},
	} {
		if err := audit.ValidateFileURL(tc.url, tc.hosts); (err == nil) != tc.ok {
			t.Errorf("%q (hosts %v): err %v, want ok=%v", tc.url, tc.hosts, err, tc.ok)
		}
	}
}

func TestNewRecord_Validate(t *testing.T) {
	t.Parallel()
	valid := audit.NewRecord{ExportID: "exp-1", OrgID: "org-1", TriggeredBy: "usr-1", Status: audit.StatusQueued,
		Format: audit.FormatExcel, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid record: %v", err)
	}
	neg := int64(-1)
	for name, tc := range map[string]struct {
		change func(*audit.NewRecord)
		fields []string
	}{
		"period_to before period_from": {func(n *audit.NewRecord) { n.PeriodTo = "2024-12-31" }, []string{"period_to"}},
		"not a date":                   {func(n *audit.NewRecord) { n.PeriodFrom = "2025-02-30" }, []string{"period_from"}},
		"created completed":            {func(n *audit.NewRecord) { n.Status = audit.StatusCompleted }, []string{"status"}},
		"bad format":                   {func(n *audit.NewRecord) { n.Format = "docx" }, []string{"format"}},
		"identifier with a space":      {func(n *audit.NewRecord) { n.ExportID = "exp 1" }, []string{"export_id"}},
		"identifier too long":          {func(n *audit.NewRecord) { n.TriggeredBy = strings.Repeat("u", 129) }, []string{"triggered_by_user_id"}},
		"negative count and bad format": {func(n *audit.NewRecord) { n.ActivityCount = &neg; n.Format = "" },
			[]string{"format", "activity_count"}},
	} {
		n := valid
		tc.change(&n)
		var ve *audit.ValidationError
		if err := n.Validate(); !errors.As(err, &ve) || len(ve.Errors) != len(tc.fields) {
			t.Errorf("%s: got %v, want problems with %v", name, err, tc.fields)
			continue
		}
		for i, f := range tc.fields {
			if ve.Errors[i].Field != f {
				t.Errorf("%s: problem %d is about %s, want %s", name, i, ve.Errors[i].Field, f)
			}
		}
	}
	if !audit.ValidIdentifier(strings.Repeat("a", 128)) || audit.ValidIdentifier("") || audit.ValidIdentifier("a/b") {
		t.Error("identifier rule: 1-128 of A-Z a-z 0-9 . _ : -")
	}
}

func TestConflictError_IsErrConflict(t *testing.T) {
	t.Parallel()
	rec := audit.Record{RecordID: "rec-20260301-001", Status: audit.StatusCompleted, CreatedAt: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	_, err := audit.StatusChange{To: audit.StatusQueued, At: rec.CreatedAt}.Decide(rec)
	var ce *audit.ConflictError
	if !errors.As(err, &ce) || ce.Code != audit.CodeIllegalTransition {
		t.Fatalf("completed → queued: %v, want an illegal transition", err)
	}
	if wrapped := fmt.Errorf("update status of rec-1: %w", err); !errors.Is(wrapped, audit.ErrConflict) {
		t.Errorf("errors.Is(%v, ErrConflict) is false, want true", wrapped)
	}
	if errors.Is(audit.ErrNotFound, audit.ErrConflict) || errors.Is(audit.Invalid("f", "bad"), audit.ErrConflict) {
		t.Error("a not-found or a validation error matches ErrConflict")
	}
}
