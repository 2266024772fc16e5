package functions_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/config"
)

// checkArchiveEvent checks events/<name>.json of the archive's functions, with no field
// aws-lambda-go would not read, and reports whether name is one of them: archive-changes gets a
// batch of the table's stream with both images (an API create's four writes), seal-digest the
// schedule's event, which it does not read.
func checkArchiveEvent(t *testing.T, name string, raw []byte) bool {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	switch name {
	case config.ArchiveFunction:
		var ev events.DynamoDBEvent
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("not a DynamoDB stream event: %v", err)
		}
		var record bool
		for _, r := range ev.Records {
			c := r.Change
			if r.EventSource != "aws:dynamodb" || r.EventName != "INSERT" || c.StreamViewType != "NEW_AND_OLD_IMAGES" ||
				c.SequenceNumber == "" || c.Keys["pk"].String() == "" || c.Keys["sk"].String() == "" || len(c.NewImage) == 0 {
				t.Errorf("record %s: source %q, name %q, view %q, sequence %q, keys %v: want an insert as the table's stream has it",
					r.EventID, r.EventSource, r.EventName, c.StreamViewType, c.SequenceNumber, c.Keys)
			}
			record = record || strings.HasPrefix(c.Keys["sk"].String(), "REC#")
		}
		if !record {
			t.Error("no record among the batch's items")
		}
		return true
	case config.SealFunction:
		var ev events.EventBridgeEvent
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("not an EventBridge event: %v", err)
		}
		if ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" || len(ev.Resources) != 1 ||
			!strings.Contains(ev.Resources[0], ":rule/") {
			t.Errorf("source %q, detail-type %q, resources %v: want a schedule rule's event", ev.Source, ev.DetailType, ev.Resources)
		}
		return true
	}
	return false
}
