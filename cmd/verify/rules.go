package main

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/bufdir/export-audit/pkg/archive/verify"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/change"
	"github.com/bufdir/export-audit/pkg/image"
	"github.com/bufdir/export-audit/pkg/item"
)

// serviceRules are the service's rules for point 3 of the check, from the store's item layout
// (package item) and what the store's writes do to each kind of item:
//   - a record: what package change judges (a creation, a status move, the file, a tombstone,
//     the TTL's removal of a tombstone);
//   - a guard: put once by the create's transaction, never changed, removed by the delete's;
//   - an organisation's live count: made by its first create at 1, then one more per create
//     and one less per delete (the same transactions), never removed;
//   - a day's counter: made at sequence 1, then one more per sequence number taken, its
//     last_at never earlier and always of its day, never removed.
//
// Across the items the archive's changes left, what those transactions keep together: each
// live record has the guard of its export_id and each guard its live record, each
// organisation's live count is its number of live records, and each record's sequence number
// and created_at were handed out by its day's counter.
func serviceRules() verify.Rules {
	return verify.Rules{
		Name:   itemName,
		Change: []func(verify.Change) error{itemChange},
		State:  []func([]verify.Item) []verify.Problem{acrossItems},
	}
}

// itemName names a record by its record_id, as the contract's problem lines do, and the
// other items by what they are: a guard by the record_id it holds and its export_id, a live
// count by its organisation, a counter by its day. An item of no kind is named by its key.
func itemName(keys, img verify.Image) string {
	pk, _ := verify.String(keys, item.AttrPK)
	sk, _ := verify.String(keys, item.AttrSK)
	org := strings.TrimPrefix(pk, item.OrgPrefix)
	k, _ := image.ToSDK(keys)
	switch item.KindOf(k) {
	case item.KindRecord:
		if id, ok := item.ParseRecordSK(sk); ok {
			return id.String()
		}
		id, _ := verify.String(img, "record_id")
		return id
	case item.KindGuard:
		exp := strings.TrimPrefix(sk, item.GuardPrefix)
		if id, ok := verify.String(img, "record_id"); ok && id != "" {
			return fmt.Sprintf("%s (guard of export_id %s)", id, exp)
		}
		return fmt.Sprintf("guard of export_id %s of org %s", exp, org)
	case item.KindStats:
		return "live count of org " + org
	case item.KindCounter:
		return "sequence counter of " + strings.TrimPrefix(pk, item.CounterPrefix)
	}
	return ""
}

// itemChange judges one change of any item by its kind.
func itemChange(c verify.Change) error {
	keys, err := image.ToSDK(c.Keys)
	if err != nil {
		return fmt.Errorf("a key that does not read: %v", err)
	}
	kind := item.KindOf(keys)
	switch {
	case kind == item.KindRecord:
		return recordChange(c)
	case kind == item.Unknown:
		return fmt.Errorf("an item of no kind the service writes, %s", strings.ToLower(c.EventName))
	case c.EventName == "REMOVE" && kind == item.KindStats:
		return errors.New("a live count removed, which the service never does")
	case c.EventName == "REMOVE" && kind == item.KindCounter:
		return errors.New("a counter removed, which the service never does: its numbers could be handed out again")
	}
	old, err := image.ToSDK(c.Old)
	if err == nil {
		var now image.Item
		if now, err = image.ToSDK(c.New); err == nil {
			switch kind {
			case item.KindGuard:
				return guardChange(c, old, now)
			case item.KindStats:
				return statsChange(old, now)
			default:
				return counterChange(old, now)
			}
		}
	}
	return fmt.Errorf("an image that does not read: %v", err)
}

// recordChange is package change's judgement. The problem line names the record already, so
// the reason is said without the record's name.
func recordChange(c verify.Change) error {
	_, err := change.JudgeImages(c.EventName, c.Keys, c.Old, c.New, c.Identity)
	var il *change.Illegal
	if errors.As(err, &il) {
		return fmt.Errorf("%s (%s): no API operation makes this change", il.Reason, il.EventName)
	}
	return err
}

func guardChange(c verify.Change, old, now image.Item) error {
	switch c.EventName {
	case "MODIFY":
		return fmt.Errorf("a guard changed in %s: the service writes a guard once, with its record, and only removes it",
			strings.Join(image.Differing(c.Old, c.New), ", "))
	case "REMOVE":
		if c.ByTTL() {
			return errors.New("a guard removed by the TTL, though the service gives a guard no expires_at")
		}
		return nil
	}
	_, g, err := exactly[item.Guard]("guard", nil, now)
	switch {
	case err != nil:
		return err
	case g.PK != item.OrgPK(g.OrgID) || g.SK != item.GuardSK(g.ExportID):
		return fmt.Errorf("a guard created with org_id %q and export_id %q under another key", g.OrgID, g.ExportID)
	}
	if _, err := audit.ParseRecordID(g.RecordID); err != nil {
		return fmt.Errorf("a guard created naming %q, which is no record_id", g.RecordID)
	}
	if err := g.Request().Validate(); err != nil {
		return fmt.Errorf("a guard created for a create the API refuses: %v", err)
	}
	return nil
}

