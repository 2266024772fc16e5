package functions_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/bus"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/local"
)

// The shipped publish-events binary under the emulator, its EventBridge client pointed at the
// local bus (pkg/bus) through EVENTBRIDGE_ENDPOINT, invoked with the stream batch of events/
// (a record's life, with the guard, count and counter records and the TTL's removal beside
// it): the record's five changes reach the bus as the contract's events, in order, and the
// batch response names nothing. Invoked again with the bus failing the File Attached entry,
// the batch response names exactly that change's stream record, and the other four are put
// again (at least once).
func TestShippedPublisherUnderEmulator(t *testing.T) {
	dir := t.TempDir()
	rie := build(t, dir, "aws-lambda-rie", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie", false)
	busName := config.EventBusName(config.LocalStage)
	b := bus.New(bus.Options{Region: testkit.Region, Buses: []string{busName}})
	srv, err := local.Serve("127.0.0.1:0", b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		config.EnvRegion + "=" + testkit.Region,
		config.EnvStage + "=" + config.LocalStage,
		config.EnvEventBusName + "=" + busName,
		config.EnvEventBridgeEndpoint + "=" + srv.URL,
		"AWS_ACCESS_KEY_ID=emulator", "AWS_SECRET_ACCESS_KEY=emulator",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=10",
	}
	bin := build(t, filepath.Join(dir, config.PublisherFunction), "bootstrap", "github.com/bufdir/export-audit/functions/"+config.PublisherFunction, true)
	fn := start(t, rie, bin, env)

	sample := filepath.Join("..", "events", config.PublisherFunction+".json")
	batch, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	invoke := func() []string {
		t.Helper()
		out := fn.invokeRaw(t, batch)
		// Lambda reads a null list as an empty one: the whole batch done.
		var resp events.DynamoDBEventResponse
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(out, &resp); err != nil || json.Unmarshal(out, &keys) != nil || len(keys) != 1 || keys["batchItemFailures"] == nil {
			t.Fatalf("publish-events answered %s (%v), want a partial batch response\n%s", out, err, fn.logs())
		}
		var seqs []string
		for _, f := range resp.BatchItemFailures {
			seqs = append(seqs, f.ItemIdentifier)
		}
		return seqs
	}
	typesOf := func(evs []bus.Event) []string {
		var out []string
		for _, ev := range evs {
			if ev.Source != config.EventSource || ev.Bus != busName {
				t.Errorf("event %+v, want source %s on %s", ev, config.EventSource, busName)
			}
			out = append(out, ev.DetailType)
		}
		return out
	}
	life := []string{"Audit Record Created", "Audit Record Status Changed", "Audit Record Status Changed",
		"Audit Record File Attached", "Audit Record Deleted"}

	if failed := invoke(); len(failed) != 0 {
		t.Errorf("batch item failures %v, want none", failed)
	}
	if got := typesOf(b.Events()); !slices.Equal(got, life) {
		t.Fatalf("events on the bus %v, want %v\n%s", got, life, fn.logs())
	}

	b.SetFault(func(c bus.Call) bus.Fault {
		f := bus.Fault{Entries: map[int]bus.EntryError{}}
		for i, e := range c.Entries {
			if e.DetailType == "Audit Record File Attached" {
				f.Entries[i] = bus.EntryError{Code: bus.InternalFailure, Message: "injected"}
			}
		}
		return f
	})
	if failed, want := invoke(), fileAttachedRecord(t, testkit.StreamEvent(t, sample)); !slices.Equal(failed, []string{want}) {
		t.Errorf("batch item failures %v, want only the file's stream record %s\n%s", failed, want, fn.logs())
	}
	again := b.Events()[len(life):]
	if got, want := typesOf(again), slices.Delete(slices.Clone(life), 3, 4); !slices.Equal(got, want) {
		t.Errorf("events put again %v, want %v", got, want)
	}
	if !strings.Contains(fn.logs(), "Init Duration") {
		t.Errorf("the emulator reported no init, so the binary never ran:\n%s", fn.logs())
	}
}

// fileAttachedRecord is the sequence number of the batch's stream record that attached the
// record's file: a record item's MODIFY whose new image has a file_url and whose old one has
// none.
func fileAttachedRecord(t *testing.T, ev events.DynamoDBEvent) string {
	t.Helper()
	var seqs []string
	for _, r := range ev.Records {
		_, had := r.Change.OldImage["file_url"]
		_, has := r.Change.NewImage["file_url"]
		if strings.HasPrefix(r.Change.Keys["sk"].String(), "REC#") && r.EventName == "MODIFY" && has && !had {
			seqs = append(seqs, r.Change.SequenceNumber)
		}
	}
	if len(seqs) != 1 {
		t.Fatalf("want one stream record attaching the file in the sample, got %v", seqs)
	}
	return seqs[0]
}
