package audit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxSequence is the largest day sequence number a record_id may carry. The repository's sort
// key pads the sequence to this many digits so that key order is numeric order.
const MaxSequence = 999_999_999

// RecordID names a record: the UTC day it was created and that day's sequence number, written
// rec-YYYYMMDD-NNN with the number zero-padded to at least three digits.
type RecordID struct {
	Day time.Time // midnight UTC of the creation day
	Seq int64     // 1..MaxSequence
}

// NewRecordID names the seq-th record created on the UTC day of t.
func NewRecordID(t time.Time, seq int64) RecordID {
	y, m, d := t.UTC().Date()
	return RecordID{Day: time.Date(y, m, d, 0, 0, 0, 0, time.UTC), Seq: seq}
}

// DayKey is the day as YYYYMMDD.
func (id RecordID) DayKey() string { return id.Day.Format("20060102") }

func (id RecordID) String() string {
	return fmt.Sprintf("rec-%s-%03d", id.DayKey(), id.Seq)
}

// ParseRecordID accepts only the canonical spelling, so that one record has one id:
// "rec-20260301-0001" or "rec-20260301-01" are refused, as is any day that is not a date.
func ParseRecordID(s string) (RecordID, error) {
	bad := fmt.Errorf("record_id must look like rec-YYYYMMDD-NNN")
	day, seq, ok := strings.Cut(strings.TrimPrefix(s, "rec-"), "-")
	if !ok || !strings.HasPrefix(s, "rec-") || len(day) != 8 || len(seq) < 3 || len(seq) > 9 {
		return RecordID{}, bad
	}
	for _, c := range day + seq {
		if c < '0' || c > '9' {
			return RecordID{}, bad
		}
	}
	d, err := time.Parse("20060102", day)
	if err != nil {
		return RecordID{}, bad
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || n < 1 || n > MaxSequence {
		return RecordID{}, bad
	}
	id := RecordID{Day: d, Seq: n}
	if id.String() != s {
		return RecordID{}, bad
	}
	return id, nil
}
