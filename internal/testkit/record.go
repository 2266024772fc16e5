package testkit

import (
	"fmt"
	"sync/atomic"

	"github.com/bufdir/export-audit/pkg/audit"
)

// Record is a record as the API answers it, decoded into the service's own type. The keys
// and types the contract names are checked on the raw answer (CheckRecordShape) before it is
// decoded, so a field the service renamed or dropped still fails the tests.
type Record = audit.Record

// HistoryEntry is one entry of a record's status_history.
type HistoryEntry = audit.HistoryEntry

// Page is a list answer.
type Page struct {
	Data       []Record `json:"data"`
	Pagination struct {
		Page  int `json:"page"`
		Limit int `json:"limit"`
		Total int `json:"total"`
	} `json:"pagination"`
}

// Fields is a request body.
type Fields map[string]any

// exportSeq makes export ids unique across a whole test binary.
var exportSeq atomic.Int64

// NewExportID is an export_id no other call of the test binary gets.
func NewExportID() string { return fmt.Sprintf("exp-test-%06d", exportSeq.Add(1)) }

// NewRecord is the smallest valid create body, with a fresh export_id; extra replaces or adds
// fields.
func NewRecord(extra Fields) Fields {
	f := Fields{"export_id": NewExportID(), "format": "pdf", "period_from": "2025-01-01", "period_to": "2025-12-31"}
	for k, v := range extra {
		f[k] = v
	}
	return f
}
