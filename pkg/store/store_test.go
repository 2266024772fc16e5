package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/store"
)

var ctx = context.Background()

func TestCreate_StoresRecordReadableByGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	s := e.Store(store.WithClock(fixedClock(now)))
	n := newRecord("org-a", "exp-1")
	count := int64(312)
	n.ActivityCount = &count
	rec := mustCreate(t, s, n)
	if rec.RecordID != "rec-20260301-001" {
		t.Errorf("first record of the day: got %s, want rec-20260301-001", rec.RecordID)
	}
	if got := e.calls.Take(); !reflect.DeepEqual(got, map[string]int{"UpdateItem": 1, "TransactWriteItems": 1}) {
		t.Errorf("create made calls %v, want one UpdateItem and one TransactWriteItems", got)
	}
	got, err := s.Get(ctx, "org-a", mustID(t, rec.RecordID))
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if calls := e.calls.Take(); !reflect.DeepEqual(calls, map[string]int{"GetItem": 1}) {
		t.Errorf("get made calls %v, want one GetItem", calls)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("get returned\n%+v\nwant what create returned\n%+v", got, rec)
	}
	want := audit.Record{
		RecordID: "rec-20260301-001", ExportID: "exp-1", OrgID: "org-a", TriggeredBy: "usr-0099",
		Status: audit.StatusQueued, Format: audit.FormatPDF, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31",
		ActivityCount: &count, CreatedAt: now, UpdatedAt: now,
		History: []audit.HistoryEntry{{Status: audit.StatusQueued, At: now, By: "usr-0042"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored record\n%+v\nwant\n%+v", got, want)
	}
}

func TestGet_OtherOrganisationAndMissingAreNotFound(t *testing.T) {
	t.Parallel()
	_, s, rec := oneRecord(t)
	for name, tc := range map[string]struct{ org, id string }{
		"other organisation": {"org-b", rec.RecordID},
		"missing record":     {"org-a", "rec-20260301-999"},
	} {
		if _, err := s.Get(ctx, tc.org, mustID(t, tc.id)); !errors.Is(err, audit.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound", name, err)
		}
	}
}

func TestCreate_ReplayReturnsStoredRecord(t *testing.T) {
	t.Parallel()
	e, s, rec := oneRecord(t)
	moved, _, err := s.UpdateStatus(ctx, "org-a", mustID(t, rec.RecordID), audit.StatusChange{
		To: audit.StatusProcessing, At: rec.CreatedAt.Add(time.Second), By: "svc",
	})
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	e.calls.Take()
	got, replayed, err := s.Create(ctx, newRecord("org-a", "exp-1"))
	if err != nil || !replayed {
		t.Fatalf("replay: replayed=%v err=%v, want a replay", replayed, err)
	}
	if !reflect.DeepEqual(got, moved) {
		t.Errorf("replay returned\n%+v\nwant the record as it is now\n%+v", got, moved)
	}
	calls := e.calls.Take()
	if calls["TransactWriteItems"] != 1 || calls["UpdateItem"] != 1 || calls["PutItem"] != 0 {
		t.Errorf("replay made calls %v: want one counter UpdateItem, one TransactWriteItems and reads only", calls)
	}
	if p := mustList(t, s, audit.ListFilter{OrgID: "org-a", Page: 1, Limit: 20}); p.Total != 1 {
		t.Errorf("after a replay the organisation has %d records, want 1", p.Total)
	}
}

func TestCreate_DifferentFieldsClashNamingRecord(t *testing.T) {
	t.Parallel()
	_, s, rec := oneRecord(t)
	seven := int64(7)
	for name, change := range map[string]func(*audit.NewRecord){
		"format":         func(n *audit.NewRecord) { n.Format = audit.FormatCSV },
		"period_from":    func(n *audit.NewRecord) { n.PeriodFrom = "2025-02-01" },
		"period_to":      func(n *audit.NewRecord) { n.PeriodTo = "2025-11-30" },
		"status":         func(n *audit.NewRecord) { n.Status = audit.StatusProcessing },
		"triggered_by":   func(n *audit.NewRecord) { n.TriggeredBy = "usr-other" },
		"activity_count": func(n *audit.NewRecord) { n.ActivityCount = &seven },
	} {
		n := newRecord("org-a", "exp-1")
		change(&n)
		_, _, err := s.Create(ctx, n)
		var ce *audit.ConflictError
		if !errors.As(err, &ce) || ce.Code != audit.CodeExportIDConflict || ce.RecordID != rec.RecordID {
			t.Errorf("%s differs: got %v, want export_id_conflict naming %s", name, err, rec.RecordID)
		}
	}
	if p := mustList(t, s, audit.ListFilter{OrgID: "org-a", Page: 1, Limit: 20}); p.Total != 1 || len(p.Records) != 1 {
		t.Errorf("after clashes: total %d, %d records; want 1 and 1", p.Total, len(p.Records))
	}
}

func TestCreate_SameExportInTwoOrganisationsIsTwoRecords(t *testing.T) {
	t.Parallel()
	s := newEnv(t).Store()
	a := mustCreate(t, s, newRecord("org-a", "exp-1"))
	b := mustCreate(t, s, newRecord("org-b", "exp-1"))
	if a.RecordID == b.RecordID {
		t.Errorf("two organisations got the same record_id %s", a.RecordID)
	}
}

func TestCreate_ConcurrentSameExportMakesOneRecord(t *testing.T) {
	t.Parallel()
	s := newEnv(t).Store()
	const n = 50
	var (
		created int
		ids     = map[string]int{}
		errs    []error
	)
	for _, c := range createAll(s, n, func(int) audit.NewRecord { return newRecord("org-a", "exp-race") }) {
		if c.err != nil {
			errs = append(errs, c.err)
			continue
		}
		if !c.replayed {
			created++
		}
		ids[c.rec.RecordID]++
	}
	if len(errs) > 0 {
		t.Fatalf("%d creates failed, first: %v", len(errs), errs[0])
	}
	if created != 1 || len(ids) != 1 {
		t.Errorf("%d concurrent creates: %d created, record ids %v; want 1 created and one id", n, created, ids)
	}
	if p := mustList(t, s, audit.ListFilter{OrgID: "org-a", Page: 1, Limit: 100}); p.Total != 1 || len(p.Records) != 1 {
		t.Errorf("list after the race: total %d, %d records; want 1", p.Total, len(p.Records))
	}
}

func TestCreate_ConcurrentCreatesNeverRepeatIDs(t *testing.T) {
	t.Parallel()
	s := newEnv(t).Store()
	const n = 60
	ids := map[string]bool{}
	all := createAll(s, n, func(i int) audit.NewRecord {
		return newRecord("org-"+strconv.Itoa(i%3), "exp-"+strconv.Itoa(i))
	})
	for i, c := range all {
		if c.err != nil {
			t.Errorf("create %d: %v", i, c.err)
			continue
		}
		if ids[c.rec.RecordID] {
			t.Errorf("record_id %s handed out twice", c.rec.RecordID)
		}
		ids[c.rec.RecordID] = true
	}
	if len(ids) != n {
		t.Errorf("%d creates made %d distinct ids", n, len(ids))
	}
}

func TestCreate_SequenceGoesPast999(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	day := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := e.Store(store.WithClock(fixedClock(day)))
	// Start the day's counter near the boundary rather than creating 997 records first.
	testkit.SetDayCounter(t, e.Client, table, day, 997)
	var got []string
	for i := 0; i < 4; i++ {
		got = append(got, mustCreate(t, s, newRecord("org-a", fmt.Sprintf("exp-%d", i))).RecordID)
	}
	want := []string{"rec-20260301-998", "rec-20260301-999", "rec-20260301-1000", "rec-20260301-1001"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ids across the boundary: got %v, want %v", got, want)
	}
	p := mustList(t, s, audit.ListFilter{OrgID: "org-a", Page: 1, Limit: 20})
	var listed []string
	for _, r := range p.Records {
		listed = append(listed, r.RecordID)
	}
	if wantOrder := []string{want[3], want[2], want[1], want[0]}; !reflect.DeepEqual(listed, wantOrder) {
		t.Errorf("newest first across the boundary: got %v, want %v", listed, wantOrder)
	}
	for _, id := range want {
		if _, err := s.Get(ctx, "org-a", mustID(t, id)); err != nil {
			t.Errorf("get %s: %v", id, err)
		}
	}
}

func TestCreate_ClockBehindTakesTheLaterSecond(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	ahead := mustCreate(t, e.Store(store.WithClock(fixedClock(t0.Add(5*time.Second)))), newRecord("org-a", "exp-1"))
	behind := mustCreate(t, e.Store(store.WithClock(fixedClock(t0))), newRecord("org-a", "exp-2"))
	if !behind.CreatedAt.Equal(ahead.CreatedAt) {
		t.Errorf("a create on a clock 5 s behind got created_at %s, want the later %s", behind.CreatedAt, ahead.CreatedAt)
	}
	if behind.RecordID != "rec-20260301-002" {
		t.Errorf("second record: got %s, want rec-20260301-002", behind.RecordID)
	}
}

func TestUpdateStatus_FollowsStatusMachine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.Store()
	for _, from := range audit.Statuses {
		for _, to := range audit.Statuses {
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				rec := recordIn(t, s, "org-a", "exp-"+string(from)+"-"+string(to), from)
				at := rec.UpdatedAt.Add(time.Minute)
				e.calls.Take()
				got, changed, err := s.UpdateStatus(ctx, "org-a", mustID(t, rec.RecordID), audit.StatusChange{To: to, At: at, By: "svc"})
				if n := e.calls.Take(); to != audit.StatusQueued && !reflect.DeepEqual(n, map[string]int{"UpdateItem": 1}) {
					t.Errorf("calls %v, want one UpdateItem", n)
				}
				switch {
				case from == to:
					if err != nil || changed || !reflect.DeepEqual(got, rec) {
						t.Errorf("same status: changed=%v err=%v, want an unchanged record", changed, err)
					}
				case from.CanMoveTo(to):
					if err != nil || !changed {
						t.Fatalf("allowed move: changed=%v err=%v", changed, err)
					}
					want := audit.StatusChange{To: to, At: at, By: "svc"}.Apply(rec)
					if !reflect.DeepEqual(got, want) {
						t.Errorf("after the move\n%+v\nwant\n%+v", got, want)
					}
				default:
					var ce *audit.ConflictError
					if !errors.As(err, &ce) || ce.Code != audit.CodeIllegalTransition || !reflect.DeepEqual(ce.Allowed, from.Moves()) {
						t.Errorf("illegal move: got %v, want illegal_status_transition allowing %v", err, from.Moves())
					}
				}
				stored, _ := s.Get(ctx, "org-a", mustID(t, rec.RecordID))
				if err != nil && !reflect.DeepEqual(stored, rec) {
					t.Errorf("a refused move changed the record:\n%+v", stored)
				}
			})
		}
	}
}

