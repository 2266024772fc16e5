package audit

import (
	"fmt"
	"time"
)

// MaxClockSkew is how far ahead of the server's clock a caller may date a change.
const MaxClockSkew = 5 * time.Minute

// MaxFailureReason is the longest failure_reason, in characters.
const MaxFailureReason = 1000

// StatusChange is a validated request to move a record to another status.
type StatusChange struct {
	To            Status
	At            time.Time // whole seconds, UTC
	ActivityCount *int64
	FailureReason *string
	By            string
}

// Outcome is what a change means for a record as it is, when it is not refused.
type Outcome int

const (
	// Applies means the change may be written.
	Applies Outcome = iota
	// Unchanged means the record already is as the change would leave it: a no-op.
	Unchanged
)

// Decide decides the change against the record as it is, for when the repository's
// conditional write did not apply: Unchanged when the record already has the status, or the
// error the caller gets.
func (c StatusChange) Decide(current Record) (Outcome, error) {
	if current.Status == c.To {
		return Unchanged, nil
	}
	if !current.Status.CanMoveTo(c.To) {
		return Applies, &ConflictError{
			Code:     CodeIllegalTransition,
			RecordID: current.RecordID,
			Allowed:  current.Status.Moves(),
			Detail:   illegalMoveDetail(current.Status, c.To),
		}
	}
	if c.At.Before(current.CreatedAt) {
		return Applies, Invalid("updated_at", "must not be before the record's created_at "+current.CreatedAt.Format(time.RFC3339))
	}
	// The history is oldest first, so a change may not be dated before the one it follows.
	if n := len(current.History); n > 0 && c.At.Before(current.History[n-1].At) {
		last := current.History[n-1]
		return Applies, Invalid("updated_at", "must not be before the record's last status change ("+string(last.Status)+" at "+last.At.Format(time.RFC3339)+")")
	}
	return Applies, nil
}

func illegalMoveDetail(from, to Status) string {
	if from.Final() {
		return fmt.Sprintf("cannot move from %s to %s: %s is final", from, to, from)
	}
	return fmt.Sprintf("cannot move from %s to %s; allowed: %s", from, to, joinStatuses(from.Moves()))
}

// Apply returns the record after the change, with its history entry appended.
func (c StatusChange) Apply(r Record) Record {
	r.Status = c.To
	r.UpdatedAt = c.At
	if c.ActivityCount != nil {
		r.ActivityCount = c.ActivityCount
	}
	if c.FailureReason != nil {
		r.FailureReason = c.FailureReason
	}
	r.History = append(append([]HistoryEntry(nil), r.History...), HistoryEntry{Status: c.To, At: c.At, By: c.By})
	return r
}

// DecideFileURL decides attaching url to the record as it is, for when the repository's
// conditional write did not apply: Unchanged when the record has that file_url already, or the
// error the caller gets.
func DecideFileURL(current Record, url string) (Outcome, error) {
	if current.FileURL != nil {
		if *current.FileURL == url {
			return Unchanged, nil
		}
		return Applies, &ConflictError{
			Code:     CodeFileURLAlreadySet,
			RecordID: current.RecordID,
			Detail:   "the record already has a different file_url; it does not change once set",
		}
	}
	if current.Status == StatusFailed {
		return Applies, &ConflictError{
			Code:     CodeRecordFailed,
			RecordID: current.RecordID,
			Detail:   "the export failed; a failed record takes no file",
		}
	}
	return Applies, nil
}
