package audit

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned for a record that does not exist, was deleted, or belongs to
// another organisation: callers cannot tell these apart, by design.
var ErrNotFound = errors.New("record not found")

// ErrThrottled means the storage was still refusing for too much traffic after its retries:
// nothing was done, and the caller may try again later.
var ErrThrottled = errors.New("storage is throttling")

// ErrBusy means other changes to the same records kept the storage refusing ours after every
// retry: nothing was done, and the caller may try again shortly.
var ErrBusy = errors.New("records are busy with other changes")

// FieldError says what is wrong with one field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError collects every problem found in one request, so a caller can fix them all
// at once.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Errors) == 1 {
		return fmt.Sprintf("%s %s", e.Errors[0].Field, e.Errors[0].Message)
	}
	return fmt.Sprintf("%d fields are invalid", len(e.Errors))
}

// Add records a problem with field.
func (e *ValidationError) Add(field, message string) {
	e.Errors = append(e.Errors, FieldError{Field: field, Message: message})
}

// Err returns e when it holds a problem and nil otherwise.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Errors) == 0 {
		return nil
	}
	return e
}

// Invalid is a ValidationError about one field.
func Invalid(field, message string) error {
	return &ValidationError{Errors: []FieldError{{Field: field, Message: message}}}
}

// Conflict codes: stable words the API hands to clients.
const (
	CodeIllegalTransition = "illegal_status_transition"
	CodeExportIDConflict  = "export_id_conflict"
	CodeFileURLAlreadySet = "file_url_already_set"
	CodeRecordFailed      = "record_failed"
)

// ConflictError is a request that is well-formed but clashes with the record's state.
type ConflictError struct {
	Code     string
	Detail   string
	RecordID string   // the record the request clashed with
	Allowed  []Status // for an illegal move: where the record may go from here
}

func (e *ConflictError) Error() string { return e.Detail }

// ErrConflict matches every *ConflictError with errors.Is, for a caller that needs to know
// only that the request clashed with the record's state, not how.
var ErrConflict = errors.New("conflicts with the record's state")

// Is makes errors.Is(err, ErrConflict) hold for every ConflictError.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
