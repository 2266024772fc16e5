package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/archive"
)

// record is a stream record read from the archive.
type record struct {
	rec  events.DynamoDBEventRecord
	file string // the first object it was found in, in key order
	item string // its item's key
}

// item is an item the archive shows, with its records.
type item struct {
	keys   Image
	recs   []*record
	sorted bool
}

// parsed is a change object read and decoded.
type parsed struct {
	fetched
	recs []*record
	err  error
}

// changes reads every change object, checks each against its period's digest (point 2) and
// collects the records.
func (v *run) changes(ctx context.Context) error {
	objs, err := v.o.Bucket.List(ctx, archive.ChangesPrefix, "")
	if err != nil {
		return fmt.Errorf("list changes: %w", err)
	}
	v.files = map[string]bool{}
	first := time.Time{}
	earliest := func(t time.Time) {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	for start, d := range v.chain {
		earliest(start)
		if d.trusted && d.d.Previous != nil {
			if ps, ok := archive.ParseDigestKey(d.d.Previous.Key); ok {
				if _, there := v.chain[ps]; !there {
					earliest(ps)
				}
			}
		}
		if end := start.Add(v.length); end.After(v.lastSeal) {
			v.lastSeal = end
		}
	}
	for _, o := range objs {
		if start, ok := archive.ParseChangeKey(o.Key); ok {
			earliest(start)
			break
		}
	}
	read, err := v.read(ctx, objs)
	if err != nil {
		return err
	}
	for _, p := range read {
		v.file(p)
	}
	// Every file a trusted digest names must have been listed.
	for _, d := range v.chain {
		if !d.trusted {
			continue
		}
		for _, f := range d.d.Files {
			if !v.files[f.Key] {
				v.problem(f.Key, "missing: %s seals it", d.key)
			}
		}
	}
	if !first.IsZero() {
		v.missing(first)
	}
	return nil
}

// read fetches and decodes objects, in parallel, and answers them in the order given.
func (v *run) read(ctx context.Context, objs []archive.Object) ([]parsed, error) {
	keys := make([]string, len(objs))
	index := make(map[string]int, len(objs))
	for i, o := range objs {
		keys[i], index[o.Key] = o.Key, i
	}
	out := make([]parsed, len(objs))
	var mu sync.Mutex
	err := v.fetch(ctx, keys, func(f fetched) error {
		p := parsed{fetched: f}
		if !f.gone {
			p.recs, p.err = decode(f.key, f.body)
		}
		mu.Lock()
		out[index[f.key]] = p
		mu.Unlock()
		return nil
	})
	return out, err
}

// decode reads a change object's records as Lambda delivered them.
func decode(file string, body []byte) ([]*record, error) {
	var batch events.DynamoDBEvent
	if err := json.Unmarshal(body, &batch); err != nil {
		return nil, err
	}
	if batch.Records == nil {
		return nil, fmt.Errorf("no Records")
	}
	out := make([]*record, len(batch.Records))
	for i := range batch.Records {
		r := &record{rec: batch.Records[i], file: file}
		if len(r.rec.Change.Keys) == 0 {
			return nil, fmt.Errorf("record %d names no item key", i)
		}
		r.item = itemKey(r.rec.Change.Keys)
		out[i] = r
	}
	return out, nil
}

// file checks one change object against its period's digest and takes its records.
func (v *run) file(p parsed) {
	if p.gone {
		v.problem(p.key, "removed while it was being read")
		return
	}
	v.files[p.key] = true
	v.rep.Files++
	start, ok := archive.ParseChangeKey(p.key)
	if !ok {
		v.problem(p.key, "not a change object's name: nothing else belongs under %s", archive.ChangesPrefix)
		return
	}
	d := v.chain[start]
	sealed := d != nil
	if d != nil && d.trusted {
		f, named := d.files[p.key]
		switch {
		case !named:
			v.problem(p.key, "not in its period's digest %s: it was added after the period was sealed", d.key)
		case f.SHA256 != archive.Sum(p.body) || f.Size != int64(len(p.body)):
			v.problem(p.key, "altered: its SHA-256 is not the one %s records", d.key)
		}
	}
	if p.err != nil {
		v.problem(p.key, "not a batch of stream records: %v", p.err)
		return
	}
	v.take(p.recs, sealed)
}

// take adds records to their items; a record archived twice counts once.
func (v *run) take(recs []*record, sealed bool) {
	for _, r := range recs {
		id := r.rec.EventID
		if id == "" {
			id = "seq:" + r.rec.Change.SequenceNumber
		}
		if seen, ok := v.records[id]; ok {
			// Rare (a retried batch), so compared the slow way: as the JSON each marshals to.
			a, _ := json.Marshal(seen.rec)
			b, _ := json.Marshal(r.rec)
			if !bytes.Equal(a, b) {
				v.problem(r.file, "holds the record with event ID %s, which %s holds with other content", id, seen.file)
			}
			continue
		}
		v.records[id] = r
		v.rep.Changes++
		if !sealed {
			v.rep.Unsealed++
		}
		it := v.items[r.item]
		if it == nil {
			it = &item{keys: r.rec.Change.Keys}
			v.items[r.item] = it
		}
		it.recs = append(it.recs, r)
		it.sorted = false
	}
}

// sortRecs puts an item's records in stream order.
func (it *item) sortRecs() {
	if it.sorted {
		return
	}
	sortStable(it.recs)
	it.sorted = true
}

// last is the item's image after its last archived change: nil when it was removed.
func (it *item) last() Image {
	it.sortRecs()
	return it.recs[len(it.recs)-1].rec.Change.NewImage
}

// latest is the item's last image there was: the one before a removal, for a removed item.
func (it *item) latest() Image {
	it.sortRecs()
	r := it.recs[len(it.recs)-1].rec.Change
	if r.NewImage != nil {
		return r.NewImage
	}
	return r.OldImage
}
