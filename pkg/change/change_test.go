package change_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/change"
	"github.com/bufdir/export-audit/pkg/config"
)

// judged is what Read made of one stream record, for comparing.
type judged struct {
	kind    change.Kind
	version int64
	by      string
	at      string
	prev    audit.Status
}

func readAll(t *testing.T, recs []events.DynamoDBEventRecord) (changes []change.Change, skipped []string) {
	t.Helper()
	for _, r := range recs {
		c, err := change.Read(r)
		if err != nil {
			t.Fatalf("%s of %v: %v", r.EventName, r.Change.Keys, err)
		}
		if c.Kind == change.None {
			skipped = append(skipped, c.Skip)
			continue
		}
		changes = append(changes, c)
	}
	return changes, skipped
}

// TestRead_EveryChangeTheAPIMakes follows a record through the repository, with the table's
// stream in front of the engine, and reads each stream record: one change per change, in
// version order, with who and when; the guard, the live count and the day counter publish
// nothing, nor do a replay, a no-op or the TTL's removal of the tombstone.
func TestRead_EveryChangeTheAPIMakes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.Store
	created := e.Clock.Now()

	rec, _, err := s.Create(ctx, newRecord("org-a", "exp-1"))
	if err != nil {
		t.Fatal(err)
	}
	id := mustID(t, rec.RecordID)
	if _, replayed, err := s.Create(ctx, newRecord("org-a", "exp-1")); err != nil || !replayed {
		t.Fatalf("replay: %v %v", replayed, err)
	}
	e.Clock.Set(created.Add(2 * time.Minute))
	moved := created.Add(time.Minute)
	if _, _, err := s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: audit.StatusProcessing, At: moved, By: "usr-svc"}); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: audit.StatusProcessing, At: moved, By: "usr-svc"}); err != nil || changed {
		t.Fatalf("no-op: %v %v", changed, err)
	}
	count := int64(312)
	if _, _, err := s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: audit.StatusCompleted, At: e.Clock.Now(), By: "usr-svc", ActivityCount: &count}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(created.Add(3 * time.Minute))
	url := "https://storage.example.no/exports/exp-1.pdf"
	if _, _, err := s.AttachFileURL(ctx, "org-a", id, url, "usr-files"); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := s.AttachFileURL(ctx, "org-a", id, url, "usr-files"); err != nil || changed {
		t.Fatalf("no-op file: %v %v", changed, err)
	}
	e.Clock.Set(created.Add(4 * time.Minute))
	if err := s.Delete(ctx, "org-a", id, "usr-admin"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Layer.Expire(ctx, table, config.TableTTLAttribute, created.Add(31*24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("TTL expired %d items (%v), want the tombstone", n, err)
	}

	changes, skipped := readAll(t, e.Layer.Records(table))
	stamp := func(min int) string { return created.Add(time.Duration(min) * time.Minute).Format(time.RFC3339) }
	want := []judged{
		{change.Created, 1, "usr-0042", stamp(0), ""},
		{change.StatusChanged, 2, "usr-svc", stamp(1), audit.StatusQueued},
		{change.StatusChanged, 3, "usr-svc", stamp(2), audit.StatusProcessing},
		{change.FileAttached, 4, "usr-files", stamp(3), ""},
		{change.Deleted, 5, "usr-admin", stamp(4), ""},
	}
	var got []judged
	for _, c := range changes {
		got = append(got, judged{c.Kind, c.Version, c.By, c.At.Format(time.RFC3339), c.PreviousStatus})
		if c.OrgID != "org-a" || c.RecordID != rec.RecordID || c.Record.RecordID != rec.RecordID {
			t.Errorf("%s names %s of %s (record %s), want %s of org-a", c.Kind, c.RecordID, c.OrgID, c.Record.RecordID, rec.RecordID)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes\n got %+v\nwant %+v", got, want)
	}
	// guard, count and counter at the create; the counter again at the replay; the guard and
	// the count at the delete; the TTL's removal of the tombstone.
	if len(skipped) != 7 {
		t.Errorf("%d stream records skipped, want 7: %q", len(skipped), skipped)
	}
	for _, want := range []string{"a guard item", "a stats item", "a counter item", "the TTL removed"} {
		if !strings.Contains(strings.Join(skipped, "|"), want) {
			t.Errorf("no record skipped as %q: %q", want, skipped)
		}
	}
	if len(changes) != len(want) {
		return
	}

	// Each change carries the record as a GET answers it after the change; the delete, as it
	// was before.
	first := changes[0].Record
	if first.Status != audit.StatusQueued || len(first.History) != 1 || first.FileURL != nil || !first.CreatedAt.Equal(created) {
		t.Errorf("created: record %+v", first)
	}
	done := changes[2].Record
	if done.Status != audit.StatusCompleted || len(done.History) != 3 || done.ActivityCount == nil || *done.ActivityCount != 312 {
		t.Errorf("completed: record %+v", done)
	}
	if f := changes[3].Record.FileURL; f == nil || *f != url {
		t.Errorf("file attached: file_url %v", f)
	}
	gone := changes[4].Record
	if gone.FileURL == nil || gone.Status != audit.StatusCompleted || len(gone.History) != 3 || !gone.UpdatedAt.Equal(created.Add(3*time.Minute)) {
		t.Errorf("deleted: record as it was before, got %+v", gone)
	}
}

// Illegal changes name the record; Error says so in one line for the log and make verify.
func TestIllegal_NamesTheRecord(t *testing.T) {
	t.Parallel()
	e, rec := withRecord(t)
	for _, r := range e.Layer.Records(table) {
		if r.EventName != "INSERT" || !strings.HasPrefix(r.Change.Keys["sk"].String(), "REC#") {
			continue
		}
		r.EventName = "REMOVE"
		r.Change.OldImage, r.Change.NewImage = r.Change.NewImage, nil
		_, err := change.Read(r)
		var ill *change.Illegal
		if !errors.As(err, &ill) || ill.RecordID != rec.RecordID || ill.OrgID != "org-a" {
			t.Fatalf("a record removed by a caller: %v, want Illegal naming %s of org-a", err, rec.RecordID)
		}
		if msg := err.Error(); !strings.Contains(msg, rec.RecordID) || !strings.Contains(msg, "not by the TTL") || strings.Contains(msg, "\n") {
			t.Errorf("Error() = %q", msg)
		}
		return
	}
	t.Fatal("no INSERT of the record in the stream")
}

// JudgeImages judges a record's parts as the archive keeps them, the stream record's JSON read
// back: the same change as Read of the record as Lambda hands it over.
func TestJudgeImages_TheArchivesFormJudgesAsTheStreams(t *testing.T) {
	t.Parallel()
	e, rec := withRecord(t)
	if _, _, err := e.Store.UpdateStatus(ctx, "org-a", mustID(t, rec.RecordID), audit.StatusChange{To: audit.StatusFailed, At: e.Clock.Now(), By: "usr-svc"}); err != nil {
		t.Fatal(err)
	}
	kinds := 0
	for _, r := range e.Layer.Records(table) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var kept events.DynamoDBEventRecord
		if err := json.Unmarshal(b, &kept); err != nil {
			t.Fatal(err)
		}
		read, rerr := change.Read(r)
		judged, jerr := change.JudgeImages(kept.EventName, kept.Change.Keys, kept.Change.OldImage, kept.Change.NewImage, kept.UserIdentity)
		if rerr != nil || jerr != nil || !reflect.DeepEqual(read, judged) {
			t.Errorf("%s of %v: Read %+v %v, JudgeImages %+v %v", r.EventName, r.Change.Keys, read, rerr, judged, jerr)
		}
		if judged.Kind != change.None {
			kinds++
		}
	}
	if kinds != 2 {
		t.Errorf("%d changes judged, want the create and the status move", kinds)
	}
}
