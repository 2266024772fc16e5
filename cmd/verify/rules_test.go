package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/verify"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/item"
)

// lived is a trail whose archive holds every change the API makes, unsealed: records of two
// organisations created, moved through every status, given a file, replayed and changed to
// what they are (no-ops), deleted, one tombstone removed by the TTL, and its export_id taken
// again. It ends with a replay, so the day's last sequence number (8) was spent on no record.
//
// o1: rec-20260326-001 completed with a file, 002 failed, 003 deleted and removed by the TTL,
// 004 deleted, 007 on 003's export_id; o2: 005. The day's counter is at 8, last at 13:00:00.
func lived(t testing.TB) *trail {
	t.Helper()
	tr := newTrail(t, archive.NewDir(t.TempDir()), 0)
	a := tr.create(t, newRecord("o1", "exp-a"))
	b := newRecord("o1", "exp-b")
	b.Status = audit.StatusProcessing
	bid := tr.create(t, b)
	c := tr.create(t, newRecord("o1", "exp-c"))
	d := tr.create(t, newRecord("o1", "exp-d"))
	tr.create(t, newRecord("o2", "exp-e"))

	tr.Clock.Set(day0.Add(time.Minute))
	tr.move(t, "o1", a, audit.StatusChange{To: audit.StatusProcessing})
	reason := "the source timed out"
	tr.move(t, "o1", bid, audit.StatusChange{To: audit.StatusFailed, FailureReason: &reason})
	tr.Clock.Set(day0.Add(2 * time.Minute))
	count := int64(312)
	tr.move(t, "o1", a, audit.StatusChange{To: audit.StatusCompleted, ActivityCount: &count})
	tr.move(t, "o1", a, audit.StatusChange{To: audit.StatusCompleted, ActivityCount: &count}) // a no-op
	tr.Clock.Set(day0.Add(3 * time.Minute))
	for range 2 { // the second is a no-op
		if _, _, err := tr.Store.AttachFileURL(ctx, "o1", a, "https://files.example.no/exp-a.pdf", "usr-0042"); err != nil {
			t.Fatal(err)
		}
	}
	tr.create(t, newRecord("o1", "exp-a")) // a replay, which spends number 6
	tr.Clock.Set(day0.Add(4 * time.Minute))
	if err := tr.Store.Delete(ctx, "o1", c, "usr-0042"); err != nil {
		t.Fatal(err)
	}
	if n, err := tr.Layer.Expire(ctx, tbl, item.AttrExpiresAt, day0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("the TTL removed %d items: %v", n, err)
	}
	tr.Clock.Set(day0.Add(3 * time.Hour))
	if err := tr.Store.Delete(ctx, "o1", d, "usr-0042"); err != nil {
		t.Fatal(err)
	}
	tr.create(t, newRecord("o1", "exp-c"))
	tr.create(t, newRecord("o1", "exp-c")) // a replay, which spends number 8
	return tr
}

// check runs the check with the service's rules, once the archive has caught up.
func (tr *trail) check(t *testing.T) *verify.Report {
	t.Helper()
	tr.Wait(t)
	key, err := archive.LoadOrCreateKey(filepath.Join(t.TempDir(), "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Run(ctx, verify.Options{
		Bucket: tr.bucket, Key: key.Public(), DB: tr.DB, Table: tbl, Periods: tr.periods, Grace: time.Minute,
		Rules: serviceRules(),
	})
	if err != nil {
		t.Fatalf("could not check: %v", err)
	}
	return rep
}

func TestRules_EveryChangeTheAPIMakesPasses(t *testing.T) {
	t.Parallel()
	tr := lived(t)
	rep := tr.check(t)
	testkit.NoProblems(t, "a trail the API made", rep)
	// 7 creates of 3 or 4 items (the day's counter and each organisation's count made once),
	// 4 moves, a file, 2 replays' counter, 2 deletes of 3 items each, the TTL's removal.
	if rep.Changes != 7*3+2+4+1+2+2*3+1 {
		t.Errorf("%d changes archived, want 37:\n%s", rep.Changes, testkit.Report(rep))
	}
}

// The items a tamper writes, as the store writes them.
var (
	recA       = item.Key("ORG#o1", "REC#20260326#000000001")
	guardA     = item.Key("ORG#o1", "EXP#exp-a")
	statsO1    = item.StatsKey("o1")
	dayCounter = item.CounterKey("20260326")
)

// record is the item of a record of o1 as a create writes it, with sequence seq, created at.
func record(t *testing.T, seq int64, export string, at time.Time) map[string]types.AttributeValue {
	t.Helper()
	id := audit.NewRecordID(at, seq)
	av, err := item.Encode(item.NewRecord(newRecord("o1", export).Build(id, at), id))
	if err != nil {
		t.Fatal(err)
	}
	return av
}

