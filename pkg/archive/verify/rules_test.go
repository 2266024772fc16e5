package verify_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bufdir/export-audit/pkg/archive/verify"
)

// exampleRules are a few of the service's rules, written against the tests' items, to show
// the hook at work; the service's own come from its item layout.
func exampleRules() verify.Rules {
	return verify.Rules{
		Name: func(keys, image verify.Image) string {
			if id, ok := image["record_id"]; ok && strings.HasPrefix(keys["sk"].String(), "REC#") {
				return id.String()
			}
			return ""
		},
		Change: []func(verify.Change) error{recordChange, guardChange},
		State:  []func([]verify.Item) []verify.Problem{everyLiveRecordHasItsGuard},
	}
}

var moves = map[string][]string{"queued": {"processing", "failed"}, "processing": {"completed", "failed"}}

func isRecord(c verify.Change) bool { return strings.HasPrefix(c.Keys["sk"].String(), "REC#") }

func recordChange(c verify.Change) error {
	if !isRecord(c) {
		return nil
	}
	switch c.EventName {
	case "INSERT":
		if h := c.New["history"].List(); len(h) != 1 || h[0].Map()["status"].String() != c.New["status"].String() {
			return errors.New("created without exactly one history entry of its status")
		}
		return nil
	case "REMOVE":
		if !c.ByTTL() {
			return errors.New("removed, by someone other than the TTL")
		}
		if _, ok := c.Old["deleted_at"]; !ok {
			return errors.New("removed by the TTL, but it was no tombstone")
		}
		return nil
	}
	for _, f := range []string{"record_id", "export_id"} {
		if c.Old[f].String() != c.New[f].String() {
			return fmt.Errorf("%s changed from %q to %q", f, c.Old[f].String(), c.New[f].String())
		}
	}
	from, to := c.Old["status"].String(), c.New["status"].String()
	oldH, newH := c.Old["history"].List(), c.New["history"].List()
	if from == to {
		if len(oldH) != len(newH) {
			return errors.New("history changed without a status move")
		}
		return nil
	}
	legal := false
	for _, s := range moves[from] {
		legal = legal || s == to
	}
	if !legal {
		return fmt.Errorf("status moved from %s to %s, which the API never does", from, to)
	}
	if len(newH) != len(oldH)+1 || newH[len(oldH)].Map()["status"].String() != to {
		return errors.New("a status move that does not append exactly one history entry")
	}
	return nil
}

func guardChange(c verify.Change) error {
	if isRecord(c) || c.EventName != "MODIFY" {
		return nil
	}
	return errors.New("an export_id guard changed, which the API never does")
}

func everyLiveRecordHasItsGuard(items []verify.Item) []verify.Problem {
	guards := map[string]bool{}
	for _, it := range items {
		if sk := it.Keys["sk"].String(); strings.HasPrefix(sk, "EXP#") {
			guards[it.Keys["pk"].String()+"|"+strings.TrimPrefix(sk, "EXP#")] = true
		}
	}
	var out []verify.Problem
	for _, it := range items {
		if !strings.HasPrefix(it.Keys["sk"].String(), "REC#") {
			continue
		}
		if _, deleted := it.Image["deleted_at"]; deleted {
			continue
		}
		if !guards[it.Keys["pk"].String()+"|"+it.Image["export_id"].String()] {
			out = append(out, verify.Problem{Subject: it.Name, What: "a live record without its export_id guard"})
		}
	}
	return out
}
