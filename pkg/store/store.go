// Package store is the DynamoDB repository of audit records: the only package that speaks
// DynamoDB. Every operation is written for real DynamoDB and makes the fewest calls it can;
// the call counts are part of each method's comment. The table's layout (its keys, its items'
// attributes and their encoding) is package item's, which the readers of the table's stream
// share.
//
// Each call's request is built by an exported method (GetInput, CreateInput, UpdateStatusInput
// and the others), which the bench's bare baselines (internal/perf) send as they are: one
// spelling of the keys and expressions.
package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/item"
)

// Store keeps audit records in one DynamoDB table.
type Store struct {
	db        *dynamodb.Client
	table     string
	retention time.Duration
	pageSize  int32
	now       func() time.Time
}

// Option changes how a Store works.
type Option func(*Store)

// WithRetention sets how long a deleted record's tombstone stays before DynamoDB's TTL removes it.
func WithRetention(d time.Duration) Option { return func(s *Store) { s.retention = d } }

// WithPageSize caps the items one Query call returns. Production leaves it unset and lets
// DynamoDB's 1 MB page decide; tests set it small to cross page boundaries with few records.
func WithPageSize(n int32) Option { return func(s *Store) { s.pageSize = n } }

// WithClock replaces the clock, for tests.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a Store on table, using db for every call. Build it once per Lambda container.
func New(db *dynamodb.Client, table string, opts ...Option) *Store {
	s := &Store{db: db, table: table, retention: 365 * 24 * time.Hour, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Get returns a live record of org: one strongly consistent GetItem, so a record is readable
// as soon as the call that wrote it has answered.
func (s *Store) Get(ctx context.Context, org string, id audit.RecordID) (audit.Record, error) {
	out, err := s.db.GetItem(ctx, s.GetInput(org, id))
	if err != nil {
		return audit.Record{}, wrap("get "+id.String(), err)
	}
	return decodeLive(out.Item)
}

// GetInput is Get's call.
func (s *Store) GetInput(org string, id audit.RecordID) *dynamodb.GetItemInput {
	return &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            item.RecordKey(org, id),
		ConsistentRead: aws.Bool(true),
	}
}

// Create stores a new record, or recognises a retry of an earlier create.
//
// Calls: one UpdateItem on the day's counter for the sequence number, then one
// TransactWriteItems that writes the record, its export_id guard and the organisation's live
// count together. A retry (the guard exists with the same request) costs one more GetItem, to
// answer with the record as it is now; a clash with a different request costs nothing more.
// The counter's number is spent either way, so sequence numbers may have gaps.
func (s *Store) Create(ctx context.Context, n audit.NewRecord) (rec audit.Record, replayed bool, err error) {
	// A record deleted between our failed write and our read (of its guard or of itself) frees
	// its export_id; one more try then writes the new record.
	for attempt := 0; attempt < 2; attempt++ {
		id, at, err := s.nextID(ctx)
		if err != nil {
			return audit.Record{}, false, err
		}
		rec := n.Build(id, at)
		guard, err := s.insert(ctx, n, rec, id)
		if errors.Is(err, errExportFreed) {
			continue
		}
		if err != nil {
			return audit.Record{}, false, err
		}
		if guard == nil {
			return rec, false, nil
		}
		if !n.SameRequest(guard.Request()) {
			return audit.Record{}, false, &audit.ConflictError{
				Code:     audit.CodeExportIDConflict,
				RecordID: guard.RecordID,
				Detail:   fmt.Sprintf("export_id %s already has record %s, created with other fields", n.ExportID, guard.RecordID),
			}
		}
		storedID, err := audit.ParseRecordID(guard.RecordID)
		if err != nil {
			return audit.Record{}, false, fmt.Errorf("guard of export_id %s: %w", n.ExportID, err)
		}
		stored, err := s.Get(ctx, n.OrgID, storedID)
		if errors.Is(err, audit.ErrNotFound) {
			continue
		}
		return stored, err == nil, err
	}
	return audit.Record{}, false, fmt.Errorf("create for export_id %s: its record kept disappearing", n.ExportID)
}

// nextID takes the next sequence number of the current UTC day. The counter also remembers the
// latest created_at it handed out and refuses an earlier one, so that a container whose clock
// is behind another's takes that later second instead: created_at never decreases as the
// sequence grows, and key order stays (created_at, record_id) order.
//
// Other creates may overtake a slow call (one the SDK retried under throttling lands seconds
// late) with later stamps several times in a row, so each pass takes the later of the stamp
// it met and this clock read again; counterPasses bounds the passes and the handler's
// deadline the time.
func (s *Store) nextID(ctx context.Context) (audit.RecordID, time.Time, error) {
	now := audit.Timestamp(s.now())
	for attempt := 0; attempt < counterPasses; attempt++ {
		stamp := item.FormatTime(now)
		out, err := s.db.UpdateItem(ctx, s.NextIDInput(now))
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			var old item.Counter
			if derr := item.Decode(ccf.Item, &old); derr != nil {
				return audit.RecordID{}, time.Time{}, fmt.Errorf("read day counter: %w", derr)
			}
			later, perr := item.ParseTime(old.LastAt)
			if perr != nil || !later.After(now) {
				return audit.RecordID{}, time.Time{}, fmt.Errorf("day counter refused %s, last_at %q", stamp, old.LastAt)
			}
			now = later
			if clock := audit.Timestamp(s.now()); clock.After(now) {
				now = clock
			}
			continue
		}
		if err != nil {
			return audit.RecordID{}, time.Time{}, wrap("take the day's sequence number", err)
		}
		var counter item.Counter
		if err := item.Decode(out.Attributes, &counter); err != nil {
			return audit.RecordID{}, time.Time{}, fmt.Errorf("read day counter: %w", err)
		}
		if seq := counter.Seq; seq < 1 || seq > audit.MaxSequence {
			return audit.RecordID{}, time.Time{}, fmt.Errorf("day counter returned sequence number %d", seq)
		}
		return audit.NewRecordID(now, counter.Seq), now, nil
	}
	return audit.RecordID{}, time.Time{}, errors.New("day counter kept moving ahead of this clock")
}

