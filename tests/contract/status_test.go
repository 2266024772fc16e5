package contract

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/audit"
)

// inStatus creates a record and brings it to status, one second after its creation; it returns
// the record as it then is.
func (c caller) inStatus(t *testing.T, status string) testkit.Record {
	t.Helper()
	switch status {
	case "queued", "processing":
		return c.create(t, testkit.NewRecord(testkit.Fields{"status": status}))
	}
	rec := c.create(t, testkit.NewRecord(nil))
	return c.move(t, rec.RecordID, status, rec.CreatedAt.Add(time.Second))
}

// TestStatus_FollowsTheMachine tries every from→to pair of the status machine.
func TestStatus_FollowsTheMachine(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	mover := c.srv.as(t, "org-bufdir-042", "svc-export")
	allowed := map[string][]string{
		"queued":     {"processing", "completed", "failed"},
		"processing": {"completed", "failed"},
		"completed":  {},
		"failed":     {},
	}
	for _, from := range []string{"queued", "processing", "completed", "failed"} {
		for _, to := range []string{"queued", "processing", "completed", "failed"} {
			t.Run(from+" to "+to, func(t *testing.T) {
				t.Parallel()
				rec := c.inStatus(t, from)
				before := c.get(t, single+"/"+rec.RecordID)
				at := rec.UpdatedAt.Add(time.Minute)
				r := mover.put(t, single+"/"+rec.RecordID+"/status", testkit.Fields{"status": to, "updated_at": ts(at)})
				after := c.get(t, single+"/"+rec.RecordID)

				switch {
				case from == to:
					testkit.WantStatus(t, r, http.StatusOK)
					if string(r.Body) != string(before.Body) || string(after.Body) != string(before.Body) {
						t.Errorf("want setting the status a record has to change nothing\nbefore %s\nanswer %s\nafter  %s", before, r, after)
					}
				case slices.Contains(allowed[from], to):
					testkit.WantStatus(t, r, http.StatusOK)
					got := r.Record(t)
					if string(got.Status) != to || !got.UpdatedAt.Equal(at) {
						t.Errorf("want status %s and updated_at %v, got %s", to, at, r)
					}
					want := append(slices.Clone(before.Record(t).History), testkit.HistoryEntry{Status: audit.Status(to), At: at, By: "svc-export"})
					if !equalHistory(got.History, want) {
						t.Errorf("want the move appended to status_history\nwant %+v\ngot  %+v", want, got.History)
					}
					if string(after.Body) != string(r.Body) {
						t.Errorf("want the answer to be the whole stored record\nanswer %s\nstored %s", r, after)
					}
				default:
					p := testkit.WantProblem(t, r, http.StatusConflict, "illegal_status_transition")
					var moves []string
					for _, m := range p["allowed_moves"].([]any) {
						moves = append(moves, m.(string))
					}
					if !slices.Equal(moves, allowed[from]) && !(len(moves) == 0 && len(allowed[from]) == 0) {
						t.Errorf("want allowed_moves %v, got %s", allowed[from], r)
					}
					for _, m := range allowed[from] {
						if !strings.Contains(p["detail"].(string), m) {
							t.Errorf("want the detail to name the allowed move %s, got %s", m, r)
						}
					}
					if string(after.Body) != string(before.Body) {
						t.Errorf("want a refused move to change nothing\nbefore %s\nafter  %s", before, after)
					}
				}
			})
		}
	}
}

func TestStatus_HistoryKeepsEveryMoveOldestFirst(t *testing.T) {
	t.Parallel()
	admin := newOwner(t)
	svc := admin.srv.as(t, "org-bufdir-042", "svc-export")
	rec := admin.create(t, testkit.NewRecord(nil))
	t1, t2 := rec.CreatedAt.Add(10*time.Second), rec.CreatedAt.Add(3*time.Minute)
	svc.move(t, rec.RecordID, "processing", t1)
	done := svc.move(t, rec.RecordID, "completed", t2)

	got := admin.get(t, single+"/"+rec.RecordID).Record(t)
	want := []testkit.HistoryEntry{
		{Status: "queued", At: rec.CreatedAt, By: "usr-0042"},
		{Status: "processing", At: t1, By: "svc-export"},
		{Status: "completed", At: t2, By: "svc-export"},
	}
	if !equalHistory(got.History, want) {
		t.Errorf("want status_history %+v, got %+v", want, got.History)
	}
	if !got.UpdatedAt.Equal(t2) || !done.UpdatedAt.Equal(t2) || !got.CreatedAt.Equal(rec.CreatedAt) {
		t.Errorf("want updated_at %v and created_at unchanged %v, got %+v", t2, rec.CreatedAt, got)
	}
}