// guard is the guard a create of export in o1 writes for the record id.
func guard(t *testing.T, n audit.NewRecord, id string) map[string]types.AttributeValue {
	t.Helper()
	av, err := item.Encode(item.NewGuard(n, id))
	if err != nil {
		t.Fatal(err)
	}
	return av
}

func TestRules_TamperMatrix(t *testing.T) {
	t.Parallel()
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	type want struct{ subject, what string }
	cases := map[string]struct {
		tamper func(t *testing.T, tr *trail)
		want   []want
	}{
		"a record's export_id changed": {
			func(t *testing.T, tr *trail) {
				tr.update(t, recA, "SET export_id = :x, version = version + :one", map[string]types.AttributeValue{":x": s("exp-z"), ":one": n("1")})
			},
			[]want{
				{"rec-20260326-001", "changed export_id"},
				{"rec-20260326-001", "a live record without the guard of its export_id exp-z"},
			},
		},
		"an earlier history entry rewritten": {
			func(t *testing.T, tr *trail) {
				tr.update(t, recA, "SET history[0].#by = :by", map[string]types.AttributeValue{":by": s("usr-6666")})
			},
			[]want{{"rec-20260326-001", "history"}},
		},
		"a status moved backwards": {
			func(t *testing.T, tr *trail) {
				tr.update(t, recA, "SET #st = :q, history = list_append(history, :h), version = version + :one, updated_at = :at, status_at = :at",
					map[string]types.AttributeValue{":q": s("queued"), ":one": n("1"), ":at": s("2026-03-26T13:30:00Z"),
						":h": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
							"status": s("queued"), "at": s("2026-03-26T13:30:00Z"), "by": s("usr-0042")}}}}})
			},
			[]want{{"rec-20260326-001", "a status move from completed"}},
		},
		"a record removed": {
			func(t *testing.T, tr *trail) { tr.remove(t, recA) },
			[]want{
				{"rec-20260326-001", "a record removed, not by the TTL"},
				{"rec-20260326-001 (guard of export_id exp-a)", "a guard of a record the table does not hold"},
				{"live count of org o1", "is 3, but the organisation has 2 live records (rec-20260326-002, rec-20260326-007)"},
			},
		},
		"a record added at a number its counter never reached": {
			func(t *testing.T, tr *trail) { tr.put(t, record(t, 999, "exp-new", day0)) },
			[]want{
				{"rec-20260326-999", "sequence number 999 is beyond its day's counter, at 8"},
				{"rec-20260326-999", "a live record without the guard of its export_id exp-new"},
				{"live count of org o1", "is 3, but the organisation has 4 live records"},
			},
		},
		"a record added at a spent number, later than its counter's last": {
			func(t *testing.T, tr *trail) { tr.put(t, record(t, 8, "exp-new", day0.Add(4*time.Hour))) },
			[]want{{"rec-20260326-008", "created_at 2026-03-26T14:00:00Z is after the latest its day's counter handed out, 2026-03-26T13:00:00Z"}},
		},
		"a guard changed": {
			func(t *testing.T, tr *trail) {
				tr.update(t, guardA, "SET #st = :p", map[string]types.AttributeValue{":p": s("processing")})
			},
			[]want{{"rec-20260326-001 (guard of export_id exp-a)", "a guard changed in status"}},
		},
		"a guard removed": {
			func(t *testing.T, tr *trail) { tr.remove(t, guardA) },
			[]want{{"rec-20260326-001", "a live record without the guard of its export_id exp-a"}},
		},
		"a guard of another create put in its place": {
			func(t *testing.T, tr *trail) {
				tr.remove(t, guardA)
				other := newRecord("o1", "exp-a")
				other.TriggeredBy = "usr-6666"
				tr.put(t, guard(t, other, "rec-20260326-001"))
			},
			[]want{{"rec-20260326-001 (guard of export_id exp-a)", "a guard that holds another create than its record's"}},
		},
		"a guard added for a deleted record": {
			func(t *testing.T, tr *trail) { tr.put(t, guard(t, newRecord("o1", "exp-d"), "rec-20260326-004")) },
			[]want{{"rec-20260326-004 (guard of export_id exp-d)", "a guard of a deleted record"}},
		},
		"a guard added for no record": {
			func(t *testing.T, tr *trail) { tr.put(t, guard(t, newRecord("o1", "exp-x"), "rec-20260326-777")) },
			[]want{{"rec-20260326-777 (guard of export_id exp-x)", "a guard of a record the table does not hold"}},
		},
		"a guard added as the service writes none": {
			func(t *testing.T, tr *trail) {
				g := guard(t, newRecord("o1", "exp-x"), "rec-20260326-002")
				g["note"] = s("mine")
				tr.put(t, g)
			},
			[]want{{"rec-20260326-002 (guard of export_id exp-x)", "the new image is no guard the service writes: it has note otherwise"}},
		},
		"a live count set": {
			func(t *testing.T, tr *trail) {
				tr.update(t, statsO1, "SET live = :n", map[string]types.AttributeValue{":n": n("7")})
			},
			[]want{
				{"live count of org o1", "a live count changed from 3 to 7"},
				{"live count of org o1", "is 7, but the organisation has 3 live records"},
			},
		},
		"a live count moved as a create moves it, with no create": {
			func(t *testing.T, tr *trail) {
				tr.update(t, statsO1, "ADD live :n", map[string]types.AttributeValue{":n": n("1")})
			},
			[]want{{"live count of org o1", "is 4, but the organisation has 3 live records"}},
		},
		"a live count removed": {
			func(t *testing.T, tr *trail) { tr.remove(t, statsO1) },
			[]want{
				{"live count of org o1", "a live count removed, which the service never does"},
				{"live count of org o1", "is 0, but the organisation has 3 live records"},
			},
		},
		"a live count made for an organisation without records": {
			func(t *testing.T, tr *trail) {
				st := item.StatsKey("o9")
				st["live"] = n("5")
				tr.put(t, st)
			},
			[]want{
				{"live count of org o9", "a live count created at 5"},
				{"live count of org o9", "is 5, but the organisation has 0 live records"},
			},
		},
		"a counter moved back": {
			func(t *testing.T, tr *trail) {
				tr.update(t, dayCounter, "SET seq = :n", map[string]types.AttributeValue{":n": n("1")})
			},
			[]want{
				{"sequence counter of 20260326", "a counter moved from sequence 8 to 1"},
				{"rec-20260326-007", "sequence number 7 is beyond its day's counter, at 1"},
			},
		},
		"a counter's last_at moved back": {
			func(t *testing.T, tr *trail) {
				tr.update(t, dayCounter, "SET last_at = :at ADD seq :one", map[string]types.AttributeValue{":at": s("2026-03-26T11:00:00Z"), ":one": n("1")})
			},
			[]want{
				{"sequence counter of 20260326", "last_at moved back from 2026-03-26T13:00:00Z to 2026-03-26T11:00:00Z"},
				{"rec-20260326-007", "created_at 2026-03-26T13:00:00Z is after the latest its day's counter handed out"},
			},
		},
		"a counter removed": {
			func(t *testing.T, tr *trail) { tr.remove(t, dayCounter) },
			[]want{
				{"sequence counter of 20260326", "a counter removed, which the service never does"},
				{"rec-20260326-001", "no counter of 20260326 handed out its sequence number"},
			},
		},
		"a counter made off its day": {
			func(t *testing.T, tr *trail) {
				c := item.CounterKey("20260101")
				c["seq"], c["last_at"] = n("1"), s("2026-03-26T10:00:00Z")
				tr.put(t, c)
			},
			[]want{{"sequence counter of 20260101", "a counter's last_at 2026-03-26T10:00:00Z is not on its day"}},
		},
		"an item of no kind": {
			func(t *testing.T, tr *trail) { tr.put(t, item.Key("NOTE#1", "x")) },
			[]want{{"pk=NOTE#1 sk=x", "an item of no kind the service writes, insert"}},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := lived(t)
			c.tamper(t, tr)
			rep := tr.check(t)
			for _, w := range c.want {
				if !has(rep, w.subject, w.what) {
					t.Errorf("no problem %q about %s in:\n%s", w.what, w.subject, testkit.Report(rep))
				}
			}
		})
	}
}

