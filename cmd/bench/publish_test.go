package main

import (
	"strings"
	"testing"
)

// The publisher's figures at each batch size, for the stream of five records' changes: every
// change reaches the bus once whatever the batch size, and larger batches put the same entries
// in fewer calls.
func TestRunPublish_CountsCallsAndBytesPerBatchSize(t *testing.T) {
	t.Parallel()
	shape, err := learnShape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e := &bench{all: &tally{n: map[string]int{}}, shape: shape, progress: func(string) {}}
	const lives = 5
	res, err := e.runPublish(t.Context(), publishBatches, lives)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("want figures at 3 batch sizes, got %+v", res)
	}
	one, hundred := res[0], res[2]
	// A create writes the day counter, the record, the guard and the count; each later change
	// the record alone.
	if one.records != 7*lives || one.invocations != one.records || one.calls != one.events || one.billed != one.events {
		t.Errorf("batches of 1: %+v, want %d records, one invocation each and one call per event, each billed once", one, 7*lives)
	}
	for i, r := range res[1:] {
		prev := res[i]
		if r.records != prev.records || r.events != prev.events || r.entryBytes != prev.entryBytes || r.calls > prev.calls || r.wireBytes >= prev.wireBytes {
			t.Errorf("batches of %d: %+v against %d: %+v; want the same events and entry bytes in no more calls and fewer request bytes",
				r.batch, r, prev.batch, prev)
		}
	}
	if want := (hundred.events + 9) / 10; hundred.invocations != 1 || hundred.calls != want {
		t.Errorf("one batch of %d records with %d events: %d calls in %d invocations, want %d calls of up to 10 entries",
			hundred.records, hundred.events, hundred.calls, hundred.invocations, want)
	}
	md := (&results{publish: res, o: options{publishLives: lives}}).markdown()
	for _, s := range []string{"Change events", "| 100 |", "PutEvents calls"} {
		if !strings.Contains(md, s) {
			t.Errorf("the report lacks %q:\n%s", s, md)
		}
	}
}
