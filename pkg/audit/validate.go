package audit

import (
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxIdentifier is the longest export_id, org_id or user id.
const MaxIdentifier = 128

// MaxFileURL is the longest file_url, in bytes.
const MaxFileURL = 2048

// ValidIdentifier reports whether s is 1–128 characters of A-Z a-z 0-9 . _ : -
func ValidIdentifier(s string) bool {
	if len(s) == 0 || len(s) > MaxIdentifier {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

const identifierRule = "must be 1-128 characters of A-Z a-z 0-9 . _ : -"

// CheckIdentifier adds a problem to e when v is not an identifier.
func CheckIdentifier(e *ValidationError, field, v string) {
	if !ValidIdentifier(v) {
		e.Add(field, identifierRule)
	}
}

// ParseDate parses a calendar date written YYYY-MM-DD.
func ParseDate(s string) (time.Time, bool) {
	if len(s) != len("2006-01-02") {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02", s)
	return t, err == nil
}

// Validate checks every field of n and reports all problems at once.
func (n NewRecord) Validate() error {
	e := &ValidationError{}
	CheckIdentifier(e, "export_id", n.ExportID)
	CheckIdentifier(e, "org_id", n.OrgID)
	CheckIdentifier(e, "triggered_by_user_id", n.TriggeredBy)
	if !n.Format.Valid() {
		e.Add("format", "must be one of excel, pdf, csv")
	}
	if !InitialStatus(n.Status) {
		e.Add("status", "must be queued or processing when a record is created")
	}
	from, okFrom := ParseDate(n.PeriodFrom)
	if !okFrom {
		e.Add("period_from", "must be a date written YYYY-MM-DD")
	}
	to, okTo := ParseDate(n.PeriodTo)
	if !okTo {
		e.Add("period_to", "must be a date written YYYY-MM-DD")
	}
	if okFrom && okTo && to.Before(from) {
		e.Add("period_to", "must not be before period_from")
	}
	if n.ActivityCount != nil && *n.ActivityCount < 0 {
		e.Add("activity_count", "must be 0 or more")
	}
	return e.Err()
}

// Validate checks c on its own, against the server's clock now; whether it fits the record is
// Decide's question.
func (c StatusChange) Validate(now time.Time) error {
	e := &ValidationError{}
	if !c.To.Valid() {
		e.Add("status", "must be one of queued, processing, completed, failed")
	}
	if c.At.After(now.Add(MaxClockSkew)) {
		e.Add("updated_at", "must not be more than 5 minutes ahead of the server's clock")
	}
	if c.ActivityCount != nil && *c.ActivityCount < 0 {
		e.Add("activity_count", "must be 0 or more")
	}
	if c.FailureReason != nil {
		switch {
		case c.To != StatusFailed:
			e.Add("failure_reason", "is only allowed with status failed")
		case utf8.RuneCountInString(*c.FailureReason) > MaxFailureReason:
			e.Add("failure_reason", "must be at most 1000 characters")
		case !prose(*c.FailureReason):
			e.Add("failure_reason", "must not contain control characters other than newline and tab")
		}
	}
	return e.Err()
}

// prose reports whether s holds no control characters but newlines and tabs.
func prose(s string) bool {
	for _, r := range s {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// ValidateFileURL checks that raw is an absolute https URL without user info, at most 2048
// bytes, and, when allowedHosts is not empty, on a host that ends with one of its suffixes.
func ValidateFileURL(raw string, allowedHosts []string) error {
	const field = "file_url"
	if raw == "" {
		return Invalid(field, "is required")
	}
	if len(raw) > MaxFileURL {
		return Invalid(field, "must be at most 2048 characters")
	}
	// url.Parse lets spaces through; a URL with white space or control characters is never
	// one a storage service produced, and CR/LF could split a header where the URL is echoed.
	for _, r := range raw {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return Invalid(field, "must not contain white space or control characters")
		}
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return Invalid(field, "must be an absolute URL")
	}
	if u.Scheme != "https" {
		return Invalid(field, "must use https")
	}
	if u.User != nil {
		return Invalid(field, "must not contain user info")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return Invalid(field, "must name a host")
	}
	if len(allowedHosts) > 0 && !hostAllowed(host, allowedHosts) {
		return Invalid(field, "host "+host+" is not one of the allowed hosts")
	}
	return nil
}

// hostAllowed matches host against suffixes on label boundaries, so "example.no" allows
// "storage.example.no" but not "badexample.no".
func hostAllowed(host string, suffixes []string) bool {
	for _, s := range suffixes {
		s = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "."))
		if s == "" {
			continue
		}
		if host == s || strings.HasSuffix(host, "."+s) {
			return true
		}
	}
	return false
}

// ListFilter is a validated list request of one organisation.
type ListFilter struct {
	OrgID       string
	Page        int // from 1
	Limit       int // 1..100
	Status      Status
	Format      Format
	TriggeredBy string
	ExportID    string
	CreatedFrom time.Time // inclusive; zero when unset
	CreatedTo   time.Time // inclusive; zero when unset
}

// Unfiltered reports whether the filter selects every live record of the organisation.
func (f ListFilter) Unfiltered() bool {
	return f.Status == "" && f.Format == "" && f.TriggeredBy == "" && f.ExportID == "" &&
		f.CreatedFrom.IsZero() && f.CreatedTo.IsZero()
}

// Matches reports whether r passes the filter's conditions.
func (f ListFilter) Matches(r Record) bool {
	return (f.Status == "" || r.Status == f.Status) &&
		(f.Format == "" || r.Format == f.Format) &&
		(f.TriggeredBy == "" || r.TriggeredBy == f.TriggeredBy) &&
		(f.ExportID == "" || r.ExportID == f.ExportID) &&
		(f.CreatedFrom.IsZero() || !r.CreatedAt.Before(f.CreatedFrom)) &&
		(f.CreatedTo.IsZero() || !r.CreatedAt.After(f.CreatedTo))
}

// Page is one page of a list and the number of records that match in all.
type Page struct {
	Records []Record
	Total   int
}
