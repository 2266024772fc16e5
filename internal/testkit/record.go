package testkit

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Record is a record as the API answers it. It is declared here rather than taken from
// pkg/audit, so that the tests read the answers as a client would: a field the service
// renamed or dropped fails them.
type Record struct {
	RecordID      string         `json:"record_id"`
	ExportID      string         `json:"export_id"`
	OrgID         string         `json:"org_id"`
	TriggeredBy   string         `json:"triggered_by_user_id"`
	Status        string         `json:"status"`
	Format        string         `json:"format"`
	PeriodFrom    string         `json:"period_from"`
	PeriodTo      string         `json:"period_to"`
	FileURL       *string        `json:"file_url"`
	ActivityCount *int64         `json:"activity_count"`
	FailureReason *string        `json:"failure_reason"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	History       []HistoryEntry `json:"status_history"`
}

// HistoryEntry is one entry of a record's status_history.
type HistoryEntry struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
}

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