// NextIDInput is the call that takes a sequence number for a record created at now (whole
// seconds, UTC): an UpdateItem of the counter of now's day, which refuses a time before the
// latest it handed out.
func (s *Store) NextIDInput(now time.Time) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:                           &s.table,
		Key:                                 item.CounterKey(now.Format("20060102")),
		UpdateExpression:                    aws.String("SET #last = :now ADD #seq :one"),
		ConditionExpression:                 aws.String("attribute_not_exists(#last) OR #last <= :now"),
		ExpressionAttributeNames:            map[string]string{"#last": "last_at", "#seq": "seq"},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": str(item.FormatTime(now)), ":one": num(1)},
		ReturnValues:                        types.ReturnValueUpdatedNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// counterPasses bounds nextID's passes at the day counter.
const counterPasses = 10

// errExportFreed means the guard that refused a create was gone when read: the export_id is
// free again, and the create may try once more.
var errExportFreed = errors.New("the export_id's guard was removed")

// insert writes the record, the guard of its export_id and the live count in one transaction.
// It returns the existing guard when the export_id is taken, and nil when the record was written.
func (s *Store) insert(ctx context.Context, n audit.NewRecord, rec audit.Record, id audit.RecordID) (*item.Guard, error) {
	recAV, err := item.Encode(item.NewRecord(rec, id))
	if err != nil {
		return nil, fmt.Errorf("encode record %s: %w", rec.RecordID, err)
	}
	guardAV, err := item.Encode(item.NewGuard(n, rec.RecordID))
	if err != nil {
		return nil, fmt.Errorf("encode guard of %s: %w", n.ExportID, err)
	}
	err = s.transact(ctx, s.CreateInput(n.OrgID, recAV, guardAV))
	reasons := cancellation(err)
	if reasons == nil {
		return nil, wrap("create "+rec.RecordID, err)
	}
	if len(reasons) != 3 || reasons[1].Code == nil || *reasons[1].Code != "ConditionalCheckFailed" {
		return nil, wrap("create "+rec.RecordID, err)
	}
	stored := reasons[1].Item
	if len(stored) == 0 {
		// DynamoDB returns the guard with the cancellation; an engine that does not (the local
		// one) costs one read here.
		out, gerr := s.db.GetItem(ctx, s.GuardInput(n.OrgID, n.ExportID))
		if gerr != nil {
			return nil, wrap("read guard of "+n.ExportID, gerr)
		}
		if len(out.Item) == 0 {
			// A delete freed the export_id between our write and this read.
			return nil, errExportFreed
		}
		stored = out.Item
	}
	var g item.Guard
	if err := item.Decode(stored, &g); err != nil || g.RecordID == "" {
		return nil, fmt.Errorf("decode guard of export_id %s: %v", n.ExportID, err)
	}
	return &g, nil
}

