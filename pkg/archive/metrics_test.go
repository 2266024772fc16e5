package archive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// emfLines reads every EMF line in out: each metric's value by name, and checks that every
// metric is published under exactly [Stage] with the stage given.
func emfLines(t *testing.T, out *bytes.Buffer, stage string) []map[string]float64 {
	t.Helper()
	var docs []map[string]float64
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal(line, &doc); err != nil {
			t.Fatalf("not a JSON line: %s", line)
		}
		if doc["Stage"] != stage {
			t.Errorf("Stage %v, want %s: %s", doc["Stage"], stage, line)
		}
		var meta struct {
			CloudWatchMetrics []struct {
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		}
		raw, _ := json.Marshal(doc["_aws"])
		if err := json.Unmarshal(raw, &meta); err != nil || len(meta.CloudWatchMetrics) != 1 {
			t.Fatalf("want one metric directive: %s", line)
		}
		dir := meta.CloudWatchMetrics[0]
		if !reflect.DeepEqual(dir.Dimensions, [][]string{{"Stage"}}) {
			t.Errorf("dimensions %v, want [[Stage]]", dir.Dimensions)
		}
		values := map[string]float64{}
		for _, m := range dir.Metrics {
			if m.Unit != "Count" {
				t.Errorf("%s in %s, want Count", m.Name, m.Unit)
			}
			v, _ := doc[m.Name].(float64)
			values[m.Name] = v
		}
		docs = append(docs, values)
	}
	return docs
}

func TestWriter_MeasuresEachBatch(t *testing.T) {
	t.Parallel()
	recs := streamRecords(t, "a", "b", "c")
	var out bytes.Buffer
	w := archive.NewWriter(archive.NewDir(t.TempDir()), mustPeriods(t, time.Hour), testkit.NewClock(t0).Now, quiet).
		Measure(metrics.NewEmitter(&out), "prod")
	for range 2 { // the second is Lambda's retry of a batch that was written
		if _, err := w.Handle(ctx, events.DynamoDBEvent{Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(t.TempDir(), "archive")
	if err := os.WriteFile(root, nil, 0o600); err != nil { // every write fails
		t.Fatal(err)
	}
	failing := archive.NewWriter(archive.NewDir(root), mustPeriods(t, time.Hour), nil, quiet).Measure(metrics.NewEmitter(&out), "prod")
	if _, err := failing.Handle(ctx, events.DynamoDBEvent{Records: recs}); err != nil {
		t.Fatal(err)
	}
	want := []map[string]float64{
		{"ArchiveObjectsWritten": 1, "ChangesArchived": 3, "ArchiveFailures": 0},
		{"ArchiveObjectsWritten": 0, "ChangesArchived": 0, "ArchiveFailures": 0},
		{"ArchiveObjectsWritten": 0, "ChangesArchived": 0, "ArchiveFailures": 1},
	}
	if got := emfLines(t, &out, "prod"); !reflect.DeepEqual(got, want) {
		t.Errorf("metrics\n %v\nwant\n %v", got, want)
	}
}

// failingCreate refuses every Create; reads still work.
type failingCreate struct{ archive.Bucket }

func (failingCreate) Create(context.Context, string, []byte) error {
	return errors.New("access denied")
}

// failingList refuses every List.
type failingList struct{ archive.Bucket }

func (failingList) List(context.Context, string, string) ([]archive.Object, error) {
	return nil, errors.New("slow down")
}

func TestSealer_RunMeasuresWhatItSealedAndWhatItLeft(t *testing.T) {
	t.Parallel()
	f := newSealFixture(t)
	var out bytes.Buffer
	sealer := func(b archive.Bucket) *archive.Sealer {
		return archive.NewSealer(archive.SealerOptions{Bucket: b, Signer: f.key, Periods: mustPeriods(t, time.Minute),
			Grace: 10 * time.Second, Now: f.clock.Now, Log: quiet, Metrics: metrics.NewEmitter(&out), Stage: "dev"})
	}
	run := func(b archive.Bucket, at time.Time) error {
		f.clock.Set(at)
		return sealer(b).Run(ctx)
	}
	// Nothing archived: nothing due, nothing missed.
	if err := run(f.dir, minute(0)); err != nil {
		t.Fatal(err)
	}
	recs := streamRecords(t, "a", "b", "c")
	f.write(t, minute(0), recs[:1])
	f.write(t, minute(0).Add(20*time.Second), recs[1:2])
	f.write(t, minute(2), recs[2:])
	// At 3:10 minutes 0, 1 and 2 are due (each ended at least the grace ago), 3 is not.
	if err := run(f.dir, minute(3).Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Writing fails at 5:30, with minutes 3 and 4 due.
	if err := run(failingCreate{f.dir}, minute(5).Add(30*time.Second)); err == nil {
		t.Fatal("a run that could write no digest succeeded")
	}
	// Listing fails: the run cannot tell whether anything is due.
	if err := run(failingList{f.dir}, minute(5).Add(30*time.Second)); err == nil {
		t.Fatal("a run that could list nothing succeeded")
	}
	// The next run makes up minutes 3 and 4.
	if err := run(f.dir, minute(5).Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	want := []map[string]float64{
		{"DigestsWritten": 0, "PeriodsSealed": 0, "FilesSealed": 0, "UnsealedPeriods": 0},
		{"DigestsWritten": 3, "PeriodsSealed": 3, "FilesSealed": 3, "UnsealedPeriods": 0},
		{"DigestsWritten": 0, "PeriodsSealed": 0, "FilesSealed": 0, "UnsealedPeriods": 2},
		{"DigestsWritten": 0, "PeriodsSealed": 0, "FilesSealed": 0, "UnsealedPeriods": 1},
		{"DigestsWritten": 2, "PeriodsSealed": 2, "FilesSealed": 0, "UnsealedPeriods": 0},
	}
	if got := emfLines(t, &out, "dev"); !reflect.DeepEqual(got, want) {
		t.Errorf("metrics\n %v\nwant\n %v", got, want)
	}
}

func TestSealer_RunCountsAPeriodAnotherRunSealed(t *testing.T) {
	t.Parallel()
	f := newSealFixture(t)
	f.write(t, minute(0), streamRecords(t, "a"))
	f.clock.Set(minute(3))
	var out bytes.Buffer
	// Another run seals minutes 0 and 1, the periods due at 3:00, just before this one writes
	// its first digest.
	rb := &raceBucket{Bucket: f.dir, before: func() {
		if _, err := f.newSealer(t, f.dir).Seal(ctx); err != nil {
			t.Errorf("the other run: %v", err)
		}
	}}
	s := archive.NewSealer(archive.SealerOptions{Bucket: rb, Signer: f.key, Periods: mustPeriods(t, time.Minute),
		Grace: 10 * time.Second, Now: f.clock.Now, Log: quiet, Metrics: metrics.NewEmitter(&out)})
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	want := []map[string]float64{{"DigestsWritten": 0, "PeriodsSealed": 2, "FilesSealed": 0, "UnsealedPeriods": 0}}
	if got := emfLines(t, &out, "local"); !reflect.DeepEqual(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
}
