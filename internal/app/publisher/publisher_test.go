package publisher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/bufdir/export-audit/internal/app/publisher"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/bus"
)

// The function as its root builds it: configured from the environment, its EventBridge client
// pointed at a bus (the local one here, through EVENTBRIDGE_ENDPOINT), its log and metrics on
// one writer, as Lambda's stdout.
func TestLoad_PublishesTheStreamsChangesOnTheConfiguredBus(t *testing.T) {
	t.Parallel()
	b := bus.New(bus.Options{Buses: []string{"bufdir-export-audit-dev"}})
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	h, err := publisher.Load(context.Background(), testkit.Env(map[string]string{
		"EVENT_BUS_NAME": "bufdir-export-audit-dev", "AWS_REGION": "eu-north-1", "STAGE": "dev",
		"EVENTBRIDGE_ENDPOINT": srv.URL,
	}), &out)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	init := testkit.JSONLines(t, out.Bytes())
	if len(init) != 1 || init[0]["msg"] != "init" || init[0]["event_bus"] != "bufdir-export-audit-dev" || init[0]["stage"] != "dev" {
		t.Fatalf("want one init line with the bus and the stage, got %s", out.Bytes())
	}
	ev := testkit.StreamEvent(t, "../../../events/publish-events.json")
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle: %v %v", resp.BatchItemFailures, err)
	}
	if n := len(b.Events()); n != 5 {
		t.Errorf("the bus holds %d events, want the sample's 5 changes", n)
	}
	var emf map[string]any
	for _, l := range testkit.JSONLines(t, out.Bytes()) {
		if l["_aws"] != nil {
			emf = l
		}
	}
	if emf == nil || emf["EventsPublished"] != json.Number("5") || emf["Stage"] != "dev" {
		t.Errorf("want a metrics line with EventsPublished 5 and Stage dev, got %v", emf)
	}
}