func TestStatus_UpdatedAtRules(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []struct {
		name string
		at   func(created time.Time) string
		want func(created time.Time) time.Time // the stored updated_at; nil for a 400
	}{
		{"equal to created_at",
			func(cr time.Time) string { return ts(cr) },
			func(cr time.Time) time.Time { return cr }},
		{"one second before created_at",
			func(cr time.Time) string { return ts(cr.Add(-time.Second)) }, nil},
		{"a day before created_at",
			func(cr time.Time) string { return ts(cr.Add(-24 * time.Hour)) }, nil},
		{"4 minutes ahead of the clock",
			func(time.Time) string { return ts(time.Now().Add(4 * time.Minute)) },
			func(time.Time) time.Time { return time.Time{} }}, // what was sent
		{"10 minutes ahead of the clock",
			func(time.Time) string { return ts(time.Now().Add(10 * time.Minute)) }, nil},
		{"a year ahead",
			func(time.Time) string { return ts(time.Now().AddDate(1, 0, 0)) }, nil},
		{"with an offset, kept as UTC",
			func(cr time.Time) string {
				return cr.Add(2 * time.Minute).In(time.FixedZone("CET", 3600)).Format(time.RFC3339)
			},
			func(cr time.Time) time.Time { return cr.Add(2 * time.Minute) }},
		{"with fractions of a second, kept in whole seconds",
			func(cr time.Time) string {
				return cr.Add(90*time.Second + 700*time.Millisecond).Format(time.RFC3339Nano)
			},
			func(cr time.Time) time.Time { return cr.Add(90 * time.Second) }},
		{"a date only", func(cr time.Time) string { return cr.Format("2006-01-02") }, nil},
		{"space instead of T", func(cr time.Time) string { return cr.Add(time.Minute).Format("2006-01-02 15:04:05Z") }, nil},
		{"no zone", func(cr time.Time) string { return cr.Add(time.Minute).Format("2006-01-02T15:04:05") }, nil},
		{"not a time", func(time.Time) string { return "soon" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := c.create(t, testkit.NewRecord(nil))
			sent := tt.at(rec.CreatedAt)
			r := c.put(t, single+"/"+rec.RecordID+"/status", testkit.Fields{"status": "processing", "updated_at": sent})
			if tt.want == nil {
				testkit.WantFieldError(t, r, "updated_at")
				if got := c.get(t, single+"/"+rec.RecordID).Record(t); got.Status != "queued" || len(got.History) != 1 {
					t.Errorf("want a refused change to change nothing, got %+v", got)
				}
				return
			}
			testkit.WantStatus(t, r, http.StatusOK)
			got := r.Record(t)
			want := tt.want(rec.CreatedAt)
			if want.IsZero() {
				want, _ = time.Parse(time.RFC3339, sent)
			}
			if !got.UpdatedAt.Equal(want) {
				t.Errorf("want updated_at %v, got %s", want, r)
			}
			if last := got.History[len(got.History)-1]; !last.At.Equal(got.UpdatedAt) {
				t.Errorf("want the history entry at updated_at %v, got %v", got.UpdatedAt, last.At)
			}
		})
	}
	t.Run("not a string", func(t *testing.T) {
		t.Parallel()
		rec := c.create(t, testkit.NewRecord(nil))
		testkit.WantFieldError(t, c.put(t, single+"/"+rec.RecordID+"/status", testkit.Fields{"status": "processing", "updated_at": 1767225600}), "updated_at")
	})
}

