package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/item"
)

// List returns one page of an organisation's live records, newest first, and how many match.
//
// Only the organisation's partition is read, with Query in descending key order, which is
// (created_at, record_id) order. Without filters, the count comes from the organisation's
// STATS item, which sorts right after its records: one Query starting there reads the count
// and then only as many records as the page needs, so page 1 costs the same at 20 records or
// 100,000. With filters the exact total needs every candidate read once: a single pass of
// Query pages, narrowed to the days of created_from/created_to by the sort key, filtered in
// DynamoDB, counting every match and decoding only the page's.
func (s *Store) List(ctx context.Context, f audit.ListFilter) (audit.Page, error) {
	if f.Unfiltered() {
		return s.listAll(ctx, f)
	}
	return s.listFiltered(ctx, f)
}

// window is the part of the ordered matches that makes the page.
type window struct {
	skip, end int
	seen      int
	records   []audit.Record
}

func newWindow(f audit.ListFilter) *window {
	skip := (f.Page - 1) * f.Limit
	return &window{skip: skip, end: skip + f.Limit}
}

// offer takes the next match in order, decoding it only when it falls on the page.
func (w *window) offer(av map[string]types.AttributeValue) error {
	w.seen++
	if w.seen <= w.skip || w.seen > w.end {
		return nil
	}
	var it item.Record
	if err := item.Decode(av, &it); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	r, err := it.Audit()
	if err != nil {
		return err
	}
	r.History = nil // lists carry no history
	w.records = append(w.records, r)
	return nil
}

func (w *window) full() bool { return w.seen >= w.end }

// ListInput is the first Query of List(f); List reads the pages after it, when it needs them,
// with the same input from the key DynamoDB returns.
func (s *Store) ListInput(f audit.ListFilter) *dynamodb.QueryInput {
	if f.Unfiltered() {
		return s.listAllInput(f)
	}
	return s.listFilteredInput(f)
}

func (s *Store) listAllInput(f audit.ListFilter) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :first AND :stats"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(item.OrgPK(f.OrgID)), ":first": str(item.RecordPrefix), ":stats": str(item.StatsSK),
		},
		ScanIndexForward: aws.Bool(false),
		ConsistentRead:   aws.Bool(true),
		Limit:            s.listAllLimit(newWindow(f)),
	}
}

// listAllLimit is how many items the next Query of an unfiltered list asks for. The STATS item
// and tombstones take room in a page too; asking for one more than the page needs still lets
// page 1 of an organisation without tombstones be one call.
func (s *Store) listAllLimit(w *window) *int32 {
	limit := int32(w.end-w.seen) + 1
	if s.pageSize > 0 && limit > s.pageSize {
		limit = s.pageSize
	}
	return &limit
}

func (s *Store) listAll(ctx context.Context, f audit.ListFilter) (audit.Page, error) {
	w := newWindow(f)
	total, counted := 0, false
	in := s.listAllInput(f)
	for {
		in.Limit = s.listAllLimit(w)
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return audit.Page{}, wrap("list records of "+f.OrgID, err)
		}
		for _, av := range out.Items {
			sk, _ := av[item.AttrSK].(*types.AttributeValueMemberS)
			switch {
			case sk != nil && sk.Value == item.StatsSK:
				n, err := liveCount(av)
				if err != nil {
					return audit.Page{}, err
				}
				total, counted = n, true
			case !strings.HasPrefix(skValue(sk), item.RecordPrefix):
				return audit.Page{}, fmt.Errorf("list records of %s: unexpected item %q", f.OrgID, skValue(sk))
			case av["deleted_at"] != nil:
			case w.full():
			default:
				if err := w.offer(av); err != nil {
					return audit.Page{}, err
				}
			}
		}
		// Past the last record there is nothing to read, and a page beyond the total can stop
		// as soon as the total is known.
		if len(out.LastEvaluatedKey) == 0 || w.full() || (counted && total <= w.skip) {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return audit.Page{Records: w.records, Total: total}, nil
}

func skValue(sk *types.AttributeValueMemberS) string {
	if sk == nil {
		return ""
	}
	return sk.Value
}

func liveCount(av map[string]types.AttributeValue) (int, error) {
	var st item.Stats
	if err := item.Decode(av, &st); err != nil {
		return 0, fmt.Errorf("read stats item: %w", err)
	}
	if st.Live < 0 {
		return 0, fmt.Errorf("stats item holds live count %d", st.Live)
	}
	return st.Live, nil
}

func (s *Store) listFilteredInput(f audit.ListFilter) *dynamodb.QueryInput {
	names := map[string]string{"#del": "deleted_at"}
	values := map[string]types.AttributeValue{
		":pk": str(item.OrgPK(f.OrgID)), ":lo": str(item.RecordPrefix), ":hi": str(item.RecordPrefix + "~"),
	}
	// A record's sort key starts with its creation day, so the time filters narrow the key
	// range to whole days and the filter expression does the rest.
	if !f.CreatedFrom.IsZero() {
		values[":lo"] = str(item.RecordPrefix + f.CreatedFrom.UTC().Format("20060102"))
	}
	if !f.CreatedTo.IsZero() {
		values[":hi"] = str(item.RecordPrefix + f.CreatedTo.UTC().Format("20060102") + "#~")
	}
	conds := []string{"attribute_not_exists(#del)"}
	eq := func(attr, v string) {
		if v == "" {
			return
		}
		n := "#" + strconv.Itoa(len(names))
		p := ":" + strconv.Itoa(len(values))
		names[n] = attr
		values[p] = str(v)
		conds = append(conds, n+" = "+p)
	}
	eq("status", string(f.Status))
	eq("format", string(f.Format))
	eq("triggered_by_user_id", f.TriggeredBy)
	eq("export_id", f.ExportID)
	if !f.CreatedFrom.IsZero() {
		names["#ca"] = "created_at"
		values[":cfrom"] = str(item.FormatTime(f.CreatedFrom))
		conds = append(conds, "#ca >= :cfrom")
	}
	if !f.CreatedTo.IsZero() {
		names["#ca"] = "created_at"
		values[":cto"] = str(item.FormatTime(f.CreatedTo))
		conds = append(conds, "#ca <= :cto")
	}
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		FilterExpression:          aws.String(strings.Join(conds, " AND ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
	}
	if s.pageSize > 0 {
		in.Limit = &s.pageSize
	}
	return in
}

func (s *Store) listFiltered(ctx context.Context, f audit.ListFilter) (audit.Page, error) {
	w := newWindow(f)
	in := s.listFilteredInput(f)
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return audit.Page{}, wrap("list records of "+f.OrgID, err)
		}
		for _, av := range out.Items {
			if err := w.offer(av); err != nil {
				return audit.Page{}, err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return audit.Page{Records: w.records, Total: w.seen}, nil
}
