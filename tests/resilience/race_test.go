package resilience

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
)

// together sends the requests at once (each from its own goroutine, released together) and
// returns the answers in order; a request that got no answer fails the test.
func (e *env) together(t *testing.T, token string, reqs ...request) []testkit.Reply {
	t.Helper()
	out := make([]testkit.Reply, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, rq := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := e.Send(rq.method, rq.path, token, rq.body)
			if err != nil {
				t.Errorf("%s %s: %v", rq.method, rq.path, err)
			}
			out[i] = r
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// raceAPI starts a local API for one test's races and signs a token of the organisation that
// races on it.
func raceAPI(t *testing.T) (*env, string) {
	t.Helper()
	return startAPI(t, nil), testkit.Token(t, "org-race", "usr-race")
}

type request struct {
	method, path string
	body         any
}

// TestRace_SameExportCreatesMakeOneRecord: concurrent creates of one export_id make one record.
// With the same fields, one answers 201 and every other 200 with that record; with other
// fields, the others answer 200 (same fields) or 409 naming that record.
func TestRace_SameExportCreatesMakeOneRecord(t *testing.T) {
	t.Parallel()
	e, tok := raceAPI(t)
	const rounds, callers = 10, 8
	for round := 0; round < rounds; round++ {
		export := fmt.Sprintf("exp-same-%02d", round)
		reqs := make([]request, callers)
		for i := range reqs {
			b := createBody(export)
			if round%2 == 1 && i%2 == 1 {
				b["format"] = "pdf" // another request for the same export_id
			}
			reqs[i] = request{"POST", base, b}
		}
		replies := e.together(t, tok, reqs...)
		created, ids := 0, map[string]bool{}
		var winner testkit.Record
		for _, r := range replies {
			switch r.Status {
			case http.StatusCreated:
				created++
				winner, _ = r.ParseRecord()
				ids[winner.RecordID] = true
			case http.StatusOK:
				rec, err := r.ParseRecord()
				if err != nil || r.Header.Get("Idempotent-Replayed") != "true" {
					t.Errorf("want a replay with Idempotent-Replayed, got %s", r)
				}
				ids[rec.RecordID] = true
			case http.StatusConflict:
				var p struct {
					Code     string `json:"code"`
					RecordID string `json:"record_id"`
				}
				_ = json.Unmarshal(r.Body, &p)
				if round%2 == 0 || p.Code != "export_id_conflict" {
					t.Errorf("want a conflict only for other fields, naming the record, got %s", r)
				}
				ids[p.RecordID] = true
			default:
				t.Errorf("round %d: unexpected %s", round, r)
			}
		}
		if created != 1 || len(ids) != 1 || !ids[winner.RecordID] {
			t.Errorf("round %d: want one 201 and every answer about its record, got %d created, records %v", round, created, ids)
		}
	}
	f := e.Check(t)
	if f.Live != rounds {
		t.Errorf("want %d live records, one per export, got %+v", rounds, f)
	}
	t.Logf("%d rounds of %d concurrent creates of one export_id: %d live records", rounds, callers, f.Live)
}

// TestRace_CompletedVersusFailed: moves to completed and to failed at once on one record: one
// wins, the other is refused with 409 since both are final; the history holds the winner once.
// Two moves to the same status: both answer 200 and the history holds it once.
func TestRace_CompletedVersusFailed(t *testing.T) {
	t.Parallel()
	e, tok := raceAPI(t)
	const records = 15
	for i := 0; i < records; i++ {
		rec := oneRecord(t, e, tok, fmt.Sprintf("exp-final-%02d", i))
		path := base + "/" + rec.RecordID + "/status"
		replies := e.together(t, tok,
			request{"PUT", path, map[string]any{"status": "completed", "activity_count": 7}},
			request{"PUT", path, map[string]any{"status": "failed", "failure_reason": "lost the race"}},
			request{"PUT", path, map[string]any{"status": "processing"}},
		)
		won := ""
		for j, r := range replies[:2] {
			switch r.Status {
			case http.StatusOK:
				if won != "" {
					t.Errorf("%s: both final moves answered 200", rec.RecordID)
				}
				won = []string{"completed", "failed"}[j]
			case http.StatusConflict:
				if !strings.Contains(string(r.Body), "illegal_status_transition") {
					t.Errorf("want the loser refused as an illegal move, got %s", r)
				}
			default:
				t.Errorf("unexpected %s", r)
			}
		}
		// processing is allowed only before a final move lands.
		if s := replies[2].Status; s != http.StatusOK && s != http.StatusConflict {
			t.Errorf("unexpected %s", replies[2])
		}
		got, err := e.Must(t, "GET", base+"/"+rec.RecordID, tok, nil).ParseRecord()
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, h := range got.History {
			steps = append(steps, string(h.Status))
		}
		want := []string{"queued", won}
		if replies[2].Status == http.StatusOK {
			want = []string{"queued", "processing", won}
		}
		if string(got.Status) != won || strings.Join(steps, ",") != strings.Join(want, ",") {
			t.Errorf("%s: want status %s and history %v, got %s and %v", rec.RecordID, won, want, got.Status, steps)
		}
		// The same move twice at once: one applies it, the other is a no-op.
		rec2 := oneRecord(t, e, tok, fmt.Sprintf("exp-twice-%02d", i))
		path2 := base + "/" + rec2.RecordID + "/status"
		for _, r := range e.together(t, tok, request{"PUT", path2, map[string]any{"status": "completed"}},
			request{"PUT", path2, map[string]any{"status": "completed"}}) {
			if r.Status != http.StatusOK {
				t.Errorf("want both identical moves answered 200, got %s", r)
			}
		}
		if got, _ := e.Must(t, "GET", base+"/"+rec2.RecordID, tok, nil).ParseRecord(); len(got.History) != 2 {
			t.Errorf("want the move once in the history, got %+v", got.History)
		}
	}
	f := e.Check(t)
	t.Logf("%d races of completed vs failed vs processing, %d of two identical moves; table: %+v", records, records, f)
}

// TestRace_DeleteVersusMoveAndFile: a delete, a status move and a file URL at once on one
// record. The delete answers 200; the move and the file answer 200 when they landed first and
// 404 after. The tombstone holds exactly the changes that were answered 200, no guard points
// at it, and the organisation's count is back to 0.
func TestRace_DeleteVersusMoveAndFile(t *testing.T) {
	t.Parallel()
	e, tok := raceAPI(t)
	const records = 20
	type outcome struct {
		id          string
		moved, file bool
	}
	var outcomes []outcome
	before, after := 0, 0
	for i := 0; i < records; i++ {
		rec := oneRecord(t, e, tok, fmt.Sprintf("exp-del-%02d", i))
		path := base + "/" + rec.RecordID
		reqs := []request{
			{"PUT", path + "/status", map[string]any{"status": "completed"}},
			{"PUT", path + "/file-url", map[string]any{"file_url": "https://storage.example.no/" + rec.RecordID + ".csv"}},
			{"DELETE", path, nil},
		}
		if i%2 == 1 {
			reqs[0], reqs[2] = reqs[2], reqs[0] // vary who starts first
		}
		replies := e.together(t, tok, reqs...)
		o := outcome{id: rec.RecordID}
		for j, r := range replies {
			switch {
			case reqs[j].method == "DELETE":
				if r.Status != http.StatusOK {
					t.Errorf("want the only delete answered 200, got %s", r)
				}
			case r.Status == http.StatusOK:
				o.moved = o.moved || strings.HasSuffix(reqs[j].path, "/status")
				o.file = o.file || strings.HasSuffix(reqs[j].path, "/file-url")
				before++
			case r.Status == http.StatusNotFound:
				after++
			default:
				t.Errorf("want 200 or 404, got %s", r)
			}
		}
		outcomes = append(outcomes, o)
	}
	f := e.Check(t)
	snap := e.Scan(t)
	for _, o := range outcomes {
		r := snap.Records["org-race|"+o.id]
		if r.DeletedAt == "" {
			t.Errorf("%s: want a tombstone, got %+v", o.id, r)
		}
		if (r.Status == "completed") != o.moved || (r.FileURL != "") != o.file {
			t.Errorf("%s: the tombstone (status %s, file %q) must hold exactly the changes answered 200 (moved %v, file %v)",
				o.id, r.Status, r.FileURL, o.moved, o.file)
		}
	}
	if f.Live != 0 || f.Tombstones != records || f.Guards != 0 {
		t.Errorf("want %d tombstones and nothing live, got %+v", records, f)
	}
	t.Logf("%d races of delete vs move vs file: %d changes landed before the delete, %d after (404)", records, before, after)
}

// TestRace_DeleteVersusRecreate: a delete and a create of the same export_id at once. The
// create either replays the record being deleted (200) or, once the delete freed the
// export_id, makes a new record (201); in the end at most one record of the export is live,
// and it is the one a 201 answered.
func TestRace_DeleteVersusRecreate(t *testing.T) {
	t.Parallel()
	e, tok := raceAPI(t)
	const records = 20
	replayed, recreated := 0, 0
	for i := 0; i < records; i++ {
		export := fmt.Sprintf("exp-again-%02d", i)
		old := oneRecord(t, e, tok, export)
		replies := e.together(t, tok,
			request{"DELETE", base + "/" + old.RecordID, nil},
			request{"POST", base, createBody(export)},
			request{"POST", base, createBody(export)},
		)
		if replies[0].Status != http.StatusOK {
			t.Errorf("want the delete answered 200, got %s", replies[0])
		}
		var fresh []string
		for _, r := range replies[1:] {
			rec, err := r.ParseRecord()
			switch {
			case err != nil:
				t.Errorf("want a record, got %s\nerror log: %s", r, e.logs)
			case r.Status == http.StatusOK && rec.RecordID == old.RecordID:
				replayed++
			case r.Status == http.StatusOK || r.Status == http.StatusCreated:
				if rec.RecordID == old.RecordID {
					t.Errorf("want a 201 to be a new record, got %s", r)
				}
				if r.Status == http.StatusCreated {
					recreated++
				}
				fresh = append(fresh, rec.RecordID)
			default:
				t.Errorf("unexpected %s", r)
			}
		}
		list := e.Must(t, "GET", base+"?export_id="+export, tok, nil)
		var page struct {
			Data []testkit.Record `json:"data"`
		}
		_ = json.Unmarshal(list.Body, &page)
		switch {
		case len(fresh) == 0 && len(page.Data) != 0:
			t.Errorf("%s: both creates replayed the deleted record, yet %s is listed", export, list)
		case len(fresh) > 0 && (len(page.Data) != 1 || page.Data[0].RecordID != fresh[0]):
			t.Errorf("%s: want only the new record %v listed, got %s", export, fresh, list)
		}
		for _, id := range fresh {
			if id != fresh[0] {
				t.Errorf("%s: two new records %v", export, fresh)
			}
		}
	}
	f := e.Check(t)
	t.Logf("%d races of delete vs two re-creates: %d creates replayed the old record, %d made a new one; table: %+v",
		records, replayed, recreated, f)
}

// TestRace_DayCounterCrossesThe999Boundary: concurrent creates take numbers from a day counter
// seeded at 990: every number from 991 to 1010 once, record_id rec-YYYYMMDD-1000 after
// rec-YYYYMMDD-999, and the list newest first in numeric order.
func TestRace_DayCounterCrossesThe999Boundary(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	e := startAPI(t, nil, withClock(day))
	testkit.SetDayCounter(t, e.DB, e.Table, day, 990)
	tok := testkit.Token(t, "org-boundary", "usr-boundary")
	reqs := make([]request, 20)
	for i := range reqs {
		reqs[i] = request{"POST", base, createBody(fmt.Sprintf("exp-b-%02d", i))}
	}
	seen := map[int]string{}
	for _, r := range e.together(t, tok, reqs...) {
		rec, err := r.ParseRecord()
		if err != nil || r.Status != http.StatusCreated {
			t.Fatalf("want 201, got %s", r)
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(rec.RecordID, "rec-20260301-"))
		if prev, dup := seen[n]; dup {
			t.Errorf("number %d handed out twice: %s and %s", n, prev, rec.RecordID)
		}
		seen[n] = rec.RecordID
		if want := fmt.Sprintf("rec-20260301-%03d", n); rec.RecordID != want {
			t.Errorf("want %s, got %s", want, rec.RecordID)
		}
	}
	for n := 991; n <= 1010; n++ {
		if seen[n] == "" {
			t.Errorf("want number %d taken, got %v", n, seen)
		}
	}
	var page struct {
		Data []testkit.Record `json:"data"`
	}
	r := e.Must(t, "GET", base+"?limit=100", tok, nil)
	if err := json.Unmarshal(r.Body, &page); err != nil || len(page.Data) != 20 {
		t.Fatalf("want 20 records listed, got %s", r)
	}
	for i, rec := range page.Data {
		if want := fmt.Sprintf("rec-20260301-%03d", 1010-i); rec.RecordID != want {
			t.Errorf("list position %d: want %s (newest first, numerically), got %s", i, want, rec.RecordID)
		}
	}
	for _, id := range []string{"rec-20260301-999", "rec-20260301-1000"} {
		if r := e.Must(t, "GET", base+"/"+id, tok, nil); r.Status != http.StatusOK {
			t.Errorf("want %s readable, got %s", id, r)
		}
	}
	e.Check(t)
}
