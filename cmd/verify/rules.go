package main

import (
	"strings"

	"github.com/bufdir/export-audit/pkg/archive/verify"
)

// serviceRules are the service's rules for point 3 of the check. The rules for each kind of
// item (a record's creation, status moves, file URL, tombstone and TTL removal; the guards,
// stats and counters; the live count) come from the store's item layout and belong here.
func serviceRules() verify.Rules {
	return verify.Rules{Name: recordName}
}

// recordName names a record by its record_id, as the contract's problem lines do; any other
// item is named by its key.
func recordName(keys, image verify.Image) string {
	sk, _ := verify.String(keys, "sk")
	if id, ok := verify.String(image, "record_id"); ok && strings.HasPrefix(sk, "REC#") {
		return id
	}
	return ""
}
