package audit_test

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/bufdir/export-audit/pkg/audit"
)

var canonicalID = regexp.MustCompile(`^rec-(\d{8})-(\d{3,9})$`)

// FuzzParseRecordID: ParseRecordID never panics, accepts exactly the canonical spellings (a
// real UTC date, a sequence from 1 to 999999999 padded to three digits and no more), and what
// it accepts prints back as the same string.
func FuzzParseRecordID(f *testing.F) {
	for _, s := range []string{
		"rec-20260301-001", "rec-20260301-999", "rec-20260301-1000", "rec-20240229-042", "rec-20260301-999999999",
		"rec-20260301-0001", "rec-20260301-000", "rec-20250229-001", "rec-20260301-1e3", "rec-20260301--01",
		"rec-20260301-+01", "rec-+2026031-001", "rec-20260301-001/..", "REC-20260301-001", "rec-２0260301-001", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := audit.ParseRecordID(s)
		want := false
		if m := canonicalID.FindStringSubmatch(s); m != nil {
			_, derr := time.Parse("20060102", m[1])
			n, _ := strconv.ParseInt(m[2], 10, 64)
			want = derr == nil && n >= 1 && fmt.Sprintf("%03d", n) == m[2]
		}
		if (err == nil) != want {
			t.Fatalf("%q: accepted=%v, want %v (err %v)", s, err == nil, want, err)
		}
		if err != nil {
			return
		}
		if id.String() != s || id.Seq < 1 || id.Seq > audit.MaxSequence || id.Day.Location() != time.UTC {
			t.Fatalf("%q parsed to %+v, which prints %q", s, id, id.String())
		}
		if again, err := audit.ParseRecordID(id.String()); err != nil || again != id {
			t.Fatalf("%q: parsing its own print gave %+v, %v", s, again, err)
		}
	})
}
