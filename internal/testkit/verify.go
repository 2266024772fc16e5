package testkit

import (
	"strings"
	"testing"

	"github.com/bufdir/export-audit/pkg/archive/verify"
)

// Report is rep as make verify prints it, for a failure message to show.
func Report(rep *verify.Report) string {
	var b strings.Builder
	_ = rep.Write(&b)
	return b.String()
}

// NoProblems stops t when verify found any problem in trail, printing the report.
func NoProblems(t testing.TB, trail string, rep *verify.Report) {
	t.Helper()
	if len(rep.Problems) != 0 {
		t.Fatalf("problems in %s:\n%s", trail, Report(rep))
	}
}
