package api

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/audit"
)

// Default and largest page sizes of a list.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

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
		t, ok := createdFrom(q.Get("created_from"))
		if !ok {
			e.Add("created_from", "must be an RFC 3339 time or a date written YYYY-MM-DD")
		}
		f.CreatedFrom = t
	}
	if q.Has("created_to") {
		t, ok := createdTo(q.Get("created_to"))
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

// createdFrom reads created_from, an inclusive lower bound on created_at, which holds whole
// seconds: a date means from the start of that day, and a time between two seconds moves up to
// the next second.
func createdFrom(s string) (time.Time, bool) {
	t, date, ok := queryTime(s)
	if !ok || date {
		return t, ok
	}
	if whole := t.Truncate(time.Second); !whole.Equal(t) {
		return whole.Add(time.Second), true
	}
	return t, true
}

// createdTo reads created_to, an inclusive upper bound on created_at: a date means to the end
// of that day, and a time between two seconds moves down to the second it includes.
func createdTo(s string) (time.Time, bool) {
	t, date, ok := queryTime(s)
	if !ok {
		return t, false
	}
	if date {
		return t.Add(24*time.Hour - time.Second), true
	}
	return t.Truncate(time.Second), true
}

// queryTime reads an RFC 3339 time, in UTC, or a date, as the start of its UTC day.
func queryTime(s string) (t time.Time, date, ok bool) {
	if d, ok := audit.ParseDate(s); ok {
		return d, true, true
	}
	if strings.ContainsAny(s, " ") {
		return time.Time{}, false, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false, false
	}
	return t.UTC(), false, true
}

// queryOrgIDs returns every org_id the query gives. A query that does not parse gives none
// here; the list reports it.
func queryOrgIDs(ev *events.APIGatewayV2HTTPRequest) []string {
	if ev.RawQueryString != "" {
		q, err := url.ParseQuery(ev.RawQueryString)
		if err != nil {
			return nil
		}
		return q["org_id"]
	}
	if v, ok := ev.QueryStringParameters["org_id"]; ok {
		return []string{v}
	}
	return nil
}
