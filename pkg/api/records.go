package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	org, given := b.str("org_id")
	return r.id.sameOrg(org, given)
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
	rec, changed, err := d.Records.AttachFileURL(ctx, r.id.OrgID, id, u)
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

// Default and largest page sizes of a list.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

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

var listParams = []string{"page", "limit", "org_id", "status", "format", "triggered_by_user_id", "export_id", "created_from", "created_to"}

// listFilter reads the list's query. Parameters come from the raw query string when there is
// one, so that a parameter given twice is refused rather than joined with a comma.
func listFilter(r *request) (audit.ListFilter, error) {
	q := url.Values{}
	if r.ev.RawQueryString != "" {
		var err error
		if q, err = url.ParseQuery(r.ev.RawQueryString); err != nil {
			return audit.ListFilter{}, audit.Invalid("query", "is not a valid query string")
		}
	} else {
		for k, v := range r.ev.QueryStringParameters {
			q.Set(k, v)
		}
	}
	e := &audit.ValidationError{}
	known := map[string]bool{}
	for _, p := range listParams {
		known[p] = true
	}
	for k, vs := range q {
		switch {
		case !known[k]:
			e.Add(k, "is not a known query parameter")
		case len(vs) > 1:
			e.Add(k, "is given more than once")
		}
	}
	// An org_id in the query was checked against the token's for every route in serve.
	f := audit.ListFilter{OrgID: r.id.OrgID, Page: 1, Limit: DefaultLimit}
	if v := q.Get("page"); q.Has("page") {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1_000_000 {
			e.Add("page", "must be a whole number from 1")
		} else {
			f.Page = n
		}
	}
	if v := q.Get("limit"); q.Has("limit") {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > MaxLimit {
			e.Add("limit", "must be a whole number from 1 to 100")
		} else {
			f.Limit = n
		}
	}
	if q.Has("status") {
		if f.Status = audit.Status(q.Get("status")); !f.Status.Valid() {
			e.Add("status", "must be one of queued, processing, completed, failed")
		}
	}
	if q.Has("format") {
		if f.Format = audit.Format(q.Get("format")); !f.Format.Valid() {
			e.Add("format", "must be one of excel, pdf, csv")
		}
	}
	if q.Has("triggered_by_user_id") {
		f.TriggeredBy = q.Get("triggered_by_user_id")
		audit.CheckIdentifier(e, "triggered_by_user_id", f.TriggeredBy)
	}
	if q.Has("export_id") {
		f.ExportID = q.Get("export_id")
		audit.CheckIdentifier(e, "export_id", f.ExportID)
	}
	if q.Has("created_from") {
		t, ok := queryTime(q.Get("created_from"), false)
		if !ok {
			e.Add("created_from", "must be an RFC 3339 time or a date written YYYY-MM-DD")
		}
		f.CreatedFrom = t
	}
	if q.Has("created_to") {
		t, ok := queryTime(q.Get("created_to"), true)
		if !ok {
			e.Add("created_to", "must be an RFC 3339 time or a date written YYYY-MM-DD")
		}
		f.CreatedTo = t
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && f.CreatedTo.Before(f.CreatedFrom) {
		e.Add("created_to", "must not be before created_from")
	}
	return f, e.Err()
}

// queryTime reads an inclusive bound on created_at, which holds whole seconds: a date means the
// whole day, and a bound between two seconds is moved to the second it includes.
func queryTime(s string, upper bool) (time.Time, bool) {
	if d, ok := audit.ParseDate(s); ok {
		if upper {
			return d.Add(24*time.Hour - time.Second), true
		}
		return d, true
	}
	if strings.ContainsAny(s, " ") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC()
	if upper {
		return t.Truncate(time.Second), true
	}
	if t2 := t.Truncate(time.Second); !t2.Equal(t) {
		return t2.Add(time.Second), true
	}
	return t, true
}