// has says whether the report has a problem about subject whose text holds what.
func has(rep *verify.Report, subject, what string) bool {
	for _, p := range rep.Problems {
		if p.Subject == subject && strings.Contains(p.What, what) {
			return true
		}
	}
	return false
}

// update, put and remove write to the table through its stream, as anyone with the table's
// permissions can: the archive shows each change.
// update's expr may name status as #st and by as #by, which are reserved words.
func (tr *trail) update(t *testing.T, key map[string]types.AttributeValue, expr string, values map[string]types.AttributeValue) {
	t.Helper()
	in := &dynamodb.UpdateItemInput{TableName: aws.String(tbl), Key: key, UpdateExpression: aws.String(expr), ExpressionAttributeValues: values}
	for ph, name := range map[string]string{"#st": "status", "#by": "by"} {
		if strings.Contains(expr, ph) {
			if in.ExpressionAttributeNames == nil {
				in.ExpressionAttributeNames = map[string]string{}
			}
			in.ExpressionAttributeNames[ph] = name
		}
	}
	if _, err := tr.DB.UpdateItem(ctx, in); err != nil {
		t.Fatalf("update %v (%s): %v", key, expr, err)
	}
}

func (tr *trail) put(t *testing.T, av map[string]types.AttributeValue) {
	t.Helper()
	if _, err := tr.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl), Item: av}); err != nil {
		t.Fatalf("put %v: %v", av, err)
	}
}

func (tr *trail) remove(t *testing.T, key map[string]types.AttributeValue) {
	t.Helper()
	if _, err := tr.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tbl), Key: key}); err != nil {
		t.Fatalf("delete %v: %v", key, err)
	}
}
