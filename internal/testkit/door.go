package testkit

import (
	"net/http"
	"sync"

	"github.com/bufdir/export-audit/pkg/clienttoken"
	"github.com/bufdir/export-audit/pkg/faults"
)

// DynamoDBError is an error answer as DynamoDB writes it, in its JSON 1.0 protocol.
type DynamoDBError struct {
	Status  int            // 400 when 0
	Type    string         // e.g. ThrottlingException
	Message string         // "injected by the test" when empty
	Extra   map[string]any // members beside the message, such as CancellationReasons
}

// Door stands in front of an engine and, once a test arms it with Fail, answers calls with a
// DynamoDB error in the engine's place: a call it answers never reaches the engine. The zero
// value passes every call on; put it in front of an engine with Wrap.
type Door struct {
	mu   sync.Mutex
	left int // calls still to answer; negative: every call
	op   string
	err  DynamoDBError
}

// Fail answers the next n calls of op (of any operation when op is "") with e; a negative n
// answers every such call until the next Fail, and n = 0 passes every call on again.
func (d *Door) Fail(n int, op string, e DynamoDBError) {
	if e.Status == 0 {
		e.Status = http.StatusBadRequest
	}
	if e.Message == "" {
		e.Message = "injected by the test"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.left, d.op, d.err = n, op, e
}

// Wrap puts the door in front of next.
func (d *Door) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		answer := d.left != 0 && (d.op == "" || d.op == faults.Operation(r))
		if answer && d.left > 0 {
			d.left--
		}
		e := d.err
		d.mu.Unlock()
		if !answer {
			next.ServeHTTP(w, r)
			return
		}
		clienttoken.WriteError(w, e.Status, e.Type, e.Message, e.Extra)
	})
}
