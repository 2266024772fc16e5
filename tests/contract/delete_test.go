package contract

import (
	"net/http"
	"sync"
	"testing"

	"github.com/bufdir/export-audit/internal/testkit"
)

func TestDelete_AnswersDeletedAndHidesTheRecord(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	keep := c.create(t, testkit.NewRecord(nil))
	gone := c.create(t, testkit.NewRecord(nil))

	r := c.del(t, single+"/"+gone.RecordID)
	testkit.WantStatus(t, r, http.StatusOK)
	testkit.WantJSON(t, r)
	wantDeleted(t, r, gone.RecordID)

	path := single + "/" + gone.RecordID
	testkit.WantProblem(t, c.get(t, path), http.StatusNotFound, "not_found")
	testkit.WantProblem(t, c.del(t, path), http.StatusNotFound, "not_found")
	testkit.WantProblem(t, c.put(t, path+"/status", testkit.Fields{"status": "processing"}), http.StatusNotFound, "not_found")
	testkit.WantProblem(t, c.put(t, path+"/file-url", testkit.Fields{"file_url": "https://storage.example.no/x.pdf"}), http.StatusNotFound, "not_found")

	list := c.get(t, single)
	pg := list.Page(t)
	if pg.Pagination.Total != 1 || len(pg.Data) != 1 || pg.Data[0].RecordID != keep.RecordID {
		t.Errorf("want only %s listed with total 1, got %s", keep.RecordID, list)
	}
	testkit.WantNotContain(t, list, gone.RecordID)
	for _, q := range []string{"?export_id=" + gone.ExportID, "?status=queued", "?format=pdf"} {
		filtered := c.get(t, single+q)
		testkit.WantNotContain(t, filtered, gone.RecordID)
	}
	if pg := c.get(t, single+"?export_id="+gone.ExportID).Page(t); pg.Pagination.Total != 0 {
		t.Errorf("want a deleted record not counted by a filter, got total %d", pg.Pagination.Total)
	}
}

func TestDelete_ConcurrentDeletesOneWins(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	rec := c.create(t, testkit.NewRecord(nil))
	replies := make([]testkit.Reply, 4)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Go(func() { replies[i] = c.del(t, single+"/"+rec.RecordID) })
	}
	wg.Wait()
	deleted := 0
	for _, r := range replies {
		if r.Status == http.StatusOK {
			deleted++
			continue
		}
		testkit.WantProblem(t, r, http.StatusNotFound, "not_found")
	}
	if deleted != 1 {
		t.Errorf("want exactly one delete to succeed, got %d: %v", deleted, replies)
	}
	if pg := c.get(t, single).Page(t); pg.Pagination.Total != 0 || len(pg.Data) != 0 {
		t.Errorf("want an empty list with total 0, got %+v", pg.Pagination)
	}
}

func TestDelete_FreesTheExportID(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	body := testkit.NewRecord(nil)
	old := c.create(t, body)
	testkit.WantStatus(t, c.del(t, single+"/"+old.RecordID), http.StatusOK)

	for _, tt := range []struct {
		name string
		body testkit.Fields
	}{
		{"same fields", body},
		{"other fields", testkit.NewRecord(testkit.Fields{"export_id": body["export_id"], "format": "csv"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.post(t, single, tt.body)
			testkit.WantStatus(t, r, http.StatusCreated)
			rec := r.Record(t)
			if rec.RecordID == old.RecordID {
				t.Errorf("want a new record_id, got the deleted one %s again", old.RecordID)
			}
			if r.Header.Get("Idempotent-Replayed") != "" {
				t.Errorf("want a new record, not a replay, got %v", r.Header)
			}
			testkit.WantProblem(t, c.get(t, single+"/"+old.RecordID), http.StatusNotFound, "not_found")
			testkit.WantStatus(t, c.del(t, single+"/"+rec.RecordID), http.StatusOK)
		})
	}
}

func wantDeleted(t *testing.T, r testkit.Reply, id string) {
	t.Helper()
	m := r.Object(t)
	if len(m) != 2 || m["deleted"] != true || m["record_id"] != id {
		t.Errorf(`want {"deleted": true, "record_id": %q}, got %s`, id, r)
	}
}
