package testkit

import (
	"bytes"
	"io"
	"net/http"
	"sync"

	"github.com/bufdir/export-audit/pkg/faults"
)

// Calls counts the DynamoDB operations that pass it, by name (faults.Operation: "GetItem").
// The zero value is ready; put it in front of an engine with Wrap.
type Calls struct {
	mu sync.Mutex
	n  map[string]int
}

// Wrap counts each call before next serves it.
func (c *Calls) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[faults.Operation(r)]++
		c.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Take returns the counts since the last Take and starts again from none.
func (c *Calls) Take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	if n == nil {
		n = map[string]int{}
	}
	c.n = map[string]int{}
	return n
}

// PeekBody reads r's body and puts it back: for a layer in front of the engine that looks at a
// call before it passes it on.
func PeekBody(r *http.Request) []byte {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body
}
