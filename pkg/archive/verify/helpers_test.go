package verify_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/verify"
	"github.com/bufdir/export-audit/pkg/stream"
)

var ctx = context.Background()

const (
	tbl    = "audit"
	region = "eu-north-1"
	grace  = 10 * time.Second
)

var (
	t0    = time.Date(2026, 3, 26, 14, 0, 0, 0, time.UTC)
	quiet = slog.New(slog.DiscardHandler)
)

func minute(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// fixture is the real engine behind the stream layer, the archive writer subscribed to the
// stream as the archive-changes function is, a sealer, and one clock for both. db writes
// through the stream, as the API and anyone on the engine's port do; direct writes to the
// engine behind the stream's back, as nothing should be able to.
type fixture struct {
	*testkit.Streamed
	db      *dynamodb.Client
	direct  *dynamodb.Client
	dir     *archive.Dir
	key     *archive.LocalKey
	clock   *testkit.Clock
	periods archive.Periods
	writer  *archive.Writer
	sealer  *archive.Sealer
	hold    sync.Mutex // held: the archive function does not run
}

// client is a client of the engine at url that tries each call once.
func client(url string) *dynamodb.Client {
	return testkit.RawClient(url, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{Streamed: testkit.StreamEngine(t, stream.Options{KeepAll: true}), dir: archive.NewDir(t.TempDir()), clock: testkit.NewClock(t0)}
	var err error
	if f.periods, err = archive.NewPeriods(time.Minute); err != nil {
		t.Fatal(err)
	}
	if f.key, err = archive.LoadOrCreateKey(t.TempDir() + "/archive-key.pem"); err != nil {
		t.Fatal(err)
	}
	f.db, f.direct = client(f.URL), client(f.Behind)
	testkit.CreateTable(t, f.db, tbl)
	f.writer = archive.NewWriter(f.dir, f.periods, f.clock.Now, quiet)
	f.sealer = archive.NewSealer(archive.SealerOptions{Bucket: f.dir, Signer: f.key, Periods: f.periods, Grace: grace, Now: f.clock.Now, Log: quiet})
	_, err = f.Layer.Subscribe(stream.Subscriber{
		Name: "archive-changes", Table: tbl, BatchSize: 2, ReportBatchItemFailures: true, MaximumRetryAttempts: -1,
		RetryBackoff: time.Millisecond,
		Handler: func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			f.hold.Lock()
			defer f.hold.Unlock()
			return f.writer.Handle(ctx, ev)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// at moves the clock once the archive function has caught up with every write so far.
func (f *fixture) at(t testing.TB, when time.Time) {
	t.Helper()
	f.Wait(t)
	f.clock.Set(when)
}

func (f *fixture) seal(t testing.TB, when time.Time) {
	t.Helper()
	f.at(t, when)
	if _, err := f.sealer.Seal(ctx); err != nil {
		t.Fatalf("seal: %v", err)
	}
}

func (f *fixture) options() verify.Options {
	return verify.Options{
		Bucket: f.dir, Key: f.key.Public(), DB: f.db, Table: tbl, Periods: f.periods, Grace: grace,
		Rules: exampleRules(), Now: f.clock.Now,
	}
}

func (f *fixture) verify(t testing.TB) *verify.Report {
	t.Helper()
	f.Wait(t)
	rep, err := verify.Run(ctx, f.options())
	if err != nil {
		t.Fatalf("verify could not check: %v", err)
	}
	return rep
}

// The items of the service, as far as these tests need them: a record and its export_id
// guard, under one organisation.
func recordKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s("ORG#o1"), "sk": s("REC#" + id)}
}

func guardKey(exp string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s("ORG#o1"), "sk": s("EXP#" + exp)}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue  { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }

func entry(status string, at time.Time) types.AttributeValue {
	return &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"status": s(status), "at": s(at.Format(time.RFC3339))}}
}

func (f *fixture) create(t testing.TB, db *dynamodb.Client, id string) {
	t.Helper()
	exp := "exp-" + id
	rec := recordKey(id)
	rec["record_id"], rec["export_id"], rec["status"] = s(id), s(exp), s("queued")
	rec["history"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{entry("queued", f.clock.Now())}}
	guard := guardKey(exp)
	guard["record_id"] = s(id)
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(tbl), Item: rec, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: aws.String(tbl), Item: guard, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	if err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
}

func (f *fixture) update(t testing.TB, db *dynamodb.Client, id, expr string, values map[string]types.AttributeValue) {
	t.Helper()
	in := &dynamodb.UpdateItemInput{TableName: aws.String(tbl), Key: recordKey(id), UpdateExpression: aws.String(expr)}
	if len(values) > 0 {
		in.ExpressionAttributeValues = values
	}
	if _, err := db.UpdateItem(ctx, in); err != nil {
		t.Fatalf("update %s (%s): %v", id, expr, err)
	}
}

func (f *fixture) move(t testing.TB, db *dynamodb.Client, id, status string) {
	t.Helper()
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(tbl), Key: recordKey(id),
		UpdateExpression:         aws.String("SET #s = :s, history = list_append(history, :e)"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": s(status), ":e": &types.AttributeValueMemberL{Value: []types.AttributeValue{entry(status, f.clock.Now())}},
		},
	})
	if err != nil {
		t.Fatalf("move %s to %s: %v", id, status, err)
	}
}

