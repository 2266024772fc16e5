package archive_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/archivetest"
)

var t0 = time.Date(2026, 3, 26, 14, 0, 0, 0, time.UTC)

func TestWriter_WritesTheBatchAsDeliveredUnderTheClocksPeriod(t *testing.T) {
	t.Parallel()
	recs := streamRecords(t, "a", "b", "c")
	d := archive.NewDir(t.TempDir())
	c := testkit.NewClock(t0.Add(90 * time.Minute))
	w := archive.NewWriter(d, mustPeriods(t, time.Hour), c.Now, quiet)
	resp, err := w.Handle(ctx, events.DynamoDBEvent{Records: recs})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle: %v %v", resp, err)
	}
	objs := archivetest.List(t, d, "changes/", "")
	if len(objs) != 1 || !strings.HasPrefix(objs[0], "changes/20260326T150000Z/") {
		t.Fatalf("objects %q, want one under changes/20260326T150000Z/", objs)
	}
	var got events.DynamoDBEvent
	if err := json.Unmarshal(archivetest.Get(t, d, objs[0]), &got); err != nil {
		t.Fatalf("the object is not a DynamoDB event: %v", err)
	}
	want, _ := json.Marshal(recs)
	if have, _ := json.Marshal(got.Records); string(have) != string(want) {
		t.Errorf("the object's records differ from the batch:\n got %s\nwant %s", have, want)
	}
	if got, want := objs[0], archive.BatchKey(t0.Add(time.Hour), recs); got != want {
		t.Errorf("key %s, want BatchKey's %s", got, want)
	}
}

func TestWriter_ARetriedBatchIsAlreadyThere(t *testing.T) {
	t.Parallel()
	recs := streamRecords(t, "a", "b", "c")
	d := archive.NewDir(t.TempDir())
	c := testkit.NewClock(t0)
	w := archive.NewWriter(d, mustPeriods(t, time.Hour), c.Now, quiet)
	for i := range 2 {
		if resp, err := w.Handle(ctx, events.DynamoDBEvent{Records: recs}); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("delivery %d: %v %v", i+1, resp, err)
		}
	}
	first := archivetest.List(t, d, "changes/", "")
	if len(first) != 1 {
		t.Fatalf("the same batch twice made %d objects: %q", len(first), first)
	}
	// A smaller batch (Lambda bisecting) and a retry in the next period are other objects.
	if _, err := w.Handle(ctx, events.DynamoDBEvent{Records: recs[:2]}); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(time.Hour))
	if _, err := w.Handle(ctx, events.DynamoDBEvent{Records: recs}); err != nil {
		t.Fatal(err)
	}
	all := archivetest.List(t, d, "changes/", "")
	if len(all) != 3 || !strings.HasPrefix(all[2], "changes/20260326T150000Z/") {
		t.Errorf("after a part batch and a retry next period: %q", all)
	}
	// Records of other writes, with the same sequence numbers and values, are another batch.
	if archive.BatchKey(t0, recs) == archive.BatchKey(t0, streamRecords(t, "a", "b", "c")) {
		t.Error("two batches of different events share a key")
	}
}

func TestWriter_AFailedPutFailsEveryRecord(t *testing.T) {
	t.Parallel()
	recs := streamRecords(t, "a", "b")
	root := filepath.Join(t.TempDir(), "archive")
	// A file where the directory should be: every write fails, as an unreachable bucket's would.
	if err := os.WriteFile(root, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := archive.NewWriter(archive.NewDir(root), mustPeriods(t, time.Hour), nil, quiet)
	resp, err := w.Handle(ctx, events.DynamoDBEvent{Records: recs})
	if err != nil {
		t.Fatalf("handle answered an error, want item failures: %v", err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	want := []string{recs[0].Change.SequenceNumber, recs[1].Change.SequenceNumber}
	if !reflect.DeepEqual(failed, want) {
		t.Errorf("reported %q, want every record %q", failed, want)
	}
}

func TestWriter_AnEmptyBatchWritesNothing(t *testing.T) {
	t.Parallel()
	d := archive.NewDir(t.TempDir())
	w := archive.NewWriter(d, mustPeriods(t, time.Hour), nil, quiet)
	if resp, err := w.Handle(ctx, events.DynamoDBEvent{}); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle: %v %v", resp, err)
	}
	if _, err := os.Stat(filepath.Join(d.Root(), "changes")); !os.IsNotExist(err) {
		t.Errorf("an empty batch made changes/: %v", err)
	}
}
