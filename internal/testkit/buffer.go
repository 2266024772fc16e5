package testkit

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// Buffer collects what many goroutines write, such as the service's log and metrics lines.
// The zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// Bytes is a copy of what has been written since the last Reset.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

func (b *Buffer) String() string { return string(b.Bytes()) }

// Reset forgets what has been written.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

// Lines decodes every line written so far, each a JSON object, numbers as they were written.
func (b *Buffer) Lines(t testing.TB) []map[string]any {
	t.Helper()
	return JSONLines(t, b.Bytes())
}

// JSONLines decodes every line of log, each a JSON object, numbers as they were written.
func JSONLines(t testing.TB, log []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split(log, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		m, err := decodeObject(l)
		if err != nil {
			t.Fatalf("want every line a JSON object, got %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// WantRefusedStart checks how a function's root refuses to start: its Load returned err and
// wrote log, which must be one ERROR line naming every one of settings.
func WantRefusedStart(t testing.TB, err error, log []byte, settings ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want the start refused without %v", settings)
	}
	ls := JSONLines(t, log)
	if len(ls) != 1 || ls[0]["level"] != "ERROR" {
		t.Fatalf("want one ERROR line, got %s", log)
	}
	for _, s := range settings {
		if msg, _ := ls[0]["error"].(string); !strings.Contains(msg, s) {
			t.Errorf("the line does not name %s: %s", s, log)
		}
	}
}

// StreamEvent reads the DynamoDB stream event at path, such as the events/*.json that sam local
// invoke sends the stream's functions.
func StreamEvent(t testing.TB, path string) events.DynamoDBEvent {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return ev
}

// decodeObject decodes a JSON object, keeping numbers as they were written.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}
