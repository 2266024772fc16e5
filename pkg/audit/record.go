package audit

import (
	"time"
)

// Record is one export's audit record as callers see it.
type Record struct {
	RecordID      string         `json:"record_id"`
	ExportID      string         `json:"export_id"`
	OrgID         string         `json:"org_id"`
	TriggeredBy   string         `json:"triggered_by_user_id"`
	Status        Status         `json:"status"`
	Format        Format         `json:"format"`
	PeriodFrom    string         `json:"period_from"`
	PeriodTo      string         `json:"period_to"`
	FileURL       *string        `json:"file_url"`
	ActivityCount *int64         `json:"activity_count"`
	FailureReason *string        `json:"failure_reason"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	History       []HistoryEntry `json:"status_history,omitempty"`
}

// HistoryEntry is one status the record took: when and by whom. The first is the creation.
type HistoryEntry struct {
	Status Status    `json:"status"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
}

// Timestamp is how the service keeps every time: UTC, whole seconds.
func Timestamp(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// NewRecord is a validated request to create a record, with defaults applied.
type NewRecord struct {
	ExportID      string
	OrgID         string
	TriggeredBy   string
	Status        Status
	Format        Format
	PeriodFrom    string
	PeriodTo      string
	ActivityCount *int64
	By            string // the caller's user id, written in the first history entry
}

// SameRequest reports whether n asks for what stored was created with, which makes n a retry
// of that create. Only what a create sets counts; later changes to the record do not.
func (n NewRecord) SameRequest(stored NewRecord) bool {
	return n.ExportID == stored.ExportID && n.OrgID == stored.OrgID &&
		n.TriggeredBy == stored.TriggeredBy && n.Status == stored.Status &&
		n.Format == stored.Format && n.PeriodFrom == stored.PeriodFrom &&
		n.PeriodTo == stored.PeriodTo && equalCount(n.ActivityCount, stored.ActivityCount)
}

func equalCount(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Build makes the record n creates, as it is first stored.
func (n NewRecord) Build(id RecordID, at time.Time) Record {
	at = Timestamp(at)
	return Record{
		RecordID:      id.String(),
		ExportID:      n.ExportID,
		OrgID:         n.OrgID,
		TriggeredBy:   n.TriggeredBy,
		Status:        n.Status,
		Format:        n.Format,
		PeriodFrom:    n.PeriodFrom,
		PeriodTo:      n.PeriodTo,
		ActivityCount: n.ActivityCount,
		CreatedAt:     at,
		UpdatedAt:     at,
		History:       []HistoryEntry{{Status: n.Status, At: at, By: n.By}},
	}
}
