package testkit

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
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
	var out []map[string]any
	for _, l := range bytes.Split(b.Bytes(), []byte("\n")) {
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
