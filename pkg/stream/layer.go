package stream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Options configure a Layer.
type Options struct {
	// Region is the records' awsRegion and the region of their stream ARNs; default us-east-1.
	Region string
	// Tables names the streamed tables; empty streams every table. Writes to other tables
	// pass through untouched.
	Tables []string
	// KeepAll keeps every record, so that Records returns the whole stream (a test, a local
	// endpoint that lists it). Without it a record is dropped once every subscriber has passed
	// it, and at once while nobody subscribes.
	KeepAll bool
	// Log receives what the layer cannot tell a client: a change it failed to stream, a
	// subscriber's failed batch, a sweep that failed. Default slog.Default().
	Log *slog.Logger
}

// Layer is the stream in front of an engine. Build it with New and put it in front of the
// engine with Wrap.
type Layer struct {
	opts Options
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	// writes serialises every write with its reads before and after: that gives the stream a
	// total order, which is all a local engine needs.
	writes sync.Mutex

	mu     sync.Mutex
	next   http.Handler
	tables map[string]*table
	recs   []entry // the retained records, oldest first
	head   uint64  // the index the next record gets
	subs   map[*Subscription]struct{}
	wake   chan struct{} // closed and replaced whenever a record is added or passed
}

// table is what a stream needs of a table: its key attributes and its stream's names.
type table struct {
	name   string
	keys   []string // hash key first
	region string
	arn    string
	shard  string
}

// entry is a record and its place in the layer's log.
type entry struct {
	idx   uint64
	table string
	shard string
	rec   events.DynamoDBEventRecord
}

// New returns a layer; it streams nothing until Wrap gives it an engine.
func New(o Options) *Layer {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Layer{
		opts: o, log: o.Log, ctx: ctx, stop: stop,
		tables: map[string]*table{}, subs: map[*Subscription]struct{}{}, wake: make(chan struct{}),
	}
}

// Wrap puts the layer in front of next and returns it; its signature is what
// local.Options.EngineWrap takes.
func (l *Layer) Wrap(next http.Handler) http.Handler {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next = next
	return l
}

// Close stops every subscriber and sweeper and waits for them. The layer keeps forwarding
// requests to the engine.
func (l *Layer) Close() {
	// Under l.mu, so that no Subscribe or Sweep starts a goroutine the Wait below misses.
	l.mu.Lock()
	l.stop()
	l.mu.Unlock()
	l.wg.Wait()
}

func (l *Layer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndex(target, ".")+1:]
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem",
		"CreateTable", "DeleteTable":
	default:
		l.engine().ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client is gone and nothing reached the engine
	}
	// The client may hang up; a write that reached the engine must still be streamed.
	ctx := context.WithoutCancel(r.Context())
	if op == "CreateTable" || op == "DeleteTable" {
		var in struct{ TableName string }
		_ = json.Unmarshal(body, &in)
		l.writes.Lock()
		answer := l.call(ctx, op, body, r.Header)
		l.forget(in.TableName)
		l.writes.Unlock()
		answer.replay(w)
		return
	}
	l.write(ctx, op, body, r.Header, nil).replay(w)
}

