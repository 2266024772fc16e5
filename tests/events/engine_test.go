package events

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/item"
)

// TestEnginePort_LegalChangesArePublishedTheOthersLogged: writes sent straight to the engine's
// port with the SDK, as the AWS CLI or sam local invoke send them, are the table's changes too.
// A record put as the API stores one is Created; the same record put again moved on, as the API
// moves it, is Status Changed; each event's record is what GET answers. A change the API cannot
// make (a format changed, a record deleted other than by the TTL) publishes nothing and is
// logged at ERROR; an item that is no record publishes nothing.
func TestEnginePort_LegalChangesArePublishedTheOthersLogged(t *testing.T) {
	t.Parallel()
	logs := &testkit.Buffer{}
	e := &env{testkit.StartAPI(t, localrun.Options{
		PublisherLog: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelError})),
	})}
	reader := e.as(t, "usr-reader")
	ctx := t.Context()
	put := func(it any) {
		t.Helper()
		av, err := item.Encode(it)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.Table), Item: av}); err != nil {
			t.Fatalf("put an item on the engine's port: %v", err)
		}
	}

	now := audit.Timestamp(time.Now())
	rid := audit.NewRecordID(now, 900)
	n := audit.NewRecord{ExportID: "exp-cli-001", OrgID: org, TriggeredBy: "usr-cli", Status: audit.StatusQueued,
		Format: audit.FormatCSV, PeriodFrom: "2025-01-01", PeriodTo: "2025-01-31", By: "usr-cli"}
	it := item.NewRecord(n.Build(rid, now), rid)
	put(it)
	wants := []want{{created, "usr-cli", nil, ts(now), reader.get(t, testkit.Prefix, rid.String())}}

	it.Status, it.UpdatedAt, it.StatusAt = string(audit.StatusProcessing), it.CreatedAt, it.CreatedAt
	it.History = append(it.History, item.History{Status: it.Status, At: it.CreatedAt, By: "usr-cli-2"})
	it.Version, it.ChangedBy = 2, "usr-cli-2"
	put(it)
	wants = append(wants, want{statusChanged, "usr-cli-2", ptr("queued"), ts(now), reader.get(t, testkit.Prefix, rid.String())})

	put(item.Guard{PK: item.OrgPK(org), SK: item.GuardSK("exp-cli-002"), RecordID: "rec-20260301-001",
		Shared: item.Shared{ExportID: "exp-cli-002", OrgID: org}})
	key := item.RecordKey(org, rid)
	if _, err := e.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(e.Table), Key: key,
		UpdateExpression:          aws.String("SET #f = :f, #v = :v"),
		ExpressionAttributeNames:  map[string]string{"#f": "format", "#v": "version"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":f": item.S("pdf"), ":v": item.N(3)},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(e.Table), Key: key}); err != nil {
		t.Fatal(err)
	}

	evs := e.events(t)
	check(t, evs, rid.String(), wants)
	if len(evs) != 2 {
		t.Errorf("want the two legal changes' events only, got %d", len(evs))
	}
	illegal := 0
	for _, l := range logs.Lines(t) {
		if l["msg"] == "illegal change: not published" && l["record_id"] == rid.String() {
			illegal++
		}
	}
	if illegal != 2 {
		t.Errorf("want the changed format and the removal logged as illegal changes, got %d such lines:\n%s", illegal, logs)
	}
}

// TestTTL_TheTombstonesRemovalPublishesNothing: a record deleted through the API stays as a
// tombstone until DynamoDB's TTL removes it; that removal is a change of the table, but no
// change of the record: the record's events end with Audit Record Deleted.
func TestTTL_TheTombstonesRemovalPublishesNothing(t *testing.T) {
	t.Parallel()
	e := start(t)
	c := e.as(t, "usr-0042")
	rec := c.do(t, "POST", testkit.Prefix, testkit.NewRecord(nil), http.StatusCreated).Record(t)
	c.do(t, "DELETE", testkit.Prefix+"/"+rec.RecordID, nil, http.StatusOK)
	before := e.events(t)

	// Past DELETED_RETENTION_DAYS (default 365), the TTL's due.
	n, err := e.Stream.Expire(t.Context(), e.Table, config.TableTTLAttribute, time.Now().AddDate(1, 0, 7))
	if err != nil || n != 1 {
		t.Fatalf("want the TTL to remove the one tombstone, removed %d (%v)", n, err)
	}
	if s := testkit.Scan(t, e.DB, e.Table); len(s.Records) != 0 {
		t.Fatalf("want the tombstone gone from the table, got %v", s.Records)
	}
	var types []string
	for _, ev := range of(e.events(t), rec.RecordID) {
		types = append(types, ev.DetailType)
	}
	if got := strings.Join(types, ", "); got != created+", "+deleted || len(before) != 2 {
		t.Errorf("want %s, %s before and after the TTL's removal, got %d events before and %s after", created, deleted, len(before), got)
	}
}
