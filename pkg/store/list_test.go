package store_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/store"
)

// seed creates n records in org, one a minute from start, alternating formats and statuses,
// and returns them newest first, as a list answers.
func seed(t *testing.T, e *env, org string, n int, start time.Time) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for i := 0; i < n; i++ {
		s := e.Store(store.WithClock(fixedClock(start.Add(time.Duration(i) * time.Minute))))
		nr := newRecord(org, fmt.Sprintf("exp-%03d", i))
		nr.Format = []audit.Format{audit.FormatPDF, audit.FormatCSV, audit.FormatExcel}[i%3]
		if i%2 == 1 {
			nr.Status = audit.StatusProcessing
		}
		if i%4 == 3 {
			nr.TriggeredBy = "usr-other"
		}
		rec := mustCreate(t, s, nr)
		rec.History = nil
		recs = append([]audit.Record{rec}, recs...)
	}
	return recs
}

func ids(rs []audit.Record) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.RecordID)
	}
	return out
}

func TestList_PagesAcrossDynamoDBPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := time.Date(2026, 3, 1, 23, 40, 0, 0, time.UTC) // crosses midnight
	all := seed(t, e, "org-a", 25, start)
	seed(t, e, "org-b", 5, start)
	// Pages of 4 items force every list to cross several DynamoDB pages.
	s := e.Store(store.WithPageSize(4))
	for _, tc := range []struct {
		name        string
		page, limit int
		want        []audit.Record
	}{
		{"first page", 1, 10, all[:10]},
		{"middle page", 2, 10, all[10:20]},
		{"last partial page", 3, 10, all[20:]},
		{"page past the end", 4, 10, nil},
		{"one per page", 7, 1, all[6:7]},
		{"everything", 1, 100, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustList(t, s, audit.ListFilter{OrgID: "org-a", Page: tc.page, Limit: tc.limit})
			if p.Total != 25 {
				t.Errorf("total %d, want 25", p.Total)
			}
			if !reflect.DeepEqual(ids(p.Records), ids(tc.want)) {
				t.Errorf("got %v\nwant %v", ids(p.Records), ids(tc.want))
			}
			if len(tc.want) > 0 && !reflect.DeepEqual(p.Records, tc.want) {
				t.Errorf("listed records differ from the created ones (without history)")
			}
		})
	}
}

func TestList_Filters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := time.Date(2026, 3, 1, 23, 50, 0, 0, time.UTC)
	all := seed(t, e, "org-a", 20, start)
	seed(t, e, "org-b", 6, start)
	s := e.Store(store.WithPageSize(3))
	pick := func(keep func(audit.Record) bool) []audit.Record {
		var out []audit.Record
		for _, r := range all {
			if keep(r) {
				out = append(out, r)
			}
		}
		return out
	}
	midnight := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		f    audit.ListFilter
		want []audit.Record
	}{
		{"status", audit.ListFilter{Status: audit.StatusProcessing}, pick(func(r audit.Record) bool { return r.Status == audit.StatusProcessing })},
		{"format", audit.ListFilter{Format: audit.FormatCSV}, pick(func(r audit.Record) bool { return r.Format == audit.FormatCSV })},
		{"triggered_by", audit.ListFilter{TriggeredBy: "usr-other"}, pick(func(r audit.Record) bool { return r.TriggeredBy == "usr-other" })},
		{"export_id", audit.ListFilter{ExportID: "exp-007"}, pick(func(r audit.Record) bool { return r.ExportID == "exp-007" })},
		{"created_from, inclusive", audit.ListFilter{CreatedFrom: midnight}, pick(func(r audit.Record) bool { return !r.CreatedAt.Before(midnight) })},
		{"created_to, inclusive", audit.ListFilter{CreatedTo: midnight}, pick(func(r audit.Record) bool { return !r.CreatedAt.After(midnight) })},
		{"created range and format", audit.ListFilter{CreatedFrom: start.Add(5 * time.Minute), CreatedTo: start.Add(15 * time.Minute), Format: audit.FormatPDF},
			pick(func(r audit.Record) bool {
				return r.Format == audit.FormatPDF && !r.CreatedAt.Before(start.Add(5*time.Minute)) && !r.CreatedAt.After(start.Add(15*time.Minute))
			})},
		{"nothing matches", audit.ListFilter{ExportID: "exp-none"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			f.OrgID, f.Page, f.Limit = "org-a", 1, 100
			p := mustList(t, s, f)
			if p.Total != len(tc.want) || !reflect.DeepEqual(ids(p.Records), ids(tc.want)) {
				t.Errorf("total %d, got %v\nwant %d: %v", p.Total, ids(p.Records), len(tc.want), ids(tc.want))
			}
			if len(tc.want) > 2 {
				f.Page, f.Limit = 2, 2
				p := mustList(t, s, f)
				if p.Total != len(tc.want) || !reflect.DeepEqual(ids(p.Records), ids(tc.want[2:min(4, len(tc.want))])) {
					t.Errorf("page 2 of 2: total %d, got %v", p.Total, ids(p.Records))
				}
			}
		})
	}
}