func (l *Layer) engine() http.Handler {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// change is one item a write may change.
type change struct {
	table  *table
	key    map[string]json.RawMessage
	old    map[string]events.DynamoDBAttributeValue
	unread error // why old could not be read
}

// write forwards a write to the engine and appends a record for each item it changed. The
// records are in the log before the client has its answer, so Wait after an answer sees them.
func (l *Layer) write(ctx context.Context, op string, body []byte, h http.Header, who *events.DynamoDBUserIdentity) *recorder {
	l.writes.Lock()
	defer l.writes.Unlock()
	changes, unknown := l.affected(ctx, op, body)
	for _, c := range changes {
		c.old, c.unread = l.image(ctx, c)
	}
	answer := l.call(ctx, op, body, h)
	if answer.status != http.StatusOK {
		return answer
	}
	for _, name := range unknown {
		l.log.Error("stream: a write succeeded on a table whose key schema the stream could not read; its changes are not streamed",
			"op", op, "table", name)
	}
	at := time.Now().Truncate(time.Second)
	var out []entry
	for _, c := range changes {
		now, err := l.image(ctx, c)
		if err == nil {
			err = c.unread
		}
		if err != nil {
			l.log.Error("stream: a write succeeded on an item the stream could not read; its change is not streamed",
				"op", op, "table", c.table.name, "error", err.Error())
			continue
		}
		if rec, ok := record(c.table, c.old, now, at, who); ok {
			out = append(out, entry{table: c.table.name, shard: c.table.shard, rec: rec})
		}
	}
	l.add(out)
	return answer
}

// affected lists the items a write names, in the request's order, with their keys as the
// table's key schema has them. Items of tables that are not streamed, and items whose key
// cannot be made (the engine will refuse those), are left out; so are the items of streamed
// tables that the engine could not describe, which are listed in unknown (the engine will
// refuse those too, unless something is wrong).
func (l *Layer) affected(ctx context.Context, op string, body []byte) (out []*change, unknown []string) {
	type named struct {
		TableName string
		Item, Key map[string]json.RawMessage
	}
	var in struct {
		named
		TransactItems []struct{ Put, Update, Delete *named }
		RequestItems  map[string][]struct{ PutRequest, DeleteRequest *named }
	}
	if json.Unmarshal(body, &in) != nil {
		return nil, nil
	}
	var items []named
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem":
		items = append(items, in.named)
	case "TransactWriteItems":
		for _, t := range in.TransactItems {
			for _, n := range []*named{t.Put, t.Update, t.Delete} {
				if n != nil {
					items = append(items, *n)
				}
			}
		}
	case "BatchWriteItem":
		names := make([]string, 0, len(in.RequestItems))
		for name := range in.RequestItems {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			for _, w := range in.RequestItems[name] {
				for _, n := range []*named{w.PutRequest, w.DeleteRequest} {
					if n != nil {
						items = append(items, named{TableName: name, Item: n.Item, Key: n.Key})
					}
				}
			}
		}
	}
	for _, it := range items {
		if !l.streamed(it.TableName) {
			continue
		}
		t, err := l.describe(ctx, it.TableName)
		if err != nil {
			if !slices.Contains(unknown, it.TableName) {
				unknown = append(unknown, it.TableName)
			}
			continue
		}
		attrs := it.Key
		if attrs == nil {
			attrs = it.Item
		}
		key := map[string]json.RawMessage{}
		for _, k := range t.keys {
			if v, ok := attrs[k]; ok {
				key[k] = v
			}
		}
		if len(key) == len(t.keys) {
			out = append(out, &change{table: t, key: key})
		}
	}
	return out, unknown
}

func (l *Layer) streamed(name string) bool {
	return len(l.opts.Tables) == 0 || slices.Contains(l.opts.Tables, name)
}

// image reads an item as the engine has it now; nil when there is none.
func (l *Layer) image(ctx context.Context, c *change) (map[string]events.DynamoDBAttributeValue, error) {
	body, _ := json.Marshal(map[string]any{"TableName": c.table.name, "Key": c.key, "ConsistentRead": true})
	answer := l.call(ctx, "GetItem", body, nil)
	if answer.status != http.StatusOK {
		return nil, fmt.Errorf("GetItem answered %d: %s", answer.status, answer.body.Bytes())
	}
	var out struct{ Item map[string]json.RawMessage }
	if err := json.Unmarshal(answer.body.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("read GetItem's answer: %w", err)
	}
	return l.decode(c.table.name, out.Item), nil
}

// decode reads an item in DynamoDB's JSON. minidyn answers an empty list or map as {}, which
// names no type; such an attribute is left out of the image rather than guessed.
func (l *Layer) decode(tableName string, item map[string]json.RawMessage) map[string]events.DynamoDBAttributeValue {
	if item == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(item))
	for name, raw := range item {
		var v events.DynamoDBAttributeValue
		if err := json.Unmarshal(raw, &v); err != nil {
			l.log.Warn("stream: an attribute the engine answered without a type is left out of the image",
				"table", tableName, "attribute", name, "value", string(raw))
			continue
		}
		out[name] = v
	}
	return out
}

