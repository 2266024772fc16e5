package events

import (
	"net/http"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
)

func ts(tm time.Time) string { return tm.UTC().Format(time.RFC3339) }

// TestLife_EachChangeIsOneEventInVersionOrder: a record's whole life through the API, under each
// prefix, gives exactly the contract's events: Created, Status Changed twice, File Attached,
// Deleted, versions 1 to 5, each with who made the change and when, the status before a move,
// and the record as GET answered it right after the change (before it, for the delete). The
// replay, the same status again, the same file again and a move out of a final status publish
// nothing. A second record that fails gives Created and Status Changed with its
// failure_reason.
func TestLife_EachChangeIsOneEventInVersionOrder(t *testing.T) {
	t.Parallel()
	testkit.EachPrefix(t, func(t *testing.T, prefix string) {
		e := start(t)
		svc, admin := e.as(t, "usr-svc"), e.as(t, "usr-admin-7")
		body := testkit.NewRecord(testkit.Fields{"triggered_by_user_id": "usr-0099"})
		rec := svc.do(t, "POST", prefix, body, http.StatusCreated).Record(t)
		id, path := rec.RecordID, prefix+"/"+rec.RecordID
		wants := []want{{created, "usr-svc", nil, ts(rec.CreatedAt), svc.get(t, prefix, id)}}

		svc.do(t, "POST", prefix, body, http.StatusOK) // a replay
		at := rec.CreatedAt.Add(time.Minute)
		svc.do(t, "PUT", path+"/status", testkit.Fields{"status": "processing", "updated_at": ts(at)}, http.StatusOK)
		wants = append(wants, want{statusChanged, "usr-svc", ptr("queued"), ts(at), svc.get(t, prefix, id)})
		svc.do(t, "PUT", path+"/status", testkit.Fields{"status": "processing"}, http.StatusOK) // a no-op

		at = at.Add(time.Minute)
		svc.do(t, "PUT", path+"/status", testkit.Fields{"status": "completed", "updated_at": ts(at), "activity_count": 312}, http.StatusOK)
		wants = append(wants, want{statusChanged, "usr-svc", ptr("processing"), ts(at), svc.get(t, prefix, id)})
		svc.do(t, "PUT", path+"/status", testkit.Fields{"status": "failed"}, http.StatusConflict) // out of a final status

		file := testkit.Fields{"file_url": "https://storage.example.no/exports/" + rec.ExportID + ".pdf"}
		attached := svc.do(t, "PUT", path+"/file-url", file, http.StatusOK).Record(t)
		wants = append(wants, want{fileAttached, "usr-svc", nil, ts(attached.UpdatedAt), svc.get(t, prefix, id)})
		svc.do(t, "PUT", path+"/file-url", file, http.StatusOK) // the same file again

		before := admin.get(t, prefix, id)
		from := time.Now().UTC().Truncate(time.Second)
		admin.do(t, "DELETE", path, nil, http.StatusOK)
		until := time.Now().UTC()
		admin.do(t, "DELETE", path, nil, http.StatusNotFound)

		failing := svc.do(t, "POST", prefix, testkit.NewRecord(nil), http.StatusCreated).Record(t)
		failWants := []want{{created, "usr-svc", nil, ts(failing.CreatedAt), svc.get(t, prefix, failing.RecordID)}}
		admin.do(t, "PUT", prefix+"/"+failing.RecordID+"/status",
			testkit.Fields{"status": "failed", "updated_at": ts(failing.CreatedAt), "failure_reason": "the export service gave up"}, http.StatusOK)
		gotFailed := svc.get(t, prefix, failing.RecordID)
		failWants = append(failWants, want{statusChanged, "usr-admin-7", ptr("queued"), ts(failing.CreatedAt), gotFailed})
		svc.do(t, "PUT", prefix+"/"+failing.RecordID+"/file-url", file, http.StatusConflict) // no file on a failed record

		evs := e.events(t)
		if len(evs) != 7 {
			t.Errorf("want 7 events, 5 of one record and 2 of the other, got %d", len(evs))
		}
		// The delete's time is the server's: between the call and its answer.
		var delAt string
		if got := of(evs, id); len(got) == 5 {
			delAt = got[4].Detail.ChangedAt
			if at, err := time.Parse(time.RFC3339, delAt); err != nil || at.Before(from) || at.After(until) {
				t.Errorf("want the delete's changed_at between %s and %s, got %q", ts(from), ts(until), delAt)
			}
		}
		check(t, evs, id, append(wants, want{deleted, "usr-admin-7", nil, delAt, before}))
		check(t, evs, failing.RecordID, failWants)
		if gotFailed["failure_reason"] != "the export service gave up" {
			t.Errorf("want the failed record's failure_reason in its record, got %v", gotFailed)
		}
	})
}

// TestRace_FiftyCreatesOfOneExportPublishOneCreated: 50 creates of one export_id at once store
// one record, so exactly one Audit Record Created is published; the 49 replays publish nothing.
func TestRace_FiftyCreatesOfOneExportPublishOneCreated(t *testing.T) {
	t.Parallel()
	e := start(t)
	c := e.as(t, "usr-race")
	const n = 50
	body := testkit.NewRecord(nil)
	replies := make([]testkit.Reply, n)
	errs := make([]error, n)
	ready := make(chan struct{})
	done := make(chan int)
	for i := range n {
		go func() {
			<-ready
			replies[i], errs[i] = e.Send("POST", testkit.Prefix, c.token, body)
			done <- i
		}()
	}
	close(ready)
	for range n {
		<-done
	}
	statuses, ids := map[int]int{}, map[string]bool{}
	for i, r := range replies {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		statuses[r.Status]++
		if rec, err := r.ParseRecord(); err == nil {
			ids[rec.RecordID] = true
		}
	}
	if statuses[http.StatusCreated] != 1 || statuses[http.StatusOK] != n-1 || len(ids) != 1 {
		t.Fatalf("want one 201 and %d replays of one record, got statuses %v, records %v", n-1, statuses, ids)
	}
	var createdOf []string
	for _, ev := range e.events(t) {
		if ev.DetailType == created && ev.Detail.Record["export_id"] == body["export_id"] {
			createdOf = append(createdOf, ev.Detail.RecordID)
		}
	}
	for id := range ids {
		if len(createdOf) != 1 || createdOf[0] != id {
			t.Errorf("want exactly one %s, of %s, got one for each of %v", created, id, createdOf)
		}
	}
}
