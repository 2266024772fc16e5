// Package perf holds what make bench (cmd/bench) and the handler benchmarks (pkg/api) share:
// records written straight into the table in the shape the store writes them, the events API
// Gateway hands each route, and the bare DynamoDB calls each route needs, which are the
// baselines the service is measured against. The keys and the requests are the store's own
// (item.RecordKey, store.GetInput and the others): nothing here spells the table's layout.
package perf

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/item"
	"github.com/bufdir/export-audit/pkg/store"
)

// Shape is what the store writes for a record in each status and for its export_id guard, read
// back from the table after making one record per status through the store itself. Seeding
// copies these items with new keys, ids and times, so that seeded records have the store's
// attributes and sizes without going through its slower path.
type Shape struct {
	templates map[audit.Status]template
}

type template struct {
	record, guard map[string]types.AttributeValue
	org, recordID string
	exportID      string
	created       time.Time
}

// shapeOrg is the organisation the templates are made in; nothing else uses it.
const shapeOrg = "org-bench-shape"

// LearnShape makes one record per status through the store on table and reads back its items.
func LearnShape(ctx context.Context, db *dynamodb.Client, table string) (*Shape, error) {
	s := store.New(db, table)
	sh := &Shape{templates: map[audit.Status]template{}}
	count := int64(312)
	reason := "the export service ran out of time"
	for _, st := range audit.Statuses {
		n := audit.NewRecord{
			ExportID: "exp-shape-" + string(st), OrgID: shapeOrg, TriggeredBy: "usr-0099",
			Status: audit.StatusQueued, Format: audit.FormatPDF,
			PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31", By: "usr-0042",
		}
		rec, _, err := s.Create(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("learn the record shape: create: %w", err)
		}
		id, err := audit.ParseRecordID(rec.RecordID)
		if err != nil {
			return nil, err
		}
		move := func(to audit.Status, c audit.StatusChange) error {
			c.To, c.At, c.By = to, audit.Timestamp(time.Now()), "usr-0042"
			_, _, err := s.UpdateStatus(ctx, shapeOrg, id, c)
			return err
		}
		switch st {
		case audit.StatusProcessing:
			err = move(audit.StatusProcessing, audit.StatusChange{})
		case audit.StatusCompleted:
			if err = move(audit.StatusProcessing, audit.StatusChange{}); err == nil {
				err = move(audit.StatusCompleted, audit.StatusChange{ActivityCount: &count})
			}
			if err == nil {
				_, _, err = s.AttachFileURL(ctx, shapeOrg, id, "https://storage.example.no/exports/"+n.ExportID+".xlsx", "usr-0042")
			}
		case audit.StatusFailed:
			err = move(audit.StatusFailed, audit.StatusChange{FailureReason: &reason})
		}
		if err != nil {
			return nil, fmt.Errorf("learn the record shape: move to %s: %w", st, err)
		}
		t := template{org: shapeOrg, recordID: rec.RecordID, exportID: n.ExportID, created: rec.CreatedAt}
		if t.record, err = getItem(ctx, db, s.GetInput(shapeOrg, id)); err != nil {
			return nil, err
		}
		if t.guard, err = getItem(ctx, db, s.GuardInput(shapeOrg, n.ExportID)); err != nil {
			return nil, err
		}
		sh.templates[st] = t
	}
	return sh, nil
}

func getItem(ctx context.Context, db *dynamodb.Client, in *dynamodb.GetItemInput) (map[string]types.AttributeValue, error) {
	out, err := db.GetItem(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("learn the record shape: read %v: %w", in.Key, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("learn the record shape: no item at %v", in.Key)
	}
	return out.Item, nil
}

// Spec describes one seeded record.
type Spec struct {
	Org      string
	ID       audit.RecordID
	ExportID string
	Status   audit.Status
	Format   audit.Format
	Created  time.Time
}

// Items returns the record and guard items the store would hold for spec, keyed as the store
// keys them.
func (sh *Shape) Items(spec Spec) (record, guard map[string]types.AttributeValue) {
	t := sh.templates[spec.Status]
	sub := func(v string) string {
		switch {
		case v == t.recordID:
			return spec.ID.String()
		case v == string(audit.FormatPDF) && spec.Format != "":
			return string(spec.Format)
		}
		if at, err := time.Parse(time.RFC3339, v); err == nil {
			return spec.Created.Add(at.Sub(t.created)).UTC().Format(time.RFC3339)
		}
		v = strings.ReplaceAll(v, t.exportID, spec.ExportID)
		return strings.ReplaceAll(v, t.org, spec.Org)
	}
	record, guard = cloneMap(t.record, sub), cloneMap(t.guard, sub)
	for k, v := range item.RecordKey(spec.Org, spec.ID) {
		record[k] = v
	}
	for k, v := range item.GuardKey(spec.Org, spec.ExportID) {
		guard[k] = v
	}
	return record, guard
}

func cloneMap(m map[string]types.AttributeValue, sub func(string) string) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(m))
	for k, v := range m {
		out[k] = clone(v, sub)
	}
	return out
}

func clone(v types.AttributeValue, sub func(string) string) types.AttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return &types.AttributeValueMemberS{Value: sub(v.Value)}
	case *types.AttributeValueMemberM:
		return &types.AttributeValueMemberM{Value: cloneMap(v.Value, sub)}
	case *types.AttributeValueMemberL:
		l := make([]types.AttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = clone(e, sub)
		}
		return &types.AttributeValueMemberL{Value: l}
	default:
		return v // numbers, booleans: the same in every copy
	}
}

// RecordSize is the average size of a record item over the statuses, as DynamoDB counts item
// sizes (names and values; strings by their bytes, numbers by about a byte per two digits,
// lists and maps 3 bytes and 1 per element on top).
func (sh *Shape) RecordSize() int {
	total := 0
	for _, t := range sh.templates {
		total += mapSize(t.record)
	}
	return total / max(1, len(sh.templates))
}

func mapSize(m map[string]types.AttributeValue) int {
	n := 0
	for k, v := range m {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return (len(strings.TrimLeft(v.Value, "-0"))+1)/2 + 1
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}