// stats is an organisation's live count as the table holds it.
type stats struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	item.Stats
}

func statsChange(old, now image.Item) error {
	o, n, err := exactly[stats]("live count", old, now)
	switch {
	case err != nil:
		return err
	case o == nil && n.Live != 1:
		return fmt.Errorf("a live count created at %d: an organisation's first create makes it, at 1", n.Live)
	case o != nil && ((n.Live-o.Live != 1 && n.Live-o.Live != -1) || n.Live < 0):
		return fmt.Errorf("a live count changed from %d to %d: a create adds one, a delete takes one away", o.Live, n.Live)
	}
	return nil
}

// counter is a day's counter as the table holds it.
type counter struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	item.Counter
}

func counterChange(old, now image.Item) error {
	o, n, err := exactly[counter]("counter", old, now)
	switch {
	case err != nil:
		return err
	case o == nil && n.Seq != 1:
		return fmt.Errorf("a counter created at sequence %d: the day's first create takes 1", n.Seq)
	case o != nil && n.Seq != o.Seq+1:
		return fmt.Errorf("a counter moved from sequence %d to %d: each create takes the next one", o.Seq, n.Seq)
	case o != nil && n.LastAt < o.LastAt:
		return fmt.Errorf("a counter's last_at moved back from %s to %s: created_at never decreases as the sequence grows", o.LastAt, n.LastAt)
	}
	// The store takes a number from the counter of the day of the created_at it hands out.
	at, err := item.ParseTime(n.LastAt)
	if err != nil || item.FormatTime(at) != n.LastAt {
		return fmt.Errorf("a counter's last_at %q is no time as the service writes times", n.LastAt)
	}
	if item.CounterPK(at.Format("20060102")) != n.PK {
		return fmt.Errorf("a counter's last_at %s is not on its day", n.LastAt)
	}
	return nil
}

// exactly reads a change's old and new images (nil: none) as items of type T, each exactly as
// the store writes such an item: encoded again, it is the image, attribute for attribute and
// spelling for spelling.
func exactly[T any](what string, old, now image.Item) (o, n *T, err error) {
	read := func(which string, av image.Item) (*T, error) {
		if av == nil {
			return nil, nil
		}
		out := new(T)
		odd, err := item.DecodeAsWritten(av, out)
		if err != nil {
			return nil, fmt.Errorf("the %s image is no %s the service writes: %v", which, what, err)
		}
		if len(odd) > 0 {
			return nil, fmt.Errorf("the %s image is no %s the service writes: it has %s otherwise", which, what, strings.Join(odd, ", "))
		}
		return out, nil
	}
	if o, err = read("old", old); err == nil {
		n, err = read("new", now)
	}
	return o, n, err
}

// acrossItems reads the items the archive's changes left once, and checks what the store's
// transactions keep together across them.
func acrossItems(items []verify.Item) []verify.Problem {
	s := readState(items)
	return slices.Concat(guarded(s), liveCounts(s), counted(s))
}

// state is the items the archive's changes left, read by kind. An item whose image does not
// read is left out: its changes were problems already.
type state struct {
	records  []named[item.Record]
	guards   map[string]named[item.Guard] // by pk and sk
	stats    map[string]named[stats]      // by org
	counters map[string]item.Counter      // by day
}

type named[T any] struct {
	name string
	it   T
}

func readState(items []verify.Item) state {
	s := state{guards: map[string]named[item.Guard]{}, stats: map[string]named[stats]{}, counters: map[string]item.Counter{}}
	for _, it := range items {
		av, err := image.ToSDK(it.Image)
		if err != nil {
			continue
		}
		switch item.KindOf(av) {
		case item.KindRecord:
			var r item.Record
			if item.Decode(av, &r) == nil {
				s.records = append(s.records, named[item.Record]{it.Name, r})
			}
		case item.KindGuard:
			var g item.Guard
			if item.Decode(av, &g) == nil {
				s.guards[g.PK+"|"+g.SK] = named[item.Guard]{it.Name, g}
			}
		case item.KindStats:
			var st stats
			if item.Decode(av, &st) == nil {
				s.stats[st.PK] = named[stats]{it.Name, st}
			}
		case item.KindCounter:
			var c counter
			if item.Decode(av, &c) == nil {
				s.counters[strings.TrimPrefix(c.PK, item.CounterPrefix)] = c.Counter
			}
		}
	}
	return s
}

