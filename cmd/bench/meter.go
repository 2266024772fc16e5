package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/faults"
)

// meter sits in front of an embedded engine and counts the DynamoDB calls that reach it, by
// operation. Deep, it also works out what each call reads and writes as DynamoDB would count
// it, which the engine does not report: items and bytes read (a filtered Query's items in its
// key range, found with a second, unfiltered query straight to the engine), items written,
// and capacity units. Deep costs engine work of its own, so latency runs leave it off.
type meter struct {
	inner http.Handler
	all   *tally // every call of the whole run, for "never Scan"

	mu      sync.Mutex
	deep    bool
	cur     usage
	pending []pendingRead // filtered Queries whose reads take works out
}

// pendingRead is a filtered Query to run again without its filter. That query walks the
// whole table on this engine; run inside the call, it would hold the call past the client's
// attempt timeout, so take runs it after the call has been answered.
type pendingRead struct {
	req  map[string]json.RawMessage
	auth string
}

// tally counts calls by operation over the whole run.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) add(op string) {
	t.mu.Lock()
	t.n[op]++
	t.mu.Unlock()
}

func (t *tally) get(op string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[op]
}

// usage is what some calls cost.
type usage struct {
	Calls    map[string]int
	Read     int     // items read: GetItem 1 when found; Query the items its key condition covered
	Returned int     // items returned to the caller
	Written  int     // items written (a write refused by its condition counts: DynamoDB charges it)
	ReadKB   float64 // bytes of the items read, in KiB
	RCU      float64 // strongly consistent reads: 1 per 4 KiB, per item (GetItem) or per call (Query)
	WCU      float64 // 1 per KiB per item; twice that in a transaction
	Pages    int     // Query calls DynamoDB would need for the reads, at most 1 MB each
}

// String lists the calls, e.g. "1 UpdateItem + 1 TransactWriteItems".
func (u usage) String() string {
	order := []string{"GetItem", "UpdateItem", "PutItem", "DeleteItem", "TransactWriteItems", "Query", "Scan", "BatchWriteItem"}
	for _, k := range slices.Sorted(maps.Keys(u.Calls)) {
		if !slices.Contains(order, k) {
			order = append(order, k)
		}
	}
	var parts []string
	for _, op := range order {
		if n := u.Calls[op]; n > 0 {
			parts = append(parts, itoa(n)+" "+op)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " + ")
}

func newMeter(inner http.Handler, all *tally) *meter {
	return &meter{inner: inner, all: all, cur: usage{Calls: map[string]int{}}}
}

func (m *meter) setDeep(on bool) {
	m.mu.Lock()
	m.deep = on
	m.mu.Unlock()
}

// take returns the usage since the last take and starts again from nothing.
func (m *meter) take() usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.cur
	for _, p := range m.pending {
		size := 0
		items := m.unfiltered(p.auth, p.req)
		for _, it := range items {
			size += itemSize(it)
		}
		u.Read += len(items)
		u.ReadKB += float64(size) / 1024
		u.Pages += max(1, int(math.Ceil(float64(size)/(1<<20))))
		u.RCU += kib(size, 4)
	}
	m.cur, m.pending = usage{Calls: map[string]int{}}, nil
	return u
}

func (m *meter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := faults.Operation(r)
	m.all.add(op)
	m.mu.Lock()
	m.cur.Calls[op]++
	deep := m.deep
	m.mu.Unlock()
	if !deep {
		m.inner.ServeHTTP(w, r)
		return
	}
	body := testkit.PeekBody(r)
	var req map[string]json.RawMessage
	_ = json.Unmarshal(body, &req)
	var u usage
	// What a write replaces counts towards its capacity: read it first, straight from the engine.
	switch op {
	case "UpdateItem", "DeleteItem":
		u.Written, u.WCU = 1, kib(m.itemSize(r, req["TableName"], req["Key"]), 1)
	case "PutItem":
		u.Written, u.WCU = 1, kib(itemSize(req["Item"]), 1)
	case "TransactWriteItems":
		var items []map[string]map[string]json.RawMessage
		_ = json.Unmarshal(req["TransactItems"], &items)
		for _, it := range items {
			for kind, p := range it {
				if kind == "ConditionCheck" {
					continue
				}
				size := itemSize(p["Item"])
				if kind != "Put" {
					size = m.itemSize(r, p["TableName"], p["Key"])
				}
				u.Written++
				u.WCU += 2 * kib(size, 1)
			}
		}
	}
	rec := &recorder{ResponseWriter: w}
	m.inner.ServeHTTP(rec, r)
	var resp map[string]json.RawMessage
	_ = json.Unmarshal(rec.buf.Bytes(), &resp)
	switch op {
	case "GetItem":
		size := itemSize(resp["Item"])
		if size > 0 {
			u.Read, u.Returned = 1, 1
		}
		u.ReadKB, u.RCU = float64(size)/1024, kib(size, 4)
	case "Query":
		var items []json.RawMessage
		_ = json.Unmarshal(resp["Items"], &items)
		u.Returned = len(items)
		if _, filtered := req["FilterExpression"]; filtered {
			// The engine counts every item it walks towards a filtered Query's Limit, those
			// outside the key range too, so its pages are not DynamoDB's: count, for the
			// pass's first call, what the key range holds from there to its end, which a
			// filtered pass of the store reads.
			if _, more := req["ExclusiveStartKey"]; !more {
				m.mu.Lock()
				m.pending = append(m.pending, pendingRead{req: req, auth: r.Header.Get("Authorization")})
				m.mu.Unlock()
			}
			break
		}
		size := 0
		for _, it := range items {
			size += itemSize(it)
		}
		u.Read, u.ReadKB = len(items), float64(size)/1024
		u.Pages = max(1, int(math.Ceil(float64(size)/(1<<20))))
		u.RCU = kib(size, 4)
	}
	m.mu.Lock()
	m.cur.Read += u.Read
	m.cur.Returned += u.Returned
	m.cur.Written += u.Written
	m.cur.ReadKB += u.ReadKB
	m.cur.RCU += u.RCU
	m.cur.WCU += u.WCU
	m.cur.Pages += u.Pages
	m.mu.Unlock()
}

