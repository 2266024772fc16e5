package contract

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
)

// TestTenant_AnotherOrganisationSeesNothing: a caller of another organisation gets 404 on every
// record route of a record it does not own, exactly as for a record that does not exist, lists
// only its own records, and never receives a byte of the owner's data.
func TestTenant_AnotherOrganisationSeesNothing(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	alpha := s.as(t, "org-alpha-7", "usr-alpha-1")
	beta := s.as(t, "org-beta-9", "usr-beta-1")

	a1 := alpha.create(t, testkit.NewRecord(testkit.Fields{"export_id": "exp-alpha-secret-1", "triggered_by_user_id": "usr-alpha-2"}))
	a2 := alpha.create(t, testkit.NewRecord(testkit.Fields{"export_id": "exp-alpha-secret-2", "status": "processing"}))
	testkit.WantStatus(t, alpha.put(t, single+"/"+a2.RecordID+"/file-url", testkit.Fields{"file_url": "https://storage.example.no/alpha-secret.pdf"}), http.StatusOK)
	b1 := beta.create(t, testkit.NewRecord(nil))
	secrets := []string{a1.RecordID, a2.RecordID, "exp-alpha-secret", "org-alpha-7", "usr-alpha", "alpha-secret.pdf"}
	before := map[string]string{}
	for _, rec := range []testkit.Record{a1, a2} {
		before[rec.RecordID] = string(alpha.get(t, single+"/"+rec.RecordID).Body)
	}

	missing := beta.get(t, single+"/rec-20200101-001")
	wantP := testkit.WantProblem(t, missing, http.StatusNotFound, "not_found")

	t.Run("record routes answer 404", func(t *testing.T) {
		for _, p := range prefixes {
			for _, rec := range []testkit.Record{a1, a2} {
				path := p.path + "/" + rec.RecordID
				for _, tt := range []struct {
					name   string
					method string
					path   string
					body   any
				}{
					{"get", "GET", path, nil},
					{"update status", "PUT", path + "/status", testkit.Fields{"status": "failed", "failure_reason": "beta was here", "updated_at": ts(rec.CreatedAt.Add(time.Second))}},
					{"same status", "PUT", path + "/status", testkit.Fields{"status": string(rec.Status)}},
					{"attach file URL", "PUT", path + "/file-url", testkit.Fields{"file_url": "https://storage.example.no/beta.pdf"}},
					{"delete", "DELETE", path, nil},
				} {
					t.Run(p.name+"/"+rec.RecordID+"/"+tt.name, func(t *testing.T) {
						t.Parallel()
						r := beta.do(t, tt.method, tt.path, tt.body)
						got := testkit.WantProblem(t, r, http.StatusNotFound, "not_found")
						if got["detail"] != wantP["detail"] || got["title"] != wantP["title"] || got["type"] != wantP["type"] {
							t.Errorf("want the same answer as for a record that does not exist\nmissing %s\ngot     %s", missing, r)
						}
						testkit.WantNotContain(t, r, secrets...)
					})
				}
			}
		}
	})

	t.Run("list shows only its own", func(t *testing.T) {
		for _, q := range []string{"", "?limit=100", "?status=processing", "?export_id=exp-alpha-secret-1", "?triggered_by_user_id=usr-alpha-2", "?format=pdf"} {
			r := beta.get(t, single+q)
			pg := r.Page(t)
			for _, rec := range pg.Data {
				if rec.OrgID != "org-beta-9" {
					t.Errorf("want only org-beta-9's records, got %s", r)
				}
			}
			testkit.WantNotContain(t, r, secrets...)
		}
		pg := beta.get(t, single).Page(t)
		if got := ids(pg.Data); !slices.Equal(got, []string{b1.RecordID}) || pg.Pagination.Total != 1 {
			t.Errorf("want only %s with total 1, got %v total %d", b1.RecordID, got, pg.Pagination.Total)
		}
	})

	t.Run("org_id of another organisation is 403", func(t *testing.T) {
		for _, r := range []testkit.Reply{
			beta.get(t, single+"?org_id=org-alpha-7"),
			beta.post(t, single, testkit.NewRecord(testkit.Fields{"org_id": "org-alpha-7"})),
		} {
			testkit.WantProblem(t, r, http.StatusForbidden, "forbidden_organisation")
			testkit.WantNotContain(t, r, a1.RecordID, a2.RecordID, "exp-alpha-secret")
		}
	})

	t.Run("export_ids are per organisation", func(t *testing.T) {
		r := beta.post(t, single, testkit.NewRecord(testkit.Fields{"export_id": "exp-alpha-secret-1", "format": "csv"}))
		testkit.WantStatus(t, r, http.StatusCreated)
		if rec := r.Record(t); rec.RecordID == a1.RecordID || rec.OrgID != "org-beta-9" {
			t.Errorf("want a new record of org-beta-9, got %s", r)
		}
		testkit.WantNotContain(t, r, a1.RecordID, a2.RecordID, "org-alpha-7", "usr-alpha")
	})

	for id, body := range before {
		if after := alpha.get(t, single+"/"+id); string(after.Body) != body {
			t.Errorf("want the owner's record unchanged\nbefore %s\nafter  %s", body, after)
		}
	}
	if pg := alpha.get(t, single).Page(t); pg.Pagination.Total != 2 {
		t.Errorf("want the owner's list unchanged at 2, got %d", pg.Pagination.Total)
	}
}
