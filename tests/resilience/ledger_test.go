package resilience

import (
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
)

// ledger keeps what the API acknowledged with a 2xx, to check afterwards that nothing
// acknowledged was lost.
type ledger struct {
	mu      sync.Mutex
	tokens  map[string]string          // org → a token with every scope
	created map[string]acked           // record_id → its creation
	deleted map[string]bool            // record_id → deleted with 200
	maybe   map[string]bool            // record_id → a delete answered with an error
	moved   map[string]map[string]bool // record_id → statuses answered 200
	files   map[string]string          // record_id → file_url answered 200
	acks    int
}

type acked struct{ org, export string }

func newLedger() *ledger {
	return &ledger{tokens: map[string]string{}, created: map[string]acked{}, deleted: map[string]bool{}, maybe: map[string]bool{},
		moved: map[string]map[string]bool{}, files: map[string]string{}}
}

func (l *ledger) create(org string, rec testkit.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks++
	l.created[rec.RecordID] = acked{org: org, export: rec.ExportID}
}

func (l *ledger) move(id, status string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks++
	if l.moved[id] == nil {
		l.moved[id] = map[string]bool{}
	}
	l.moved[id][status] = true
}

func (l *ledger) file(id, url string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks++
	l.files[id] = url
}

func (l *ledger) del(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks++
	l.deleted[id] = true
}

// maybeDel notes a delete that was not acknowledged: it may have been applied.
func (l *ledger) maybeDel(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maybe[id] = true
}

// verify reads every acknowledged record back through the API, with faults off: a record
// created with 2xx and not deleted answers 200 with its export_id, every status answered 200
// is in its history, every file_url answered 200 is its file_url; a deleted one answers 404.
// It returns how many records it read.
func (e *env) verify(t testing.TB, l *ledger) int {
	t.Helper()
	e.Faults.Set()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(l.created)) {
		ack := l.created[id]
		r := e.Must(t, "GET", base+"/"+id, l.tokens[ack.org], nil)
		if l.deleted[id] {
			if r.Status != http.StatusNotFound {
				t.Errorf("deleted record %s: want 404, got %s", id, r)
			}
			continue
		}
		if l.maybe[id] && r.Status == http.StatusNotFound {
			continue
		}
		if r.Status != http.StatusOK {
			t.Errorf("acknowledged record %s is lost: %s", id, r)
			continue
		}
		rec, err := r.ParseRecord()
		if err != nil {
			t.Error(err)
			continue
		}
		if rec.ExportID != ack.export || rec.OrgID != ack.org {
			t.Errorf("record %s: want export %s of %s, got %s of %s", id, ack.export, ack.org, rec.ExportID, rec.OrgID)
		}
		seen := map[string]bool{}
		for _, h := range rec.History {
			seen[string(h.Status)] = true
		}
		for st := range l.moved[id] {
			if !seen[st] {
				t.Errorf("record %s: the move to %s was acknowledged but is not in its history %+v", id, st, rec.History)
			}
		}
		if u, ok := l.files[id]; ok && (rec.FileURL == nil || *rec.FileURL != u) {
			t.Errorf("record %s: file_url %s was acknowledged, the record has %v", id, u, rec.FileURL)
		}
	}
	return len(l.created)
}

// percentile returns the p-th percentile (0..100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}
