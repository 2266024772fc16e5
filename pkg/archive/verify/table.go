package verify

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/image"
)

// table reads the whole table, consistently, and finds where it differs from the archive.
func (v *run) table(ctx context.Context) error {
	desc, err := v.o.DB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(v.o.Table)})
	if err != nil {
		return fmt.Errorf("describe table %s: %w", v.o.Table, err)
	}
	for _, k := range desc.Table.KeySchema {
		v.keyNames = append(v.keyNames, aws.ToString(k.AttributeName))
	}
	v.tableRead = map[string]Image{}
	pages := dynamodb.NewScanPaginator(v.o.DB, &dynamodb.ScanInput{TableName: aws.String(v.o.Table), ConsistentRead: aws.Bool(true)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("scan table %s: %w", v.o.Table, err)
		}
		for _, it := range page.Items {
			img := image.FromSDK(it)
			v.tableRead[itemKey(keysOf(img, v.keyNames))] = img
		}
	}
	return nil
}

// differences lists the keys, of those given, where the table and the archive disagree.
func (v *run) differences(keys []string) []string {
	var out []string
	for _, k := range keys {
		var archived Image
		if it := v.items[k]; it != nil {
			archived = it.last()
		}
		if !image.Equal(archived, v.tableRead[k]) {
			out = append(out, k)
		}
	}
	return out
}

func (v *run) allKeys() []string {
	keys := make([]string, 0, len(v.items)+len(v.tableRead))
	for k := range v.items {
		keys = append(keys, k)
	}
	for k := range v.tableRead {
		if v.items[k] == nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// settle gives differences time to go away (see the package documentation) and reports those
// that stay.
func (v *run) settle(ctx context.Context) error {
	diff := v.differences(v.allKeys())
	deadline := time.Now().Add(v.o.Settle)
	poll := min(500*time.Millisecond, max(v.o.Settle/20, 20*time.Millisecond))
	for len(diff) > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
		// Objects of sealed periods cannot be new; look only after the last seal.
		after := ""
		if !v.lastSeal.IsZero() {
			after = archive.ChangesPrefix + archive.Stamp(v.lastSeal)
		}
		objs, err := v.o.Bucket.List(ctx, archive.ChangesPrefix, after)
		if err != nil {
			return fmt.Errorf("list changes: %w", err)
		}
		objs = slices.DeleteFunc(objs, func(o archive.Object) bool { return v.files[o.Key] })
		read, err := v.read(ctx, objs)
		if err != nil {
			return err
		}
		recheck := diff
		for _, p := range read {
			if p.gone {
				continue
			}
			before := len(v.records)
			v.file(p)
			if len(v.records) > before {
				for _, r := range p.recs {
					recheck = append(recheck, r.item)
				}
			}
		}
		slices.Sort(recheck)
		recheck = slices.Compact(recheck)
		for _, k := range recheck {
			if err := v.reread(ctx, k); err != nil {
				return err
			}
		}
		diff = v.differences(recheck)
	}
	for _, k := range diff {
		v.diffs = append(v.diffs, v.difference(k))
	}
	return nil
}

// reread reads one item of the table again.
func (v *run) reread(ctx context.Context, k string) error {
	var keys Image
	if it := v.items[k]; it != nil {
		keys = it.keys
	} else if img := v.tableRead[k]; img != nil {
		keys = keysOf(img, v.keyNames)
	} else {
		return nil
	}
	key, err := image.ToSDK(keys)
	if err != nil {
		return fmt.Errorf("the key of an item of table %s: %w", v.o.Table, err)
	}
	out, err := v.o.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(v.o.Table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read an item of table %s: %w", v.o.Table, err)
	}
	if out.Item == nil {
		delete(v.tableRead, k)
	} else {
		v.tableRead[k] = image.FromSDK(out.Item)
	}
	return nil
}

// difference says how the table differs from the archive at one item.
func (v *run) difference(k string) Problem {
	now := v.tableRead[k]
	it := v.items[k]
	if it == nil {
		return Problem{v.name(keysOf(now, v.keyNames), now), "in the table, but the archive shows no change of it: added behind the archive's back"}
	}
	last, latest := it.last(), it.latest()
	switch {
	case now == nil:
		return Problem{v.name(it.keys, latest), "not in the table, but the archive shows no removal: removed behind the archive's back"}
	case last == nil:
		return Problem{v.name(it.keys, now), "in the table, but the archive shows it removed: put back behind the archive's back"}
	}
	return Problem{v.name(it.keys, latest), "differs from the archive's last image of it in " + strings.Join(image.Differing(last, now), ", ") +
		": changed behind the archive's back"}
}

// name names an item for a problem line.
func (v *run) name(keys, image Image) (name string) {
	name = itemKey(keys)
	if v.o.Rules.Name == nil {
		return name
	}
	defer func() { _ = recover() }() // a name the rules cannot make is the key
	if n := v.o.Rules.Name(keys, image); n != "" {
		name = n
	}
	return name
}