// kib is the capacity units of size bytes at unit KiB a unit, at least 1.
func kib(size int, unit int) float64 {
	return max(1, math.Ceil(float64(size)/float64(unit*1024)))
}

// itemSize reads the item at key from the engine and returns its size.
func (m *meter) itemSize(r *http.Request, table, key json.RawMessage) int {
	body, _ := json.Marshal(map[string]json.RawMessage{"TableName": table, "Key": key, "ConsistentRead": json.RawMessage("true")})
	var out struct{ Item json.RawMessage }
	_ = json.Unmarshal(m.direct(r.Header.Get("Authorization"), "GetItem", body), &out)
	return itemSize(out.Item)
}

var placeholder = regexp.MustCompile(`[:#][A-Za-z0-9_]+`)

// unfiltered runs a filtered Query again without its filter, straight on the engine, and
// returns the items its key condition covers: what DynamoDB reads (and charges) before it
// filters.
func (m *meter) unfiltered(auth string, req map[string]json.RawMessage) []json.RawMessage {
	shadow := maps.Clone(req)
	delete(shadow, "FilterExpression")
	delete(shadow, "Limit")
	var cond string
	_ = json.Unmarshal(req["KeyConditionExpression"], &cond)
	used := placeholder.FindAllString(cond, -1)
	for _, field := range []string{"ExpressionAttributeNames", "ExpressionAttributeValues"} {
		var all map[string]json.RawMessage
		if json.Unmarshal(req[field], &all) != nil {
			continue
		}
		for k := range all {
			if !slices.Contains(used, k) {
				delete(all, k)
			}
		}
		if len(all) == 0 {
			delete(shadow, field)
			continue
		}
		shadow[field], _ = json.Marshal(all)
	}
	body, _ := json.Marshal(shadow)
	var out struct{ Items []json.RawMessage }
	_ = json.Unmarshal(m.direct(auth, "Query", body), &out)
	return out.Items
}

// direct sends one call to the engine, bypassing the meter's counts.
func (m *meter) direct(auth string, op string, body []byte) []byte {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	r.Header.Set("Authorization", auth)
	w := httptest.NewRecorder()
	m.inner.ServeHTTP(w, r)
	return w.Body.Bytes()
}

type recorder struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.buf.Write(b)
	return r.ResponseWriter.Write(b)
}

// itemSize is an item's size as DynamoDB counts it: each attribute's name and value, strings
// by their UTF-8 bytes, numbers by about one byte per two digits, lists and maps 3 bytes and 1
// per element on top of their elements.
func itemSize(raw json.RawMessage) int {
	var item map[string]json.RawMessage
	if json.Unmarshal(raw, &item) != nil {
		return 0
	}
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(raw json.RawMessage) int {
	var v map[string]json.RawMessage
	if json.Unmarshal(raw, &v) != nil {
		return 0
	}
	for typ, val := range v {
		switch typ {
		case "S":
			var s string
			_ = json.Unmarshal(val, &s)
			return len(s)
		case "N":
			var s string
			_ = json.Unmarshal(val, &s)
			return numberSize(s)
		case "B":
			var s string
			_ = json.Unmarshal(val, &s)
			b, _ := base64.StdEncoding.DecodeString(s)
			return len(b)
		case "BOOL", "NULL":
			return 1
		case "SS", "NS":
			var ss []string
			_ = json.Unmarshal(val, &ss)
			n := 0
			for _, s := range ss {
				if typ == "NS" {
					n += numberSize(s)
				} else {
					n += len(s)
				}
			}
			return n
		case "L":
			var l []json.RawMessage
			_ = json.Unmarshal(val, &l)
			n := 3
			for _, e := range l {
				n += 1 + valueSize(e)
			}
			return n
		case "M":
			var mm map[string]json.RawMessage
			_ = json.Unmarshal(val, &mm)
			n := 3
			for k, e := range mm {
				n += 1 + len(k) + valueSize(e)
			}
			return n
		}
	}
	return 0
}

// numberSize is about one byte per two significant digits, plus one.
func numberSize(s string) int {
	digits := strings.TrimLeft(s, "-0")
	if strings.Contains(digits, ".") {
		digits = strings.TrimRight(digits, "0")
	}
	digits = strings.ReplaceAll(digits, ".", "")
	return (len(digits)+1)/2 + 1
}