// CreateInput is Create's transaction for a record of org, given its item and its guard's as
// encoded: the two put where no item is, and the organisation's live count up by one.
func (s *Store) CreateInput(org string, record, guard map[string]types.AttributeValue) *dynamodb.TransactWriteItemsInput {
	notExists := aws.String("attribute_not_exists(pk)")
	return &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: record, ConditionExpression: notExists}},
		{Put: &types.Put{
			TableName: &s.table, Item: guard, ConditionExpression: notExists,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		{Update: s.liveCount(org, 1)},
	}}
}

// GuardInput reads the guard of exportID in org, strongly consistent.
func (s *Store) GuardInput(org, exportID string) *dynamodb.GetItemInput {
	return &dynamodb.GetItemInput{TableName: &s.table, Key: item.GuardKey(org, exportID), ConsistentRead: aws.Bool(true)}
}

// liveCount adds by to the organisation's live record count.
func (s *Store) liveCount(org string, by int64) *types.Update {
	return &types.Update{
		TableName: &s.table, Key: item.StatsKey(org),
		UpdateExpression:          aws.String("ADD live :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(by)},
	}
}

// LiveCountInput adds by to org's live record count, as Create's and Delete's transactions do;
// the bench adds the records it writes straight into the table with it.
func (s *Store) LiveCountInput(org string, by int64) *dynamodb.UpdateItemInput {
	u := s.liveCount(org, by)
	return &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key,
		UpdateExpression: u.UpdateExpression, ExpressionAttributeValues: u.ExpressionAttributeValues,
	}
}

// UpdateStatus moves a record to another status: one conditional UpdateItem writes the status,
// updated_at and the history entry together, and its condition is the status machine. When
// the condition fails, the item DynamoDB returns with the failure tells a no-op from a refusal,
// so no call reads first. A move to queued, which no status may make, is one GetItem.
// The bool reports whether anything changed.
func (s *Store) UpdateStatus(ctx context.Context, org string, id audit.RecordID, c audit.StatusChange) (audit.Record, bool, error) {
	sources := audit.Sources(c.To)
	if len(sources) == 0 {
		cur, err := s.Get(ctx, org, id)
		if err != nil {
			return audit.Record{}, false, err
		}
		if _, err := c.Decide(cur); err != nil {
			return audit.Record{}, false, err
		}
		return cur, false, nil
	}
	in, err := s.UpdateStatusInput(org, id, c)
	if err != nil {
		return audit.Record{}, false, err
	}
	return s.update(ctx, id, in, c.Decide)
}

// UpdateStatusInput is UpdateStatus's conditional UpdateItem, for a move to a status that some
// status may move to (audit.Sources).
func (s *Store) UpdateStatusInput(org string, id audit.RecordID, c audit.StatusChange) (*dynamodb.UpdateItemInput, error) {
	sources := audit.Sources(c.To)
	at := item.FormatTime(c.At)
	hist, err := item.EncodeValue([]item.History{item.NewHistory(audit.HistoryEntry{Status: c.To, At: c.At, By: c.By})})
	if err != nil {
		return nil, fmt.Errorf("encode history entry: %w", err)
	}
	names := map[string]string{"#st": "status", "#ua": "updated_at", "#h": "history", "#sa": "status_at", "#del": "deleted_at"}
	values := map[string]types.AttributeValue{":to": str(string(c.To)), ":at": str(at), ":h": hist}
	set := "SET #st = :to, #ua = :at, #sa = :at, #h = list_append(#h, :h), " + nextVersion(names, values, c.By)
	if c.ActivityCount != nil {
		set += ", #ac = :ac"
		names["#ac"] = "activity_count"
		values[":ac"] = num(*c.ActivityCount)
	}
	if c.FailureReason != nil {
		set += ", #fr = :fr"
		names["#fr"] = "failure_reason"
		values[":fr"] = str(*c.FailureReason)
	}
	// status_at is the time of the last history entry: a change dated before it would put the
	// history out of order.
	cond := "attribute_exists(pk) AND attribute_not_exists(#del) AND #sa <= :at AND #st IN ("
	for i, from := range sources {
		p := ":from" + strconv.Itoa(i)
		if i > 0 {
			cond += ", "
		}
		cond += p
		values[p] = str(string(from))
	}
	cond += ")"
	return &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: item.RecordKey(org, id),
		UpdateExpression: &set, ConditionExpression: &cond,
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, nil
}

