package archive

import (
	"fmt"
	"strings"
	"time"
)

// The archive's two folders, in a bucket or a directory alike.
const (
	ChangesPrefix = "changes/"
	DigestsPrefix = "digests/"
)

// stampLayout names a period by its start: fixed width, so that names sort as times do.
const stampLayout = "20060102T150405Z"

// Periods cuts time into the sealing periods of one length, counted from the Unix epoch.
type Periods struct {
	length time.Duration
}

// NewPeriods returns periods of length d: a whole number of seconds, at least one, since a
// period is named to the second.
func NewPeriods(d time.Duration) (Periods, error) {
	if d < time.Second || d%time.Second != 0 {
		return Periods{}, fmt.Errorf("a seal interval must be a whole number of seconds, at least 1s, not %s", d)
	}
	return Periods{length: d}, nil
}

// Length is the periods' length.
func (p Periods) Length() time.Duration { return p.length }

// Start is the start of the period t lies in.
func (p Periods) Start(t time.Time) time.Time {
	n := int64(p.length / time.Second)
	s := t.Unix()
	r := s % n
	if r < 0 {
		r += n
	}
	return time.Unix(s-r, 0).UTC()
}

// Aligned says whether t starts a period.
func (p Periods) Aligned(t time.Time) bool {
	return t.Nanosecond() == 0 && p.Start(t).Equal(t)
}

// Stamp names the period that starts at start.
func Stamp(start time.Time) string { return start.UTC().Format(stampLayout) }

// ParseStamp reads a period's name.
func ParseStamp(s string) (time.Time, bool) {
	t, err := time.Parse(stampLayout, s)
	return t, err == nil && Stamp(t) == s
}

// ChangesDir is the prefix of the change objects of the period that starts at start.
func ChangesDir(start time.Time) string { return ChangesPrefix + Stamp(start) + "/" }

// DigestKey is the key of the digest of the period that starts at start.
func DigestKey(start time.Time) string { return DigestsPrefix + Stamp(start) + ".json" }

// ParseDigestKey reads the period start from a digest's key.
func ParseDigestKey(key string) (time.Time, bool) {
	name, ok := strings.CutPrefix(key, DigestsPrefix)
	if !ok {
		return time.Time{}, false
	}
	stamp, ok := strings.CutSuffix(name, ".json")
	if !ok {
		return time.Time{}, false
	}
	return ParseStamp(stamp)
}

// ParseChangeKey reads the period start from a change object's key.
func ParseChangeKey(key string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(key, ChangesPrefix)
	if !ok {
		return time.Time{}, false
	}
	stamp, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" || strings.Contains(name, "/") || !strings.HasSuffix(name, ".json") {
		return time.Time{}, false
	}
	return ParseStamp(stamp)
}