// guarded: the create's transaction writes a record and the guard of its export_id together,
// the delete's tombstones the one and removes the other, so each live record has its guard and
// each guard names its live record, made by the same create.
func guarded(s state) []verify.Problem {
	var out []verify.Problem
	records := map[string]item.Record{}
	for _, r := range s.records {
		records[r.it.PK+"|"+r.it.RecordID] = r.it
		if r.it.Deleted() {
			continue
		}
		g, ok := s.guards[r.it.PK+"|"+item.GuardSK(r.it.ExportID)]
		switch {
		case !ok:
			out = append(out, verify.Problem{Subject: r.name, What: fmt.Sprintf(
				"a live record without the guard of its export_id %s: a create could take the export_id again", r.it.ExportID)})
		case g.it.RecordID != r.it.RecordID:
			out = append(out, verify.Problem{Subject: r.name, What: fmt.Sprintf(
				"a live record whose export_id %s is guarded for %s", r.it.ExportID, g.it.RecordID)})
		}
	}
	for _, g := range s.guards {
		r, ok := records[g.it.PK+"|"+g.it.RecordID]
		switch {
		case !ok:
			out = append(out, verify.Problem{Subject: g.name, What: "a guard of a record the table does not hold"})
		case r.Deleted():
			out = append(out, verify.Problem{Subject: g.name, What: "a guard of a deleted record: the delete removes it"})
		case !sameCreate(g.it, r):
			out = append(out, verify.Problem{Subject: g.name, What: "a guard that holds another create than its record's"})
		}
	}
	return out
}

// sameCreate says whether a guard holds the create that made r: the guard keeps the request as
// it came, and the record the fields that never change and its first history entry.
func sameCreate(g item.Guard, r item.Record) bool {
	a, b := g.Shared, r.Shared
	return a.ExportID == b.ExportID && a.OrgID == b.OrgID && a.TriggeredBy == b.TriggeredBy && a.Format == b.Format &&
		a.PeriodFrom == b.PeriodFrom && a.PeriodTo == b.PeriodTo && len(r.History) > 0 && a.Status == r.History[0].Status
}

// liveCounts: the transaction that creates or deletes a record moves its organisation's live
// count with it, so the count is the organisation's number of live records.
func liveCounts(s state) []verify.Problem {
	live := map[string][]string{}
	for _, r := range s.records {
		if !r.it.Deleted() {
			live[r.it.PK] = append(live[r.it.PK], r.it.RecordID)
		}
	}
	orgs := map[string]bool{}
	for pk := range live {
		orgs[pk] = true
	}
	for pk := range s.stats {
		orgs[pk] = true
	}
	var out []verify.Problem
	for pk := range orgs {
		ids := live[pk]
		st, ok := s.stats[pk]
		if ok && st.it.Live == len(ids) {
			continue
		}
		name, count := st.name, st.it.Live
		if !ok {
			name = "live count of org " + strings.TrimPrefix(pk, item.OrgPrefix)
		}
		sort.Strings(ids)
		out = append(out, verify.Problem{Subject: name, What: fmt.Sprintf("is %d, but the organisation has %d live records (%s)",
			count, len(ids), strings.Join(ids, ", "))})
	}
	return out
}

// counted: a record's sequence number and created_at come from its day's counter, which keeps
// the last number and the latest created_at it handed out, so neither is beyond the counter.
func counted(s state) []verify.Problem {
	var out []verify.Problem
	for _, r := range s.records {
		id, ok := item.ParseRecordSK(r.it.SK)
		if !ok {
			continue
		}
		c, ok := s.counters[id.DayKey()]
		switch {
		case !ok:
			out = append(out, verify.Problem{Subject: r.name, What: fmt.Sprintf("no counter of %s handed out its sequence number", id.DayKey())})
		case c.Seq < id.Seq:
			out = append(out, verify.Problem{Subject: r.name, What: fmt.Sprintf(
				"sequence number %d is beyond its day's counter, at %d: a create could take it again", id.Seq, c.Seq)})
		case r.it.CreatedAt > c.LastAt:
			out = append(out, verify.Problem{Subject: r.name, What: fmt.Sprintf(
				"created_at %s is after the latest its day's counter handed out, %s", r.it.CreatedAt, c.LastAt)})
		}
	}
	return out
}
