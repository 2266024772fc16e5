package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/bufdir/export-audit/pkg/audit"
)

// Problem is an RFC 9457 problem document; code is the stable word clients match on.
type Problem struct {
	Type         string             `json:"type"`
	Title        string             `json:"title"`
	Status       int                `json:"status"`
	Code         string             `json:"code"`
	Detail       string             `json:"detail"`
	Errors       []audit.FieldError `json:"errors,omitempty"`
	RecordID     string             `json:"record_id,omitempty"`
	AllowedMoves *[]audit.Status    `json:"allowed_moves,omitempty"` // set, maybe empty, on an illegal move

	cause   error // logged, never sent
	headers map[string]string
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// problem makes a problem document with the standard title for status.
func problem(status int, code, detail string) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

// retryAfter is what a throttled caller is told to wait, in seconds: long enough for DynamoDB's
// adaptive capacity to react, short enough for the export service's own retry loop.
const retryAfter = 2

// toProblem is the one place where errors become status codes.
func toProblem(err error) *Problem {
	var (
		p   *Problem
		ve  *audit.ValidationError
		ce  *audit.ConflictError
		out *Problem
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &ve):
		out = problem(http.StatusBadRequest, "validation_failed", ve.Error())
		out.Errors = ve.Errors
	case errors.Is(err, audit.ErrNotFound):
		out = problem(http.StatusNotFound, "not_found", "no such record")
	case errors.As(err, &ce):
		out = problem(http.StatusConflict, ce.Code, ce.Detail)
		out.RecordID = ce.RecordID
		if ce.Code == audit.CodeIllegalTransition {
			allowed := append([]audit.Status{}, ce.Allowed...)
			out.AllowedMoves = &allowed
		}
	case errors.Is(err, audit.ErrThrottled):
		out = problem(http.StatusServiceUnavailable, "throttled", "the service is busy; try again shortly")
		out.headers = map[string]string{"Retry-After": strconv.Itoa(retryAfter)}
	case errors.Is(err, audit.ErrBusy):
		out = problem(http.StatusServiceUnavailable, "busy", "the record is busy with other changes; try again shortly")
		out.headers = map[string]string{"Retry-After": strconv.Itoa(retryAfter)}
	case errors.Is(err, context.DeadlineExceeded):
		out = problem(http.StatusServiceUnavailable, "timeout", "the service did not answer in time; try again shortly")
		out.headers = map[string]string{"Retry-After": strconv.Itoa(retryAfter)}
	default:
		out = problem(http.StatusInternalServerError, "internal_error", "something went wrong on our side")
	}
	out.cause = err
	return out
}