func TestUpdateStatus_Refusals(t *testing.T) {
	t.Parallel()
	_, s, rec := oneRecord(t)
	gone := mustCreate(t, s, newRecord("org-a", "exp-2"))
	if err := s.Delete(ctx, "org-a", mustID(t, gone.RecordID), "usr-admin"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	var ve *audit.ValidationError
	cases := map[string]struct {
		org, id string
		at      time.Time
		check   func(error) bool
	}{
		"before created_at":  {"org-a", rec.RecordID, rec.CreatedAt.Add(-time.Second), func(err error) bool { return errors.As(err, &ve) }},
		"other organisation": {"org-b", rec.RecordID, rec.CreatedAt, func(err error) bool { return errors.Is(err, audit.ErrNotFound) }},
		"missing record":     {"org-a", "rec-20200101-001", rec.CreatedAt, func(err error) bool { return errors.Is(err, audit.ErrNotFound) }},
		"deleted record":     {"org-a", gone.RecordID, gone.CreatedAt, func(err error) bool { return errors.Is(err, audit.ErrNotFound) }},
	}
	for name, tc := range cases {
		_, _, err := s.UpdateStatus(ctx, tc.org, mustID(t, tc.id), audit.StatusChange{To: audit.StatusProcessing, At: tc.at, By: "svc"})
		if !tc.check(err) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if got, _ := s.Get(ctx, "org-a", mustID(t, rec.RecordID)); !reflect.DeepEqual(got, rec) {
		t.Errorf("refused moves changed the record")
	}
}

func TestUpdateStatus_WritesCountAndReason(t *testing.T) {
	t.Parallel()
	_, s, rec := oneRecord(t)
	count, reason := int64(12), "Bufdir rejected the file"
	got, _, err := s.UpdateStatus(ctx, "org-a", mustID(t, rec.RecordID), audit.StatusChange{
		To: audit.StatusFailed, At: rec.CreatedAt.Add(time.Minute), By: "svc", ActivityCount: &count, FailureReason: &reason,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.ActivityCount == nil || *got.ActivityCount != 12 || got.FailureReason == nil || *got.FailureReason != reason {
		t.Errorf("failed record: activity_count %v failure_reason %v", got.ActivityCount, got.FailureReason)
	}
	if len(got.History) != 2 || got.History[1].Status != audit.StatusFailed || !got.History[1].At.Equal(rec.CreatedAt.Add(time.Minute)) {
		t.Errorf("history %+v, want creation then failed at the given time", got.History)
	}
}

func TestUpdateStatus_ConcurrentFinalMovesOneWins(t *testing.T) {
	t.Parallel()
	s := newEnv(t).Store()
	for i := 0; i < 10; i++ {
		rec := mustCreate(t, s, newRecord("org-a", "exp-"+strconv.Itoa(i)))
		id := mustID(t, rec.RecordID)
		var wg sync.WaitGroup
		results := make([]error, 2)
		for j, to := range []audit.Status{audit.StatusCompleted, audit.StatusFailed} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, results[j] = s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: to, At: rec.CreatedAt, By: "svc"})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range results {
			if err == nil {
				wins++
			}
		}
		got, _ := s.Get(ctx, "org-a", id)
		if wins != 1 || len(got.History) != 2 || !got.History[0].Status.CanMoveTo(got.History[1].Status) {
			t.Errorf("record %s: %d winners, history %+v; want one winner and a legal history", rec.RecordID, wins, got.History)
		}
	}
}

func TestAttachFileURL_Rules(t *testing.T) {
	t.Parallel()
	e, s, rec := oneRecord(t)
	id := mustID(t, rec.RecordID)
	const url = "https://storage.example.no/exports/exp-1.pdf"
	e.calls.Take()
	got, changed, err := s.AttachFileURL(ctx, "org-a", id, url, "usr-0042")
	if err != nil || !changed || got.FileURL == nil || *got.FileURL != url {
		t.Fatalf("attach: %+v changed=%v err=%v", got.FileURL, changed, err)
	}
	if n := e.calls.Take(); !reflect.DeepEqual(n, map[string]int{"UpdateItem": 1}) {
		t.Errorf("attach made calls %v, want one UpdateItem", n)
	}
	again, changed, err := s.AttachFileURL(ctx, "org-a", id, url, "usr-0042")
	if err != nil || changed || !reflect.DeepEqual(again, got) {
		t.Errorf("same URL again: changed=%v err=%v, want a no-op", changed, err)
	}
	var ce *audit.ConflictError
	if _, _, err := s.AttachFileURL(ctx, "org-a", id, url+"x", "usr-0042"); !errors.As(err, &ce) || ce.Code != audit.CodeFileURLAlreadySet {
		t.Errorf("different URL: got %v, want file_url_already_set", err)
	}
	failed := recordIn(t, s, "org-a", "exp-2", audit.StatusFailed)
	if _, _, err := s.AttachFileURL(ctx, "org-a", mustID(t, failed.RecordID), url, "usr-0042"); !errors.As(err, &ce) || ce.Code != audit.CodeRecordFailed {
		t.Errorf("failed record: got %v, want record_failed", err)
	}
	if _, _, err := s.AttachFileURL(ctx, "org-b", id, url, "usr-0042"); !errors.Is(err, audit.ErrNotFound) {
		t.Errorf("other organisation: got %v, want ErrNotFound", err)
	}
}

func TestDelete_TombstonesAndFreesExportID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	s := e.Store(store.WithClock(fixedClock(now)))
	rec := mustCreate(t, s, newRecord("org-a", "exp-1"))
	id := mustID(t, rec.RecordID)
	e.calls.Take()
	if err := s.Delete(ctx, "org-a", id, "usr-admin"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if n := e.calls.Take(); !reflect.DeepEqual(n, map[string]int{"GetItem": 1, "TransactWriteItems": 1}) {
		t.Errorf("delete made calls %v, want one GetItem and one TransactWriteItems", n)
	}
	if _, err := s.Get(ctx, "org-a", id); !errors.Is(err, audit.ErrNotFound) {
		t.Errorf("get after delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "org-a", id, "usr-admin"); !errors.Is(err, audit.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	raw, err := e.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "ORG#org-a"}, "sk": &types.AttributeValueMemberS{Value: "REC#20260301#000000001"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	wantExpiry := strconv.FormatInt(now.Add(365*24*time.Hour).Unix(), 10)
	if attrS(raw.Item, "deleted_by") != "usr-admin" || attrS(raw.Item, "deleted_at") != "2026-03-01T08:00:00Z" || attrN(raw.Item, "expires_at") != wantExpiry {
		t.Errorf("tombstone: deleted_by %q deleted_at %q expires_at %q; want usr-admin, 2026-03-01T08:00:00Z, %s",
			attrS(raw.Item, "deleted_by"), attrS(raw.Item, "deleted_at"), attrN(raw.Item, "expires_at"), wantExpiry)
	}
	again := mustCreate(t, s, newRecord("org-a", "exp-1"))
	if again.RecordID == rec.RecordID {
		t.Errorf("re-created export got the deleted record's id %s", again.RecordID)
	}
	if p := mustList(t, s, audit.ListFilter{OrgID: "org-a", Page: 1, Limit: 20}); p.Total != 1 || p.Records[0].RecordID != again.RecordID {
		t.Errorf("list after delete and re-create: %+v", p)
	}
}

func TestUpdateStatus_RefusesChangeDatedBeforeLastOne(t *testing.T) {
	t.Parallel()
	_, s, rec := oneRecord(t)
	id := mustID(t, rec.RecordID)
	moved, _, err := s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: audit.StatusProcessing, At: rec.CreatedAt.Add(3 * time.Minute), By: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: audit.StatusCompleted, At: rec.CreatedAt.Add(time.Minute), By: "svc"})
	var ve *audit.ValidationError
	if !errors.As(err, &ve) || ve.Errors[0].Field != "updated_at" {
		t.Fatalf("a change dated before the last one: got %v, want a validation error on updated_at", err)
	}
	if got, _ := s.Get(ctx, "org-a", id); !reflect.DeepEqual(got, moved) {
		t.Errorf("the refused change altered the record: %+v", got.History)
	}
	same, _, err := s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: audit.StatusCompleted, At: rec.CreatedAt.Add(3 * time.Minute), By: "svc"})
	if err != nil || len(same.History) != 3 {
		t.Errorf("a change at the same second as the last one: %v, history %+v", err, same.History)
	}
}
