package perf

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/store"
)

// Raw makes the bare DynamoDB calls each route needs: the requests the store makes for them,
// built by the store (store.GetInput and the others), before the call so that a baseline times
// the calls alone. Each method returns the prepared call.
type Raw struct {
	DB    *dynamodb.Client
	Table string
	Shape *Shape
	// PageSize, when set, is the Limit of the filtered list's Query calls, as
	// store.WithPageSize sets the store's.
	PageSize int32
}

// Op is one prepared baseline call.
type Op func(context.Context) error

// requests is a store on the table, for its requests only: the baselines make the calls.
func (r *Raw) requests() *store.Store {
	return store.New(r.DB, r.Table, store.WithPageSize(r.PageSize))
}

// Get is the get route's one consistent GetItem.
func (r *Raw) Get(org string, id audit.RecordID) Op {
	in := r.requests().GetInput(org, id)
	return func(ctx context.Context) error {
		out, err := r.DB.GetItem(ctx, in)
		if err == nil && len(out.Item) == 0 {
			err = errors.New("raw get: no item")
		}
		return err
	}
}

// Create is the create route's UpdateItem on a day counter and TransactWriteItems of the
// record, its guard and the live count, for the record spec. The counter is the one of spec's
// day, not today's, so that the baseline never moves the service's; specs of one day must be
// made in order of creation, as the counter refuses an earlier time.
func (r *Raw) Create(spec Spec) Op {
	rec, guard := r.Shape.Items(spec)
	s := r.requests()
	counter := s.NextIDInput(spec.Created.UTC())
	tx := s.CreateInput(spec.Org, rec, guard)
	return func(ctx context.Context) error {
		if _, err := r.DB.UpdateItem(ctx, counter); err != nil {
			return err
		}
		_, err := r.DB.TransactWriteItems(ctx, tx)
		return err
	}
}

// Status is the status route's one conditional UpdateItem, moving a record to to.
func (r *Raw) Status(org string, id audit.RecordID, to audit.Status, by string) Op {
	in, err := r.requests().UpdateStatusInput(org, id, audit.StatusChange{To: to, At: audit.Timestamp(time.Now()), By: by})
	if err != nil {
		return func(context.Context) error { return err }
	}
	return func(ctx context.Context) error {
		_, err := r.DB.UpdateItem(ctx, in)
		return err
	}
}

// FileURL is the file-url route's one conditional UpdateItem.
func (r *Raw) FileURL(org string, id audit.RecordID) Op {
	in := r.requests().AttachFileURLInput(org, id, "https://storage.example.no/exports/"+id.String()+".xlsx", "usr-0042", audit.Timestamp(time.Now()))
	return func(ctx context.Context) error {
		_, err := r.DB.UpdateItem(ctx, in)
		return err
	}
}

// Delete is the delete route's consistent GetItem of the record (for its export_id) and
// TransactWriteItems of the tombstone, the guard's removal and the live count. The
// transaction, which names the guard, is built once the record is read, as the store does.
func (r *Raw) Delete(org string, id audit.RecordID, by string) Op {
	s := r.requests()
	get := s.GetInput(org, id)
	now := audit.Timestamp(time.Now())
	return func(ctx context.Context) error {
		out, err := r.DB.GetItem(ctx, get)
		if err != nil {
			return err
		}
		exp, _ := out.Item["export_id"].(*types.AttributeValueMemberS)
		if exp == nil {
			return errors.New("raw delete: no record")
		}
		_, err = r.DB.TransactWriteItems(ctx, s.DeleteInput(org, id, exp.Value, by, now))
		return err
	}
}

// ListPage is the unfiltered list's one Query: from the organisation's STATS item down
// through its newest records, limit records and the count.
func (r *Raw) ListPage(org string, limit int) Op {
	in := r.requests().ListInput(audit.ListFilter{OrgID: org, Page: 1, Limit: limit})
	return func(ctx context.Context) error {
		_, err := r.DB.Query(ctx, in)
		return err
	}
}

// ListByStatus is the filtered list's pass of Query pages over every record of the
// organisation, filtered in DynamoDB to live records of one status.
func (r *Raw) ListByStatus(org string, st audit.Status) Op {
	first := r.requests().ListInput(audit.ListFilter{OrgID: org, Status: st, Page: 1, Limit: 20})
	return func(ctx context.Context) error {
		in := *first
		for {
			out, err := r.DB.Query(ctx, &in)
			if err != nil {
				return err
			}
			if len(out.LastEvaluatedKey) == 0 {
				return nil
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
}
