package audit

import "strings"

// Status is where an export is in its life. The zero value is not a valid status.
type Status string

// The statuses a record moves through: queued → processing → completed | failed.
const (
	StatusQueued     Status = "queued"
	StatusProcessing Status = "processing"
	StatusCompleted  Status = "completed"
	StatusFailed     Status = "failed"
)

// Statuses lists every status in the order of the machine.
var Statuses = []Status{StatusQueued, StatusProcessing, StatusCompleted, StatusFailed}

// moves is the whole status machine; completed and failed are final.
var moves = map[Status][]Status{
	StatusQueued:     {StatusProcessing, StatusCompleted, StatusFailed},
	StatusProcessing: {StatusCompleted, StatusFailed},
}

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusQueued, StatusProcessing, StatusCompleted, StatusFailed:
		return true
	}
	return false
}

// CanMoveTo reports whether a record in status s may move to t.
func (s Status) CanMoveTo(t Status) bool {
	for _, m := range moves[s] {
		if m == t {
			return true
		}
	}
	return false
}

// Moves lists the statuses s may move to; empty for a final status.
func (s Status) Moves() []Status { return moves[s] }

// Final reports whether no move leaves s.
func (s Status) Final() bool { return len(moves[s]) == 0 }

// Sources lists the statuses from which a record may move to t.
func Sources(t Status) []Status {
	var from []Status
	for _, s := range Statuses {
		if s.CanMoveTo(t) {
			from = append(from, s)
		}
	}
	return from
}

// InitialStatus reports whether a record may be created in status s.
func InitialStatus(s Status) bool { return s == StatusQueued || s == StatusProcessing }

func joinStatuses(ss []Status) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}
