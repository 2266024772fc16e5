package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// Deps is what the handlers of a container share. The composition root (internal/app) builds
// it once per container; tests build their own.
type Deps struct {
	Records  Records
	Settings Settings
	Log      *slog.Logger
	// Metrics writes each request's EMF document: to stdout in Lambda, apart from the log, so
	// that LOG_LEVEL never hides a metric. Nil writes none.
	Metrics *metrics.Emitter
	Now     func() time.Time
}

// Settings are the parts of the configuration the handlers read.
type Settings struct {
	// Stage is the Stage dimension of every metric; empty, the metrics carry config.LocalStage.
	Stage string
	// OrgIDClaim is the JWT claim that names the caller's organisation.
	OrgIDClaim string
	// FileURLAllowedHosts are the host suffixes a file_url must match; none allows any host.
	FileURLAllowedHosts []string
}

// Records is the repository of audit records, as the handlers use it (*store.Store). Its
// errors are the domain's: audit.ErrNotFound, *audit.ConflictError, audit.ErrThrottled,
// audit.ErrBusy, or anything else for a 500.
type Records interface {
	// Get returns a live record of org.
	Get(ctx context.Context, org string, id audit.RecordID) (audit.Record, error)
	// Create stores a new record, or recognises a retry of an earlier create (replayed).
	Create(ctx context.Context, n audit.NewRecord) (rec audit.Record, replayed bool, err error)
	// UpdateStatus moves a record to another status; changed is false for a no-op.
	UpdateStatus(ctx context.Context, org string, id audit.RecordID, c audit.StatusChange) (rec audit.Record, changed bool, err error)
	// AttachFileURL sets a record's file_url, by the user by; changed is false for a no-op.
	AttachFileURL(ctx context.Context, org string, id audit.RecordID, url, by string) (rec audit.Record, changed bool, err error)
	// Delete tombstones a record of org, by the user by.
	Delete(ctx context.Context, org string, id audit.RecordID, by string) error
	// List returns one page of an organisation's live records, newest first.
	List(ctx context.Context, f audit.ListFilter) (audit.Page, error)
}
