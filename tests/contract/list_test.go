package contract

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
)

// listed is an organisation with records of every status, format and two triggering users,
// newest first, as its list must show them.
type listed struct {
	c      caller
	newest []testkit.Record // newest first, without history
}

const fixtureSize = 25

// newListed creates fixtureSize records, varying every filtered field.
func newListed(t *testing.T) listed {
	t.Helper()
	c := newOwner(t)
	var recs []testkit.Record
	for i := range fixtureSize {
		body := testkit.NewRecord(testkit.Fields{"format": []string{"pdf", "excel", "csv"}[i%3]})
		if i%4 == 0 {
			body["triggered_by_user_id"] = "usr-0099"
		}
		if i%5 == 1 {
			body["status"] = "processing"
		}
		rec := c.create(t, body)
		switch i % 5 {
		case 2:
			rec = c.move(t, rec.RecordID, "completed", rec.CreatedAt.Add(time.Second))
		case 3:
			rec = c.move(t, rec.RecordID, "failed", rec.CreatedAt.Add(time.Second))
		}
		rec.History = nil
		recs = append(recs, rec)
	}
	slices.Reverse(recs)
	return listed{c: c, newest: recs}
}

func ids(recs []testkit.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.RecordID
	}
	return out
}

func TestList_NewestFirstWithTheSingleReadsShape(t *testing.T) {
	t.Parallel()
	l := newListed(t)
	r := l.c.get(t, single+"?limit=100")
	testkit.WantStatus(t, r, http.StatusOK)
	pg := r.Page(t)
	if got, want := ids(pg.Data), ids(l.newest); !slices.Equal(got, want) {
		t.Fatalf("want newest first (the reverse of creation)\nwant %v\ngot  %v", want, got)
	}
	for i := 1; i < len(pg.Data); i++ {
		a, b := pg.Data[i-1], pg.Data[i]
		if a.CreatedAt.Before(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && seqOf(t, a.RecordID) < seqOf(t, b.RecordID) {
			t.Errorf("want (created_at, record_id) descending, got %s before %s", a.RecordID, b.RecordID)
		}
	}
	items := r.Object(t)["data"].([]any)
	for i, it := range items {
		read := l.c.get(t, single+"/"+pg.Data[i].RecordID).Object(t)
		delete(read, "status_history")
		if !reflect.DeepEqual(it, read) {
			t.Errorf("want list item %d to be the single read without status_history\nlist   %v\nsingle %v", i, it, read)
		}
	}
}

func TestList_Paginates(t *testing.T) {
	t.Parallel()
	l := newListed(t)
	all := l.newest
	tests := []struct {
		query       string
		page, limit int
		want        []testkit.Record
	}{
		{"", 1, 20, all[:20]},
		{"?page=2", 2, 20, all[20:]},
		{"?page=3", 3, 20, nil},
		{"?page=1000000", 1000000, 20, nil},
		{"?limit=100", 1, 100, all},
		{"?limit=1", 1, 1, all[:1]},
		{"?limit=25", 1, 25, all},
		{"?limit=26&page=2", 2, 26, nil},
		{"?limit=10&page=3", 3, 10, all[20:]},
		{"?page=4&limit=7", 4, 7, all[21:]},
		{"?page=1&limit=20", 1, 20, all[:20]},
	}
	for _, tt := range tests {
		t.Run("query "+tt.query, func(t *testing.T) {
			t.Parallel()
			r := l.c.get(t, single+tt.query)
			testkit.WantStatus(t, r, http.StatusOK)
			pg := r.Page(t)
			if pg.Pagination.Page != tt.page || pg.Pagination.Limit != tt.limit || pg.Pagination.Total != fixtureSize {
				t.Errorf("want pagination page %d, limit %d, total %d, got %+v", tt.page, tt.limit, fixtureSize, pg.Pagination)
			}
			if got, want := ids(pg.Data), ids(tt.want); !slices.Equal(got, want) {
				t.Errorf("want records %v, got %v", want, got)
			}
			if len(tt.want) == 0 && !strings.Contains(string(r.Body), `"data":[]`) {
				t.Errorf(`want "data": [] past the end, got %s`, r)
			}
		})
	}
	t.Run("walking every page", func(t *testing.T) {
		t.Parallel()
		var walked []testkit.Record
		for page := 1; ; page++ {
			pg := l.c.get(t, fmt.Sprintf("%s?limit=4&page=%d", single, page)).Page(t)
			if len(pg.Data) == 0 {
				break
			}
			walked = append(walked, pg.Data...)
		}
		if got, want := ids(walked), ids(all); !slices.Equal(got, want) {
			t.Errorf("want every record once, in order\nwant %v\ngot  %v", want, got)
		}
	})
}

func TestList_EmptyOrganisationHasEmptyData(t *testing.T) {
	t.Parallel()
	r := newOwner(t).get(t, single)
	testkit.WantStatus(t, r, http.StatusOK)
	if pg := r.Page(t); len(pg.Data) != 0 || pg.Pagination.Total != 0 || pg.Pagination.Page != 1 || pg.Pagination.Limit != 20 {
		t.Errorf("want no records, total 0, page 1, limit 20, got %s", r)
	}
}

func TestList_FiltersAndCountsEveryMatch(t *testing.T) {
	t.Parallel()
	l := newListed(t)
	oldest, newest := l.newest[len(l.newest)-1], l.newest[0]
	mid := l.newest[len(l.newest)/2]
	day := func(tm time.Time) string { return tm.UTC().Format("2006-01-02") }
	midnight := func(tm time.Time) time.Time { return tm.UTC().Truncate(24 * time.Hour) }
	between := func(from, to time.Time) func(testkit.Record) bool {
		return func(r testkit.Record) bool { return !r.CreatedAt.Before(from) && !r.CreatedAt.After(to) }
	}
	far := 1000 * 24 * time.Hour
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		name  string
		query url.Values
		match func(testkit.Record) bool
	}{
		{"status queued", url.Values{"status": {"queued"}}, func(r testkit.Record) bool { return r.Status == "queued" }},
		{"status processing", url.Values{"status": {"processing"}}, func(r testkit.Record) bool { return r.Status == "processing" }},
		{"status completed", url.Values{"status": {"completed"}}, func(r testkit.Record) bool { return r.Status == "completed" }},
		{"status failed", url.Values{"status": {"failed"}}, func(r testkit.Record) bool { return r.Status == "failed" }},
		{"format pdf", url.Values{"format": {"pdf"}}, func(r testkit.Record) bool { return r.Format == "pdf" }},
		{"format excel", url.Values{"format": {"excel"}}, func(r testkit.Record) bool { return r.Format == "excel" }},
		{"format csv", url.Values{"format": {"csv"}}, func(r testkit.Record) bool { return r.Format == "csv" }},
		{"triggered_by_user_id given", url.Values{"triggered_by_user_id": {"usr-0099"}}, func(r testkit.Record) bool { return r.TriggeredBy == "usr-0099" }},
		{"triggered_by_user_id defaulted", url.Values{"triggered_by_user_id": {"usr-0042"}}, func(r testkit.Record) bool { return r.TriggeredBy == "usr-0042" }},
		{"triggered_by_user_id nobody", url.Values{"triggered_by_user_id": {"usr-nobody"}}, func(testkit.Record) bool { return false }},
		{"export_id", url.Values{"export_id": {mid.ExportID}}, func(r testkit.Record) bool { return r.ExportID == mid.ExportID }},
		{"export_id unknown", url.Values{"export_id": {"exp-unknown"}}, func(testkit.Record) bool { return false }},
		{"status and format", url.Values{"status": {"completed"}, "format": {"pdf"}}, func(r testkit.Record) bool { return r.Status == "completed" && r.Format == "pdf" }},
		{"every filter", url.Values{"status": {"queued"}, "format": {"pdf"}, "triggered_by_user_id": {"usr-0099"}, "created_from": {day(oldest.CreatedAt)}, "created_to": {day(newest.CreatedAt)}},
			func(r testkit.Record) bool {
				return r.Status == "queued" && r.Format == "pdf" && r.TriggeredBy == "usr-0099"
			}},
		{"created_from the first day as a date", url.Values{"created_from": {day(oldest.CreatedAt)}}, func(testkit.Record) bool { return true }},
		{"created_to the last day as a date", url.Values{"created_to": {day(newest.CreatedAt)}}, func(testkit.Record) bool { return true }},
		{"created_from and created_to the same day", url.Values{"created_from": {day(mid.CreatedAt)}, "created_to": {day(mid.CreatedAt)}},
			between(midnight(mid.CreatedAt), midnight(mid.CreatedAt).Add(24*time.Hour-time.Second))},
		{"created_from the next day", url.Values{"created_from": {day(newest.CreatedAt.Add(24 * time.Hour))}}, func(testkit.Record) bool { return false }},
		{"created_to the day before", url.Values{"created_to": {day(oldest.CreatedAt.Add(-24 * time.Hour))}}, func(testkit.Record) bool { return false }},
		{"created_from the oldest's time, inclusive", url.Values{"created_from": {ts(oldest.CreatedAt)}}, func(testkit.Record) bool { return true }},
		{"created_to the newest's time, inclusive", url.Values{"created_to": {ts(newest.CreatedAt)}}, func(testkit.Record) bool { return true }},
		{"created_from the middle time", url.Values{"created_from": {ts(mid.CreatedAt)}}, between(mid.CreatedAt, newest.CreatedAt.Add(far))},
		{"created_to the middle time", url.Values{"created_to": {ts(mid.CreatedAt)}}, between(oldest.CreatedAt.Add(-far), mid.CreatedAt)},
		{"created_from and created_to the middle time", url.Values{"created_from": {ts(mid.CreatedAt)}, "created_to": {ts(mid.CreatedAt)}}, between(mid.CreatedAt, mid.CreatedAt)},
		{"created_from a second after the newest", url.Values{"created_from": {ts(newest.CreatedAt.Add(time.Second))}}, func(testkit.Record) bool { return false }},
		{"created_to a second before the oldest", url.Values{"created_to": {ts(oldest.CreatedAt.Add(-time.Second))}}, func(testkit.Record) bool { return false }},
		{"created_from half a second after the newest", url.Values{"created_from": {newest.CreatedAt.Add(500 * time.Millisecond).Format(time.RFC3339Nano)}}, func(testkit.Record) bool { return false }},
		{"created_to half a second before the oldest", url.Values{"created_to": {oldest.CreatedAt.Add(-500 * time.Millisecond).Format(time.RFC3339Nano)}}, func(testkit.Record) bool { return false }},
		{"created_from half a second before the middle", url.Values{"created_from": {mid.CreatedAt.Add(-500 * time.Millisecond).Format(time.RFC3339Nano)}}, between(mid.CreatedAt, newest.CreatedAt.Add(far))},
		{"created_to half a second after the middle", url.Values{"created_to": {mid.CreatedAt.Add(500 * time.Millisecond).Format(time.RFC3339Nano)}}, between(oldest.CreatedAt.Add(-far), mid.CreatedAt)},
		{"created_from with an offset", url.Values{"created_from": {mid.CreatedAt.In(cet).Format(time.RFC3339)}}, between(mid.CreatedAt, newest.CreatedAt.Add(far))},
		{"created_to with an offset", url.Values{"created_to": {mid.CreatedAt.In(cet).Format(time.RFC3339)}}, between(oldest.CreatedAt.Add(-far), mid.CreatedAt)},
		{"org_id of the token", url.Values{"org_id": {"org-bufdir-042"}}, func(testkit.Record) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var want []testkit.Record
			for _, r := range l.newest {
				if tt.match(r) {
					want = append(want, r)
				}
			}
			q := tt.query.Encode()
			pg := l.c.get(t, single+"?limit=100&"+q).Page(t)
			if got := ids(pg.Data); !slices.Equal(got, ids(want)) || pg.Pagination.Total != len(want) {
				t.Errorf("want %d records %v, got total %d and %v", len(want), ids(want), pg.Pagination.Total, got)
			}
			// The total counts every match, not the page.
			pg = l.c.get(t, single+"?limit=2&page=2&"+q).Page(t)
			wantPage := want[min(2, len(want)):min(4, len(want))]
			if got := ids(pg.Data); !slices.Equal(got, ids(wantPage)) || pg.Pagination.Total != len(want) {
				t.Errorf("want page 2 of 2 to be %v of total %d, got %v of total %d", ids(wantPage), len(want), got, pg.Pagination.Total)
			}
		})
	}
}

