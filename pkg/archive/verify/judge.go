package verify

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/bufdir/export-audit/pkg/image"
)

func sortStable(recs []*record) {
	slices.SortStableFunc(recs, func(a, b *record) int {
		switch x, y := a.rec.Change.SequenceNumber, b.rec.Change.SequenceNumber; {
		case seqLess(x, y):
			return -1
		case seqLess(y, x):
			return 1
		}
		return 0
	})
}

// judge replays each item's changes (point 3), runs the service's rules, and adds the
// differences from the table that stayed (point 4), item problems in item order.
func (v *run) judge() {
	var found []Problem
	var live []Item
	keys := make([]string, 0, len(v.items))
	for k := range v.items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		it := v.items[k]
		it.sortRecs()
		name := v.name(it.keys, it.latest())
		var img Image // the archive's image of the item so far; nil: none
		for i, r := range it.recs {
			c := r.rec.Change
			ch := Change{
				Item: name, EventName: r.rec.EventName, Keys: c.Keys, Old: c.OldImage, New: c.NewImage,
				Identity: r.rec.UserIdentity, SequenceNumber: c.SequenceNumber, EventID: r.rec.EventID,
				At: c.ApproximateCreationDateTime.Time, File: r.file,
			}
			if what := shape(ch); what != "" {
				found = append(found, Problem{name, fmt.Sprintf("%s (sequence number %s, in %s)", what, c.SequenceNumber, r.file)})
				img = c.NewImage
				continue
			}
			if !image.Equal(c.OldImage, img) {
				what := "changed behind the archive's back before this change"
				if i == 0 {
					what = "the archive shows no creation of it"
				}
				found = append(found, Problem{name, fmt.Sprintf("%s: the %s with sequence number %s (in %s) finds it %s", what,
					r.rec.EventName, c.SequenceNumber, r.file, describe(c.OldImage, img))})
			}
			for _, rule := range v.o.Rules.Change {
				if err := safely(rule, ch); err != nil {
					found = append(found, Problem{name, fmt.Sprintf("%s (sequence number %s, in %s)", err, c.SequenceNumber, r.file)})
				}
			}
			img = c.NewImage
		}
		if img != nil {
			live = append(live, Item{Name: name, Keys: it.keys, Image: img})
		}
	}
	for _, rule := range v.o.Rules.State {
		found = append(found, safelyState(rule, live)...)
	}
	found = append(found, v.diffs...)
	slices.SortStableFunc(found, func(a, b Problem) int { return strings.Compare(a.Subject, b.Subject) })
	v.rep.Problems = append(v.rep.Problems, found...)
	v.rep.Items = len(v.tableRead)
}

// shape says what is wrong with a record whose images do not fit its event name.
func shape(c Change) string {
	switch c.EventName {
	case "INSERT":
		if c.Old != nil || c.New == nil {
			return "an INSERT needs a new image and no old one"
		}
	case "MODIFY":
		if c.Old == nil || c.New == nil {
			return "a MODIFY needs an old and a new image"
		}
	case "REMOVE":
		if c.Old == nil || c.New != nil {
			return "a REMOVE needs an old image and no new one"
		}
	default:
		return fmt.Sprintf("event name %q is none of INSERT, MODIFY, REMOVE", c.EventName)
	}
	return ""
}

// describe says how a change's old image differs from the archive's image.
func describe(old, archived Image) string {
	switch {
	case archived == nil:
		return "already there"
	case old == nil:
		return "not there, though the archive shows it"
	}
	return "different in " + strings.Join(image.Differing(archived, old), ", ")
}

// safely runs a rule, and takes its panic (an attribute of an unexpected type, read without
// a check) as what it found: the change is not one the rule knows.
func safely(rule func(Change) error, c Change) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("not a change the rules know: %v", p)
		}
	}()
	return rule(c)
}

func safelyState(rule func([]Item) []Problem, items []Item) (out []Problem) {
	defer func() {
		if p := recover(); p != nil {
			out = []Problem{{Subject: "the table", What: fmt.Sprintf("a rule across items met an item it does not know: %v", p)}}
		}
	}()
	return rule(items)
}
