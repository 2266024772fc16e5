package verify_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/verify"
	"github.com/bufdir/export-audit/pkg/image"
)

// BenchmarkVerify_100kChanges checks an archive of 100,000 changes: 20,000 records, each
// created with its guard, moved to processing and to completed and given a file, in batches
// of 100 (Lambda's default) over 100 hourly periods, sealed with a local key, against a table
// in the real engine holding what they left (40,000 items). Only Run is timed.
func BenchmarkVerify_100kChanges(b *testing.B) {
	const records = 20_000
	f := newFixture(b)
	hourly, _ := archive.NewPeriods(time.Hour)
	w := archive.NewWriter(f.dir, hourly, f.clock.Now, quiet)
	var batch []events.DynamoDBEventRecord
	seq := 0
	final := map[string]verify.Image{}
	emit := func(name string, keys, old, now verify.Image) {
		seq++
		r := events.DynamoDBEventRecord{
			AWSRegion: region, EventName: name, EventSource: "aws:dynamodb", EventVersion: "1.1",
			EventID: fmt.Sprintf("%032x", seq), EventSourceArn: "arn:aws:dynamodb:eu-north-1:000000000000:table/audit/stream/2026-03-26T14:00:00.000",
			Change: events.DynamoDBStreamRecord{
				ApproximateCreationDateTime: events.SecondsEpochTime{Time: f.clock.Now()},
				Keys:                        keys, OldImage: old, NewImage: now,
				SequenceNumber: fmt.Sprintf("1%020d", seq), SizeBytes: 1000, StreamViewType: "NEW_AND_OLD_IMAGES",
			},
		}
		batch = append(batch, r)
		final[keys["sk"].String()] = now
		if len(batch) == 100 {
			if resp, err := w.Handle(ctx, events.DynamoDBEvent{Records: batch}); err != nil || len(resp.BatchItemFailures) > 0 {
				b.Fatalf("write: %v %v", resp, err)
			}
			batch = nil
			// 1,000 objects over 100 hours.
			if seq%1000 == 0 {
				f.clock.Set(f.clock.Now().Add(time.Hour))
			}
		}
	}
	str := events.NewStringAttribute
	for i := range records {
		id := fmt.Sprintf("rec-20260326-%d", i+1)
		exp := fmt.Sprintf("exp-20260326-%06d", i+1)
		keys := verify.Image{"pk": str("ORG#org-bufdir-042"), "sk": str(fmt.Sprintf("REC#20260326#%09d", i+1))}
		at := f.clock.Now().Format(time.RFC3339)
		entry := func(status string) events.DynamoDBAttributeValue {
			return events.NewMapAttribute(verify.Image{"status": str(status), "at": str(at), "by": str("usr-0042")})
		}
		rec := verify.Image{
			"pk": keys["pk"], "sk": keys["sk"], "record_id": str(id), "export_id": str(exp), "org_id": str("org-bufdir-042"),
			"triggered_by_user_id": str("usr-0099"), "status": str("queued"), "format": str("pdf"),
			"period_from": str("2025-01-01"), "period_to": str("2025-12-31"), "created_at": str(at), "updated_at": str(at),
			"status_at": str(at), "history": events.NewListAttribute([]events.DynamoDBAttributeValue{entry("queued")}),
		}
		guardKeys := verify.Image{"pk": keys["pk"], "sk": str("EXP#" + exp)}
		emit("INSERT", keys, nil, rec)
		emit("INSERT", guardKeys, nil, verify.Image{"pk": keys["pk"], "sk": guardKeys["sk"], "record_id": str(id)})
		prev := rec
		for _, st := range []string{"processing", "completed"} {
			next := clone(prev)
			next["status"] = str(st)
			next["history"] = events.NewListAttribute(append(append([]events.DynamoDBAttributeValue(nil), prev["history"].List()...), entry(st)))
			emit("MODIFY", keys, prev, next)
			prev = next
		}
		next := clone(prev)
		next["file_url"] = str("https://storage.example.no/exports/" + exp + ".pdf")
		emit("MODIFY", keys, prev, next)
	}
	f.clock.Set(f.clock.Now().Add(2 * time.Hour))
	sealer := archive.NewSealer(archive.SealerOptions{Bucket: f.dir, Signer: f.key, Periods: hourly, Grace: time.Minute, Now: f.clock.Now, Log: quiet})
	if _, err := sealer.Seal(ctx); err != nil {
		b.Fatal(err)
	}
	var puts []types.WriteRequest
	flush := func() {
		if len(puts) == 0 {
			return
		}
		if _, err := f.direct.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{tbl: puts}}); err != nil {
			b.Fatal(err)
		}
		puts = nil
	}
	for _, img := range final {
		puts = append(puts, types.WriteRequest{PutRequest: &types.PutRequest{Item: sdk(b, img)}})
		if len(puts) == 25 {
			flush()
		}
	}
	flush()
	o := f.options()
	o.Periods, o.Grace = hourly, time.Minute
	b.ResetTimer()
	for b.Loop() {
		rep, err := verify.Run(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Problems) != 0 || rep.Changes != 5*records || rep.Items != 2*records {
			b.Fatalf("%d changes, %d items:\n%s", rep.Changes, rep.Items, testkit.Report(rep))
		}
	}
	b.ReportMetric(float64(5*records), "changes/op")
}

func clone(img verify.Image) verify.Image {
	out := make(verify.Image, len(img))
	for k, v := range img {
		out[k] = v
	}
	return out
}

func sdk(b *testing.B, img verify.Image) map[string]types.AttributeValue {
	av, err := image.ToSDK(img)
	if err != nil {
		b.Fatal(err)
	}
	return av
}