func TestStatus_UpdatedAtDefaultsToNow(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	for _, body := range []testkit.Fields{{"status": "processing"}, {"status": "processing", "updated_at": nil}} {
		rec := c.create(t, testkit.NewRecord(nil))
		before := time.Now().UTC().Truncate(time.Second)
		r := c.put(t, single+"/"+rec.RecordID+"/status", body)
		after := time.Now().UTC()
		testkit.WantStatus(t, r, http.StatusOK)
		if got := r.Record(t); got.UpdatedAt.Before(before) || got.UpdatedAt.After(after) {
			t.Errorf("want updated_at from the server's clock, between %v and %v, got %v", before, after, got.UpdatedAt)
		}
	}
}

func TestStatus_FailureReasonRules(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []struct {
		name   string
		body   testkit.Fields
		stored *string // the failure_reason stored; nil with ok for null
		ok     bool
	}{
		{"with failed", testkit.Fields{"status": "failed", "failure_reason": "Bufdir rejected the file"}, ptr("Bufdir rejected the file"), true},
		{"failed without a reason", testkit.Fields{"status": "failed"}, nil, true},
		{"null with failed", testkit.Fields{"status": "failed", "failure_reason": nil}, nil, true},
		{"1000 characters", testkit.Fields{"status": "failed", "failure_reason": strings.Repeat("x", 1000)}, ptr(strings.Repeat("x", 1000)), true},
		{"1000 characters of two bytes each", testkit.Fields{"status": "failed", "failure_reason": strings.Repeat("ø", 1000)}, ptr(strings.Repeat("ø", 1000)), true},
		{"newlines and tabs", testkit.Fields{"status": "failed", "failure_reason": "line 1\n\tline 2"}, ptr("line 1\n\tline 2"), true},
		{"1001 characters", testkit.Fields{"status": "failed", "failure_reason": strings.Repeat("x", 1001)}, nil, false},
		{"with completed", testkit.Fields{"status": "completed", "failure_reason": "no"}, nil, false},
		{"with processing", testkit.Fields{"status": "processing", "failure_reason": "no"}, nil, false},
		{"not a string", testkit.Fields{"status": "failed", "failure_reason": 42}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := c.create(t, testkit.NewRecord(nil))
			r := c.put(t, single+"/"+rec.RecordID+"/status", tt.body)
			if !tt.ok {
				testkit.WantFieldError(t, r, "failure_reason")
				if got := c.get(t, single+"/"+rec.RecordID).Record(t); got.Status != "queued" || got.FailureReason != nil {
					t.Errorf("want a refused change to change nothing, got %+v", got)
				}
				return
			}
			testkit.WantStatus(t, r, http.StatusOK)
			got := r.Record(t)
			if (got.FailureReason == nil) != (tt.stored == nil) || got.FailureReason != nil && *got.FailureReason != *tt.stored {
				t.Errorf("want failure_reason %v, got %s", show(tt.stored), r)
			}
		})
	}
}

func TestStatus_ActivityCountRules(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []struct {
		name   string
		count  any  // the activity_count sent; absent when nil
		stored *int // what the record holds afterwards; it starts at 5
		ok     bool
	}{
		{"zero", 0, ptr(0), true},
		{"312", 312, ptr(312), true},
		{"left out keeps the count", nil, ptr(5), true},
		{"negative", -1, nil, false},
		{"a fraction", 2.5, nil, false},
		{"a string", "7", nil, false},
		{"a boolean", true, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := c.create(t, testkit.NewRecord(testkit.Fields{"activity_count": 5}))
			body := testkit.Fields{"status": "completed"}
			if tt.count != nil {
				body["activity_count"] = tt.count
			}
			r := c.put(t, single+"/"+rec.RecordID+"/status", body)
			if !tt.ok {
				testkit.WantFieldError(t, r, "activity_count")
				if got := c.get(t, single+"/"+rec.RecordID).Record(t); got.Status != "queued" || got.ActivityCount == nil || *got.ActivityCount != 5 {
					t.Errorf("want a refused change to change nothing, got %+v", got)
				}
				return
			}
			testkit.WantStatus(t, r, http.StatusOK)
			if got := r.Record(t); got.ActivityCount == nil || *got.ActivityCount != int64(*tt.stored) {
				t.Errorf("want activity_count %d, got %s", *tt.stored, r)
			}
		})
	}
}

