package main

import (
	"testing"

	"github.com/bufdir/export-audit/pkg/archive/verify"
)

// BenchmarkRules_PerChange is what the service's rules add to the check of one change: the
// changes of a trail the API made (creates, moves, a file, deletes, the TTL's removal), each
// judged by every change rule, and the items they left by every rule across items once.
func BenchmarkRules_PerChange(b *testing.B) {
	tr := lived(b)
	tr.Wait(b)
	rules := serviceRules()
	var changes []verify.Change
	for _, r := range tr.Layer.Records(tbl) {
		changes = append(changes, verify.Change{EventName: r.EventName, Keys: r.Change.Keys, Old: r.Change.OldImage,
			New: r.Change.NewImage, Identity: r.UserIdentity})
	}
	if len(changes) == 0 {
		b.Fatal("the trail left no changes")
	}
	b.ResetTimer()
	for b.Loop() {
		for _, c := range changes {
			for _, rule := range rules.Change {
				if err := rule(c); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(changes)), "ns/change")
}
