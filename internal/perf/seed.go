package perf

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/item"
	"github.com/bufdir/export-audit/pkg/store"
)

// Batch is a run of records to seed in one organisation: N records from FirstDay on, PerDay a
// day, created a second apart from 08:00 UTC, so that key order is created_at order as the
// store keeps it. Batches in one organisation must not share days.
type Batch struct {
	Org      string
	N        int
	FirstDay time.Time
	PerDay   int                      // default 1000
	Status   func(i int) audit.Status // default: queued, processing, completed, failed in turn
	Prefix   string                   // export_id prefix; default "exp-<org>-<first day>"
}

// Specs lists the batch's records, oldest first.
func (b Batch) Specs() []Spec {
	perDay := b.PerDay
	if perDay <= 0 {
		perDay = 1000
	}
	prefix := b.Prefix
	if prefix == "" {
		prefix = "exp-" + b.Org + "-" + b.FirstDay.Format("20060102")
	}
	formats := []audit.Format{audit.FormatPDF, audit.FormatExcel, audit.FormatCSV}
	specs := make([]Spec, b.N)
	for i := range specs {
		day := b.FirstDay.UTC().Truncate(24*time.Hour).AddDate(0, 0, i/perDay)
		seq := i%perDay + 1
		st := audit.Statuses[i%len(audit.Statuses)]
		if b.Status != nil {
			st = b.Status(i)
		}
		specs[i] = Spec{
			Org: b.Org, ID: audit.NewRecordID(day, int64(seq)),
			ExportID: prefix + "-" + strconv.Itoa(i),
			Status:   st, Format: formats[(i/len(audit.Statuses))%len(formats)],
			Created: day.Add(8*time.Hour + time.Duration(seq)*time.Second),
		}
	}
	return specs
}

// batchSize is BatchWriteItem's limit of items per call.
const batchSize = 25

// Seed writes the batch's records and their export_id guards with BatchWriteItem, workers
// calls at a time, and adds them to the organisation's live count as the store's create does.
// The day counters are left alone: only today's counter is ever read, by create. It returns
// the records' ids, oldest first.
func (sh *Shape) Seed(ctx context.Context, db *dynamodb.Client, table string, b Batch, workers int) ([]audit.RecordID, error) {
	specs := b.Specs()
	if err := sh.SeedSpecs(ctx, db, table, specs, workers); err != nil {
		return nil, err
	}
	ids := make([]audit.RecordID, len(specs))
	for i, s := range specs {
		ids[i] = s.ID
	}
	return ids, nil
}

// SeedSpecs writes the records of specs, all of one organisation, as Seed does.
func (sh *Shape) SeedSpecs(ctx context.Context, db *dynamodb.Client, table string, specs []Spec, workers int) error {
	if len(specs) == 0 {
		return nil
	}
	var reqs []types.WriteRequest
	for _, s := range specs {
		rec, guard := sh.Items(s)
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: rec}},
			types.WriteRequest{PutRequest: &types.PutRequest{Item: guard}})
	}
	if err := writeAll(ctx, db, table, reqs, workers); err != nil {
		return err
	}
	_, err := db.UpdateItem(ctx, store.New(db, table).LiveCountInput(specs[0].Org, int64(len(specs))))
	if err != nil {
		return fmt.Errorf("seed %s: count: %w", specs[0].Org, err)
	}
	return nil
}

// Remove deletes records and their guards outright, tombstones included, without touching the
// live count: benchmarks use it to keep the table as small as it started.
func Remove(ctx context.Context, db *dynamodb.Client, table string, specs []Spec) error {
	var reqs []types.WriteRequest
	for _, s := range specs {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: item.RecordKey(s.Org, s.ID)}},
			types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: item.GuardKey(s.Org, s.ExportID)}})
	}
	return writeAll(ctx, db, table, reqs, 1)
}

// writeAll sends reqs in BatchWriteItem calls, workers at a time.
func writeAll(ctx context.Context, db *dynamodb.Client, table string, reqs []types.WriteRequest, workers int) error {
	workers = max(workers, 1)
	chunks := make(chan []types.WriteRequest)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				if err := batchWrite(ctx, db, table, c); err != nil {
					errs <- err
					for range chunks {
					}
					return
				}
			}
		}()
	}
	for i := 0; i < len(reqs); i += batchSize {
		chunks <- reqs[i:min(i+batchSize, len(reqs))]
	}
	close(chunks)
	wg.Wait()
	close(errs)
	return <-errs
}

func batchWrite(ctx context.Context, db *dynamodb.Client, table string, reqs []types.WriteRequest) error {
	for attempt := 0; len(reqs) > 0; attempt++ {
		if attempt == 10 {
			return fmt.Errorf("seed: %d items still unprocessed", len(reqs))
		}
		out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		reqs = out.UnprocessedItems[table]
	}
	return nil
}