// AttachFileURL sets the record's file_url, by the user by: one conditional UpdateItem that
// refuses a record with a file_url already or in status failed; as with UpdateStatus, the
// returned item tells a no-op from a refusal. The bool reports whether anything changed.
func (s *Store) AttachFileURL(ctx context.Context, org string, id audit.RecordID, url, by string) (audit.Record, bool, error) {
	in := s.AttachFileURLInput(org, id, url, by, audit.Timestamp(s.now()))
	return s.update(ctx, id, in, func(cur audit.Record) (audit.Outcome, error) { return audit.DecideFileURL(cur, url) })
}

// AttachFileURLInput is AttachFileURL's conditional UpdateItem, made at at by the user by.
func (s *Store) AttachFileURLInput(org string, id audit.RecordID, url, by string, at time.Time) *dynamodb.UpdateItemInput {
	names := map[string]string{"#fu": "file_url", "#ua": "updated_at", "#del": "deleted_at", "#st": "status"}
	values := map[string]types.AttributeValue{
		":url": str(url), ":now": str(item.FormatTime(at)), ":failed": str(string(audit.StatusFailed)),
	}
	set := "SET #fu = :url, #ua = :now, " + nextVersion(names, values, by)
	return &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: item.RecordKey(org, id),
		UpdateExpression:                    &set,
		ConditionExpression:                 aws.String("attribute_exists(pk) AND attribute_not_exists(#del) AND attribute_not_exists(#fu) AND #st <> :failed"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// nextVersion adds to an update's names and values what every change of a record sets besides
// its own attributes, and returns the SET clauses: the version one more (a record stored before
// versions were kept counts as version 1) and changed_by the caller by. The same write makes
// the change and says which change it was, so the table's stream needs nothing else.
func nextVersion(names map[string]string, values map[string]types.AttributeValue, by string) string {
	names["#ver"], names["#cby"] = "version", "changed_by"
	values[":one"], values[":cby"] = num(1), str(by)
	return "#ver = if_not_exists(#ver, :one) + :one, #cby = :cby"
}

// update runs a conditional UpdateItem that returns the item, as it is after the write or as it
// was when the condition failed, and in the latter case asks decide what the record means: a
// no-op answered with the record, or the caller's error.
func (s *Store) update(ctx context.Context, id audit.RecordID, in *dynamodb.UpdateItemInput, decide func(audit.Record) (audit.Outcome, error)) (audit.Record, bool, error) {
	out, err := s.db.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		cur, derr := decodeLive(ccf.Item)
		if derr != nil {
			return audit.Record{}, false, derr
		}
		outcome, derr := decide(cur)
		if derr != nil {
			return audit.Record{}, false, derr
		}
		if outcome != audit.Unchanged {
			return audit.Record{}, false, fmt.Errorf("update %s: condition failed on a record that allows the change", id)
		}
		return cur, false, nil
	}
	if err != nil {
		return audit.Record{}, false, wrap("update "+id.String(), err)
	}
	rec, err := decodeLive(out.Attributes)
	return rec, err == nil, err
}

// Delete tombstones a record and frees its export_id. The request names only the record, and
// the guard to free is keyed by the export_id the record holds, so this is one consistent
// GetItem and then one TransactWriteItems: the tombstone (deleted_at, deleted_by and the TTL
// attribute), the guard's removal and the live count's decrement, all or none.
func (s *Store) Delete(ctx context.Context, org string, id audit.RecordID, by string) error {
	rec, err := s.Get(ctx, org, id)
	if err != nil {
		return err
	}
	err = s.transact(ctx, s.DeleteInput(org, id, rec.ExportID, by, audit.Timestamp(s.now())))
	if reasons := cancellation(err); len(reasons) > 0 && reasons[0].Code != nil && *reasons[0].Code == "ConditionalCheckFailed" {
		// Deleted by someone else since our read.
		return audit.ErrNotFound
	}
	return wrap("delete "+id.String(), err)
}

// DeleteInput is Delete's transaction, made at now, for a record of org that holds exportID.
func (s *Store) DeleteInput(org string, id audit.RecordID, exportID, by string, now time.Time) *dynamodb.TransactWriteItemsInput {
	names := map[string]string{"#del": "deleted_at", "#by": "deleted_by", "#exp": item.AttrExpiresAt}
	values := map[string]types.AttributeValue{
		":now": str(item.FormatTime(now)), ":by": str(by), ":exp": num(now.Add(s.retention).Unix()),
	}
	set := "SET #del = :now, #by = :by, #exp = :exp, " + nextVersion(names, values, by)
	return &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &s.table, Key: item.RecordKey(org, id),
			UpdateExpression:          &set,
			ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(#del)"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}},
		{Delete: &types.Delete{
			TableName: &s.table, Key: item.GuardKey(org, exportID),
			ConditionExpression:       aws.String("record_id = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(id.String())},
		}},
		{Update: s.liveCount(org, -1)},
	}}
}

// conflictAttempts bounds our own retries of a transaction that DynamoDB cancelled because
// another transaction held one of its items; the SDK does not retry those cancellations.
const conflictAttempts = 5

// transact runs one TransactWriteItems, again when another transaction got in its way.
//
// The SDK writes a ClientRequestToken into the input before its first attempt and keeps it for
// its own retries of that call (after a timeout or a lost answer), so DynamoDB runs the writes
// at most once however many of them arrive. Our retries are new requests: a cancelled
// transaction wrote nothing, and DynamoDB answers a token it has seen in the last 10 minutes
// with that request's outcome, the cancellation, without trying again. So each of our calls
// starts without a token and the SDK makes a fresh one.
func (s *Store) transact(ctx context.Context, in *dynamodb.TransactWriteItemsInput) error {
	for attempt := 1; ; attempt++ {
		in.ClientRequestToken = nil
		_, err := s.db.TransactWriteItems(ctx, in)
		if attempt >= conflictAttempts || !hasReason(cancellation(err), "TransactionConflict") {
			return err
		}
		backoff := time.Duration(rand.IntN(20<<attempt)) * time.Millisecond
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
	}
}

// cancellation returns the reasons of a cancelled transaction, nil for any other error.
func cancellation(err error) []types.CancellationReason {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		return tce.CancellationReasons
	}
	return nil
}