// tombstone deletes a record as the API does: the record stays, marked, until the TTL, and
// its guard goes.
func (f *fixture) tombstone(t testing.TB, id string, expires time.Time) {
	t.Helper()
	_, err := f.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{TableName: aws.String(tbl), Key: recordKey(id),
			UpdateExpression:          aws.String("SET deleted_at = :d, expires_at = :x"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":d": s(f.clock.Now().Format(time.RFC3339)), ":x": n(expires.Unix())}}},
		{Delete: &types.Delete{TableName: aws.String(tbl), Key: guardKey("exp-" + id)}},
	}})
	if err != nil {
		t.Fatalf("delete %s: %v", id, err)
	}
}

// history builds the archive the tamper cases start from: creates, every status move, a
// file, a no-op, a delete and its TTL removal, across six sealed periods (one idle), and a
// create after the last seal.
func history(t testing.TB) *fixture {
	t.Helper()
	f := newFixture(t)
	f.at(t, minute(0).Add(5*time.Second))
	for _, id := range []string{"rec-1", "rec-2", "rec-3"} {
		f.create(t, f.db, id)
	}
	f.at(t, minute(1).Add(5*time.Second))
	f.move(t, f.db, "rec-1", "processing")
	f.move(t, f.db, "rec-1", "completed")
	f.update(t, f.db, "rec-1", "SET file_url = :u", map[string]types.AttributeValue{":u": s("https://files.example.no/rec-1.pdf")})
	// The same file again changes nothing, and the stream says nothing.
	f.update(t, f.db, "rec-1", "SET file_url = :u", map[string]types.AttributeValue{":u": s("https://files.example.no/rec-1.pdf")})
	f.at(t, minute(3).Add(5*time.Second))
	f.move(t, f.db, "rec-2", "processing")
	f.move(t, f.db, "rec-2", "failed")
	f.tombstone(t, "rec-3", time.Now().Add(-time.Hour))
	f.at(t, minute(4).Add(5*time.Second))
	if n, err := f.Layer.Expire(ctx, tbl, "expires_at", time.Now()); err != nil || n != 1 {
		t.Fatalf("TTL: %d items, %v", n, err)
	}
	f.seal(t, minute(6).Add(grace))
	f.at(t, minute(6).Add(20*time.Second))
	f.create(t, f.db, "rec-4")
	f.at(t, minute(6).Add(30*time.Second))
	return f
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