func TestList_RefusesBadQueries(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	c.create(t, testkit.NewRecord(nil))
	tests := []struct{ query, field string }{
		{"page=0", "page"},
		{"page=-1", "page"},
		{"page=abc", "page"},
		{"page=1.5", "page"},
		{"page=", "page"},
		{"limit=0", "limit"},
		{"limit=101", "limit"},
		{"limit=-5", "limit"},
		{"limit=ten", "limit"},
		{"limit=", "limit"},
		{"status=done", "status"},
		{"status=", "status"},
		{"status=QUEUED", "status"},
		{"format=docx", "format"},
		{"triggered_by_user_id=usr%200042", "triggered_by_user_id"},
		{"triggered_by_user_id=" + strings.Repeat("u", 129), "triggered_by_user_id"},
		{"export_id=exp%2F1", "export_id"},
		{"export_id=", "export_id"},
		{"created_from=2026-13-01", "created_from"},
		{"created_from=yesterday", "created_from"},
		{"created_from=2026-01-01T00:00:00", "created_from"},
		{"created_to=2026-02-30", "created_to"},
		{"created_to=1767225600", "created_to"},
		{"created_from=2026-03-02&created_to=2026-03-01", "created_to"},
		{"created_from=2026-03-01T10:00:01Z&created_to=2026-03-01T10:00:00Z", "created_to"},
		{"foo=1", "foo"},
		{"sort=created_at", "sort"},
		{"page_size=10", "page_size"},
		{"orgId=org-bufdir-042", "orgId"},
		{"limit=1&limit=2", "limit"},
		{"status=queued&status=failed", "status"},
	}
	for _, p := range prefixes {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.query, func(t *testing.T) {
				t.Parallel()
				r := c.get(t, p.path+"?"+tt.query)
				testkit.WantFieldError(t, r, tt.field)
			})
		}
	}
}