func hasReason(reasons []types.CancellationReason, codes ...string) bool {
	for _, r := range reasons {
		for _, c := range codes {
			if r.Code != nil && *r.Code == c {
				return true
			}
		}
	}
	return false
}

// throttleCodes are the error codes that mean "too much traffic", which the API answers with
// 503 and Retry-After rather than 500.
var throttleCodes = []string{
	"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
}

// wrap adds what was being done to err, and marks throttling (audit.ErrThrottled) and
// transaction conflicts that outlived every retry (audit.ErrBusy) so the API layer can tell
// them.
func wrap(doing string, err error) error {
	if err == nil {
		return nil
	}
	if throttled(err) {
		return fmt.Errorf("%s: %w: %w", doing, audit.ErrThrottled, err)
	}
	if conflicted(err) {
		return fmt.Errorf("%s: %w: %w", doing, audit.ErrBusy, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func throttled(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		for _, c := range throttleCodes {
			if ae.ErrorCode() == c {
				return true
			}
		}
	}
	return hasReason(cancellation(err), "ThrottlingError", "ProvisionedThroughputExceeded")
}

// conflicted reports a write that met another transaction on its items, still after retries.
func conflicted(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "TransactionConflictException" {
		return true
	}
	return hasReason(cancellation(err), "TransactionConflict")
}