// TestStatus_NoOpIgnoresTheOtherFields: setting the status a record already has changes nothing,
// not even the count, the reason or updated_at sent with it.
func TestStatus_NoOpIgnoresTheOtherFields(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []struct {
		from string
		body testkit.Fields
	}{
		{"queued", testkit.Fields{"status": "queued", "activity_count": 9}},
		{"processing", testkit.Fields{"status": "processing", "activity_count": 9}},
		{"completed", testkit.Fields{"status": "completed", "activity_count": 9}},
		{"failed", testkit.Fields{"status": "failed", "activity_count": 9, "failure_reason": "another reason"}},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			t.Parallel()
			rec := c.inStatus(t, tt.from)
			before := c.get(t, single+"/"+rec.RecordID)
			tt.body["updated_at"] = ts(rec.UpdatedAt.Add(2 * time.Minute))
			r := c.put(t, single+"/"+rec.RecordID+"/status", tt.body)
			testkit.WantStatus(t, r, http.StatusOK)
			if after := c.get(t, single+"/"+rec.RecordID); string(after.Body) != string(before.Body) || string(r.Body) != string(before.Body) {
				t.Errorf("want nothing changed\nbefore %s\nanswer %s\nafter  %s", before, r, after)
			}
		})
	}
}

func TestStatus_RefusesBadBodies(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	rec := c.create(t, testkit.NewRecord(nil))
	before := c.get(t, single+"/"+rec.RecordID)
	tests := []refusal{
		{"status missing", testkit.Fields{"updated_at": ts(rec.CreatedAt)}, "status"},
		{"status null", testkit.Fields{"status": nil}, "status"},
		{"status unknown", testkit.Fields{"status": "done"}, "status"},
		{"status in capitals", testkit.Fields{"status": "PROCESSING"}, "status"},
		{"status a number", testkit.Fields{"status": 2}, "status"},
		{"unknown field", testkit.Fields{"status": "processing", "file_url": "https://storage.example.no/x.pdf"}, "file_url"},
		{"unknown field created_at", testkit.Fields{"status": "processing", "created_at": ts(rec.CreatedAt)}, "created_at"},
		{"empty body", "", ""},
		{"an array", `["processing"]`, ""},
		{"truncated", `{"status": "processing"`, ""},
		{"a key given twice", `{"status": "processing", "status": "failed"}`, ""},
	}
	t.Run("cases", func(t *testing.T) {
		for _, p := range prefixes {
			for _, tt := range tests {
				t.Run(p.name+"/"+tt.name, func(t *testing.T) {
					t.Parallel()
					r := c.put(t, p.path+"/"+rec.RecordID+"/status", tt.body)
					if tt.field == "" {
						testkit.WantProblem(t, r, http.StatusBadRequest, "malformed_json")
						return
					}
					testkit.WantFieldError(t, r, tt.field)
				})
			}
		}
	})
	c.wantUnchanged(t, rec.RecordID, before, "refused changes to change nothing")
}

func ptr[T any](v T) *T { return &v }

func show[T any](p *T) any {
	if p == nil {
		return "null"
	}
	return *p
}

// TestStatus_ConcurrentMovesOneWins: two final moves at once; the status machine lets exactly one
// through and the other sees the record it lost to.
func TestStatus_ConcurrentMovesOneWins(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	for i := range 5 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			rec := c.create(t, testkit.NewRecord(nil))
			at := ts(rec.CreatedAt.Add(time.Second))
			targets := []string{"completed", "failed"}
			replies := make([]testkit.Reply, len(targets))
			var wg sync.WaitGroup
			for j, to := range targets {
				wg.Go(func() {
					replies[j] = c.put(t, single+"/"+rec.RecordID+"/status", testkit.Fields{"status": to, "updated_at": at})
				})
			}
			wg.Wait()
			var winner string
			for j, r := range replies {
				if r.Status == http.StatusOK {
					if winner != "" {
						t.Fatalf("want one move to win, got both: %s and %s", replies[0], replies[1])
					}
					winner = targets[j]
					continue
				}
				testkit.WantProblem(t, r, http.StatusConflict, "illegal_status_transition")
			}
			got := c.get(t, single+"/"+rec.RecordID).Record(t)
			if winner == "" || string(got.Status) != winner || len(got.History) != 2 {
				t.Errorf("want the winner %q stored with two history entries, got %+v", winner, got)
			}
		})
	}
}
