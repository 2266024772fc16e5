package api

import (
	"context"
	"net/http"
	"time"

	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
)

// The six operations, one per Lambda function.
var (
	ListRecords   = operation("list-records", list)
	GetRecord     = operation("get-record", get)
	CreateRecord  = operation("create-record", create)
	UpdateStatus  = operation("update-status", updateStatus)
	AttachFileURL = operation("attach-file-url", attachFileURL)
	DeleteRecord  = operation("delete-record", deleteRecord)
)

// Operations lists every operation, in the order of config.Routes.
var Operations = []Operation{ListRecords, GetRecord, CreateRecord, UpdateStatus, AttachFileURL, DeleteRecord}

func operation(function string, run func(context.Context, *Deps, *request) (*response, error)) Operation {
	for _, r := range config.Routes {
		if r.Function == function {
			return Operation{Route: r, run: run}
		}
	}
	panic("api: no route for function " + function)
}

// recordID reads and checks the record_id path parameter.
func (r *request) recordID() (audit.RecordID, error) {
	raw := r.ev.PathParameters["record_id"]
	id, err := audit.ParseRecordID(raw)
	if err != nil {
		return audit.RecordID{}, audit.Invalid("record_id", err.Error())
	}
	r.loggedID = id.String()
	return id, nil
}

// bodyOrg refuses an org_id in the body that is not the caller's. Only create takes the field;
// on the other routes it is also an unknown field, but naming another organisation is a 403.
func (r *request) bodyOrg(b *body) error {
	if org, given := b.str("org_id"); given {
		return r.id.sameOrg(org)
	}
	return nil
}

func ok(body any) *response { return &response{status: http.StatusOK, body: body} }

func get(ctx context.Context, d *Deps, r *request) (*response, error) {
	id, err := r.recordID()
	if err != nil {
		return nil, err
	}
	rec, err := d.Records.Get(ctx, r.id.OrgID, id)
	if err != nil {
		return nil, err
	}
	return ok(rec), nil
}

func create(ctx context.Context, d *Deps, r *request) (*response, error) {
	b, err := readBody(r.ev, "export_id", "format", "period_from", "period_to", "status", "org_id", "triggered_by_user_id", "activity_count")
	if err != nil {
		return nil, err
	}
	if err := r.bodyOrg(b); err != nil {
		return nil, err
	}
	n := audit.NewRecord{
		ExportID:      b.required("export_id"),
		Format:        audit.Format(b.required("format")),
		PeriodFrom:    b.required("period_from"),
		PeriodTo:      b.required("period_to"),
		Status:        audit.StatusQueued,
		OrgID:         r.id.OrgID,
		TriggeredBy:   r.id.Sub,
		ActivityCount: b.count("activity_count"),
		By:            r.id.Sub,
	}
	if s, ok := b.str("status"); ok {
		n.Status = audit.Status(s)
	}
	if u, ok := b.str("triggered_by_user_id"); ok {
		n.TriggeredBy = u
	} else if !audit.ValidIdentifier(r.id.Sub) {
		// The default would fail validation under a name the caller never sent.
		b.errs.Add("triggered_by_user_id", "is required: the token's sub is not an identifier of A-Z a-z 0-9 . _ : -")
	}
	if err := b.errs.Err(); err != nil {
		return nil, merge(err, n.Validate())
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	rec, replayed, err := d.Records.Create(ctx, n)
	if err != nil {
		return nil, err
	}
	r.loggedID = rec.RecordID
	countCreate(ctx, replayed)
	if replayed {
		return &response{status: http.StatusOK, body: rec, headers: map[string]string{"Idempotent-Replayed": "true"}}, nil
	}
	return &response{status: http.StatusCreated, body: rec, headers: map[string]string{"Location": config.BasePath + "/" + rec.RecordID}}, nil
}

// merge reports the body's shape problems together with the fields' own, skipping fields
// already named, so that a caller sees every problem in one answer.
func merge(shape error, values error) error {
	se := shape.(*audit.ValidationError)
	ve, _ := values.(*audit.ValidationError)
	if ve == nil {
		return se
	}
	named := map[string]bool{}
	for _, e := range se.Errors {
		named[e.Field] = true
	}
	for _, e := range ve.Errors {
		if !named[e.Field] {
			se.Errors = append(se.Errors, e)
		}
	}
	return se
}

func updateStatus(ctx context.Context, d *Deps, r *request) (*response, error) {
	id, err := r.recordID()
	if err != nil {
		return nil, err
	}
	b, err := readBody(r.ev, "status", "updated_at", "activity_count", "failure_reason")
	if err != nil {
		return nil, err
	}
	if err := r.bodyOrg(b); err != nil {
		return nil, err
	}
	now := d.Now()
	c := audit.StatusChange{
		To:            audit.Status(b.required("status")),
		At:            audit.Timestamp(now),
		ActivityCount: b.count("activity_count"),
		By:            r.id.Sub,
	}
	if s, ok := b.str("updated_at"); ok {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			b.errs.Add("updated_at", "must be an RFC 3339 time such as 2026-03-26T10:03:00Z")
		} else {
			c.At = audit.Timestamp(t)
		}
	}
	if s, ok := b.str("failure_reason"); ok {
		c.FailureReason = &s
	}
	if err := b.errs.Err(); err != nil {
		return nil, merge(err, c.Validate(now))
	}
	if err := c.Validate(now); err != nil {
		return nil, err
	}
	rec, changed, err := d.Records.UpdateStatus(ctx, r.id.OrgID, id, c)
	if err != nil {
		return nil, err
	}
	countStatusMove(ctx, c.To, changed)
	return ok(rec), nil
}

func attachFileURL(ctx context.Context, d *Deps, r *request) (*response, error) {
	id, err := r.recordID()
	if err != nil {
		return nil, err
	}
	b, err := readBody(r.ev, "file_url")
	if err != nil {
		return nil, err
	}
	if err := r.bodyOrg(b); err != nil {
		return nil, err
	}
	u := b.required("file_url")
	if err := b.errs.Err(); err != nil {
		return nil, err
	}
	if err := audit.ValidateFileURL(u, d.Settings.FileURLAllowedHosts); err != nil {
		return nil, err
	}
	rec, changed, err := d.Records.AttachFileURL(ctx, r.id.OrgID, id, u, r.id.Sub)
	if err != nil {
		return nil, err
	}
	countNoop(ctx, changed)
	return ok(rec), nil
}

func deleteRecord(ctx context.Context, d *Deps, r *request) (*response, error) {
	id, err := r.recordID()
	if err != nil {
		return nil, err
	}
	if err := d.Records.Delete(ctx, r.id.OrgID, id, r.id.Sub); err != nil {
		return nil, err
	}
	return ok(map[string]any{"deleted": true, "record_id": id.String()}), nil
}

func list(ctx context.Context, d *Deps, r *request) (*response, error) {
	f, err := listFilter(r)
	if err != nil {
		return nil, err
	}
	page, err := d.Records.List(ctx, f)
	if err != nil {
		return nil, err
	}
	data := page.Records
	if data == nil {
		data = []audit.Record{}
	}
	return ok(map[string]any{
		"data":       data,
		"pagination": map[string]int{"page": f.Page, "limit": f.Limit, "total": page.Total},
	}), nil
}