func TestList_SkipsDeletedRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	all := seed(t, e, "org-a", 8, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	s := e.Store(store.WithPageSize(2))
	for _, r := range []audit.Record{all[0], all[1], all[4]} {
		if err := s.Delete(ctx, "org-a", mustID(t, r.RecordID), "usr-admin"); err != nil {
			t.Fatal(err)
		}
	}
	live := []audit.Record{all[2], all[3], all[5], all[6], all[7]}
	for _, f := range []audit.ListFilter{
		{OrgID: "org-a", Page: 1, Limit: 3},
		{OrgID: "org-a", Page: 1, Limit: 3, Format: ""},
	} {
		p := mustList(t, s, f)
		if p.Total != 5 || !reflect.DeepEqual(ids(p.Records), ids(live[:3])) {
			t.Errorf("page 1: total %d %v, want 5 %v", p.Total, ids(p.Records), ids(live[:3]))
		}
	}
	p := mustList(t, s, audit.ListFilter{OrgID: "org-a", Page: 2, Limit: 3, Status: ""})
	if !reflect.DeepEqual(ids(p.Records), ids(live[3:])) {
		t.Errorf("page 2: %v, want %v", ids(p.Records), ids(live[3:]))
	}
	filtered := mustList(t, s, audit.ListFilter{OrgID: "org-a", Page: 1, Limit: 10, Format: audit.FormatPDF})
	for _, r := range filtered.Records {
		for _, d := range []audit.Record{all[0], all[1], all[4]} {
			if r.RecordID == d.RecordID {
				t.Errorf("filtered list shows deleted record %s", r.RecordID)
			}
		}
	}
}

func TestList_FirstPageIsOneQueryAtAnySize(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seed(t, e, "org-a", 150, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	s := e.Store()
	e.calls.Take()
	p := mustList(t, s, audit.ListFilter{OrgID: "org-a", Page: 1, Limit: 20})
	if p.Total != 150 || len(p.Records) != 20 {
		t.Errorf("total %d, %d records; want 150 and 20", p.Total, len(p.Records))
	}
	if n := e.calls.Take(); !reflect.DeepEqual(n, map[string]int{"Query": 1}) {
		t.Errorf("page 1 made calls %v, want one Query", n)
	}
	past := mustList(t, s, audit.ListFilter{OrgID: "org-a", Page: 9, Limit: 20})
	if past.Total != 150 || len(past.Records) != 0 {
		t.Errorf("page past the end: total %d, %d records; want 150 and none", past.Total, len(past.Records))
	}
}

func TestList_EmptyOrganisation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seed(t, e, "org-a", 3, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	p := mustList(t, e.Store(), audit.ListFilter{OrgID: "org-empty", Page: 1, Limit: 20})
	if p.Total != 0 || len(p.Records) != 0 {
		t.Errorf("organisation without records: %+v", p)
	}
}