// describe returns a table's key schema and stream names, asking the engine once per table.
func (l *Layer) describe(ctx context.Context, name string) (*table, error) {
	l.mu.Lock()
	t := l.tables[name]
	l.mu.Unlock()
	if t != nil {
		return t, nil
	}
	body, _ := json.Marshal(map[string]string{"TableName": name})
	answer := l.call(ctx, "DescribeTable", body, nil)
	if answer.status != http.StatusOK {
		return nil, fmt.Errorf("DescribeTable %s answered %d", name, answer.status)
	}
	var out struct {
		Table struct {
			KeySchema []struct{ AttributeName, KeyType string }
		}
	}
	if err := json.Unmarshal(answer.body.Bytes(), &out); err != nil || len(out.Table.KeySchema) == 0 {
		return nil, fmt.Errorf("DescribeTable %s: no key schema", name)
	}
	ks := out.Table.KeySchema
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].KeyType == "HASH" && ks[j].KeyType != "HASH" })
	// The label is the stream's creation time, as DynamoDB writes it: a table created again
	// gets a new stream.
	created := time.Now().UTC()
	t = &table{
		name:   name,
		region: l.opts.Region,
		arn:    fmt.Sprintf("arn:aws:dynamodb:%s:000000000000:table/%s/stream/%s", l.opts.Region, name, created.Format("2006-01-02T15:04:05.000")),
		shard:  fmt.Sprintf("shardId-%020d-%08x", created.UnixMilli(), crc32.ChecksumIEEE([]byte(name))),
	}
	for _, k := range ks {
		t.keys = append(t.keys, k.AttributeName)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if known := l.tables[name]; known != nil {
		return known, nil
	}
	l.tables[name] = t
	return t, nil
}

func (l *Layer) forget(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.tables, name)
}

// call sends one request to the engine in process.
func (l *Layer) call(ctx context.Context, op string, body []byte, h http.Header) *recorder {
	r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
	if h != nil {
		r.Header = h.Clone()
	}
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	answer := &recorder{header: http.Header{}}
	l.engine().ServeHTTP(answer, r)
	if answer.status == 0 {
		answer.status = http.StatusOK
	}
	return answer
}

// add gives the records their sequence numbers and appends them.
func (l *Layer) add(out []entry) {
	if len(out) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range out {
		e.idx = l.head
		l.head++
		// 21 digits, never a leading zero: string order is numeric order, as consumers that
		// compare DynamoDB's sequence numbers as strings of equal length expect.
		e.rec.Change.SequenceNumber = fmt.Sprintf("1%020d", e.idx)
		e.rec.EventID = eventID()
		l.recs = append(l.recs, e)
	}
	l.trim()
	l.notify()
}

func eventID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// trim drops the records every subscriber has passed. Callers hold l.mu.
func (l *Layer) trim() {
	if l.opts.KeepAll {
		return
	}
	low := l.head
	for s := range l.subs {
		low = min(low, s.next)
	}
	n := 0
	for n < len(l.recs) && l.recs[n].idx < low {
		n++
	}
	if n > 0 {
		l.recs = append([]entry(nil), l.recs[n:]...)
	}
}

// notify wakes everyone waiting for the log to change. Callers hold l.mu.
func (l *Layer) notify() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// Records returns the retained records of a table ("" for every table), oldest first: the
// whole stream so far with Options.KeepAll.
func (l *Layer) Records(tableName string) []events.DynamoDBEventRecord {
	l.mu.Lock()
	var out []events.DynamoDBEventRecord
	for _, e := range l.recs {
		if tableName == "" || e.table == tableName {
			out = append(out, e.rec)
		}
	}
	l.mu.Unlock()
	return cloneRecords(out)
}

// cloneRecords copies records through their JSON, as Lambda hands them over: nothing the
// receiver changes reaches the log.
func cloneRecords(recs []events.DynamoDBEventRecord) []events.DynamoDBEventRecord {
	b, err := json.Marshal(recs)
	if err != nil {
		panic(fmt.Sprintf("stream: marshal records: %v", err))
	}
	var out []events.DynamoDBEventRecord
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("stream: unmarshal records: %v", err))
	}
	return out
}

// recorder keeps an answer of the engine until the stream has its records.
type recorder struct {
	header http.Header
	body   bytes.Buffer
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

func (r *recorder) replay(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body.Bytes())
}

// errorType is the error code of an engine's JSON 1.0 error document, without its namespace.
func (r *recorder) errorType() string {
	var doc struct {
		Type string `json:"__type"`
	}
	_ = json.Unmarshal(r.body.Bytes(), &doc)
	return doc.Type[strings.LastIndex(doc.Type, "#")+1:]
}

var errNoEngine = errors.New("stream: the layer wraps no engine yet")
