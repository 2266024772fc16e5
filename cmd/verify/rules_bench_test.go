package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/verify"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/image"
	"github.com/bufdir/export-audit/pkg/item"
)

// BenchmarkRules_PerChange is what the service's rules add to the check of one change: the
// changes of a trail the API made (creates, moves, a file, deletes, the TTL's removal), each
// judged by every change rule, and the items they left by every rule across items once.
func BenchmarkRules_PerChange(b *testing.B) {
	tr := lived(b)
	tr.Wait(b)
	rules := serviceRules()
	var changes []verify.Change
	for _, r := range tr.Layer.Records(tbl) {
		changes = append(changes, verify.Change{EventName: r.EventName, Keys: r.Change.Keys, Old: r.Change.OldImage,
			New: r.Change.NewImage, Identity: r.UserIdentity})
	}
	if len(changes) == 0 {
		b.Fatal("the trail left no changes")
	}
	b.ResetTimer()
	for b.Loop() {
		for _, c := range changes {
			for _, rule := range rules.Change {
				if err := rule(c); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(changes)), "ns/change")
}

// BenchmarkVerify_100kChangesWithTheServiceRules checks, as make verify does with the
// service's rules, an archive of 100,002 changes: 14,286 records of 20 organisations, each
// created (its day's counter, the record, its guard, its organisation's live count), moved to
// processing and to completed and given a file, each image as the store writes it, in batches
// of 100 (Lambda's default) over 100 hourly periods, sealed with a local key, against a table
// in the real engine holding what they left. Only the check is timed.
func BenchmarkVerify_100kChangesWithTheServiceRules(b *testing.B) {
	const records, orgs = 14_286, 20
	dir := archive.NewDir(b.TempDir())
	key, err := archive.LoadOrCreateKey(filepath.Join(b.TempDir(), "key.pem"))
	if err != nil {
		b.Fatal(err)
	}
	clock := testkit.NewClock(day0)
	hourly, _ := archive.NewPeriods(time.Hour)
	w := archive.NewWriter(dir, hourly, clock.Now, quiet)
	final := map[string]map[string]types.AttributeValue{}
	var batch []events.DynamoDBEventRecord
	emit := func(name string, keys map[string]types.AttributeValue, old, now any) {
		r := events.DynamoDBEventRecord{EventName: name, EventSource: "aws:dynamodb", EventVersion: "1.1", AWSRegion: testkit.Region}
		r.Change.Keys = image.FromSDK(keys)
		r.Change.OldImage, r.Change.NewImage = encode(b, old), encode(b, now)
		r.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: clock.Now()}
		batch = append(batch, r)
		k, _ := keys[item.AttrPK].(*types.AttributeValueMemberS)
		l, _ := keys[item.AttrSK].(*types.AttributeValueMemberS)
		final[k.Value+"|"+l.Value], _ = item.Encode(now)
	}
	seq := 0
	flush := func() {
		for i := range batch {
			seq++
			batch[i].Change.SequenceNumber = fmt.Sprintf("1%020d", seq)
			batch[i].EventID = fmt.Sprintf("%032x", seq)
		}
		if resp, err := w.Handle(ctx, events.DynamoDBEvent{Records: batch}); err != nil || len(resp.BatchItemFailures) > 0 {
			b.Fatalf("write: %v %v", resp, err)
		}
		batch = nil
	}
	var last *counter
	live := map[string]*stats{}
	for i := range records {
		if i > 0 && i%(records/100+1) == 0 {
			clock.Set(clock.Now().Add(time.Hour))
		}
		org := fmt.Sprintf("org-%02d", i%orgs)
		at := day0.Add(time.Duration(i) * time.Second)
		n := newRecord(org, fmt.Sprintf("exp-%06d", i))
		id := audit.NewRecordID(at, int64(i+1))

		c := &counter{PK: item.CounterPK(id.DayKey()), SK: item.CounterSK, Counter: item.Counter{Seq: id.Seq, LastAt: item.FormatTime(at)}}
		emitChange(emit, item.CounterKey(id.DayKey()), last, c)
		last = c
		rec := item.NewRecord(n.Build(id, at), id)
		emit("INSERT", item.RecordKey(org, id), nil, rec)
		emit("INSERT", item.GuardKey(org, n.ExportID), nil, item.NewGuard(n, id.String()))
		st := &stats{PK: item.OrgPK(org), SK: item.StatsSK, Stats: item.Stats{Live: 1}}
		if old := live[org]; old != nil {
			st.Live = old.Live + 1
		}
		emitChange(emit, item.StatsKey(org), live[org], st)
		live[org] = st

		for k, to := range []audit.Status{audit.StatusProcessing, audit.StatusCompleted} {
			next := rec
			next.Status, next.Version, next.ChangedBy = string(to), rec.Version+1, "usr-svc"
			next.UpdatedAt = item.FormatTime(at.Add(time.Duration(k+1) * time.Minute))
			next.StatusAt = next.UpdatedAt
			next.History = append(append([]item.History(nil), rec.History...), item.History{Status: string(to), At: next.UpdatedAt, By: "usr-svc"})
			emit("MODIFY", item.RecordKey(org, id), rec, next)
			rec = next
		}
		next := rec
		url := "https://storage.example.no/exports/" + n.ExportID + ".pdf"
		next.FileURL, next.Version, next.UpdatedAt = &url, rec.Version+1, item.FormatTime(at.Add(3*time.Minute))
		emit("MODIFY", item.RecordKey(org, id), rec, next)
		if len(batch) >= 100 {
			flush()
		}
	}
	flush()
	clock.Set(clock.Now().Add(2 * time.Hour))
	sealer := archive.NewSealer(archive.SealerOptions{Bucket: dir, Signer: key, Periods: hourly, Grace: time.Minute, Now: clock.Now, Log: quiet})
	if _, err := sealer.Seal(ctx); err != nil {
		b.Fatal(err)
	}
	db := testkit.NewDB(b, testkit.EngineOptions{})
	var puts []types.WriteRequest
	for _, av := range final {
		puts = append(puts, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		if len(puts) == 25 { // BatchWriteItem's most
			put(b, db, puts)
			puts = nil
		}
	}
	put(b, db, puts)
	o := verify.Options{Bucket: dir, Key: key.Public(), DB: db.Client, Table: db.Table, Periods: hourly, Grace: time.Minute,
		Rules: serviceRules(), Now: clock.Now}
	b.ResetTimer()
	for b.Loop() {
		rep, err := verify.Run(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Problems) != 0 || rep.Changes != 7*records || rep.Unsealed != 0 {
			b.Fatalf("%d changes, %d unsealed:\n%s", rep.Changes, rep.Unsealed, testkit.Report(rep))
		}
	}
	b.ReportMetric(7*records, "changes/op")
}

func put(b *testing.B, db *testkit.DB, puts []types.WriteRequest) {
	if len(puts) == 0 {
		return
	}
	if _, err := db.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{db.Table: puts}}); err != nil {
		b.Fatal(err)
	}
}

// emitChange emits an INSERT of now, or a MODIFY from old.
func emitChange[T any](emit func(string, map[string]types.AttributeValue, any, any), keys map[string]types.AttributeValue, old, now *T) {
	if old == nil {
		emit("INSERT", keys, nil, now)
		return
	}
	emit("MODIFY", keys, old, now)
}

// encode is an item struct as a stream image; nil for none.
func encode(b *testing.B, v any) verify.Image {
	if v == nil {
		return nil
	}
	av, err := item.Encode(v)
	if err != nil {
		b.Fatal(err)
	}
	return image.FromSDK(av)
}
