package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/bufdir/export-audit/internal/perf"
	"github.com/bufdir/export-audit/pkg/audit"
)

// The four ways a call is made, measured in turn.
const (
	modeAPI     = iota // through the local API over HTTP
	modeHandler        // the function's handler in-process, with the event
	modeRaw            // the bare DynamoDB calls the route needs
	modeHop            // an HTTP round trip to a server that does nothing
	modes
)

// calls says how to make the i-th call of a route in each mode.
type calls struct {
	function string
	want     int // the route's success status
	api      func(i int) perf.Request
	handler  func(i int) perf.Request
	raw      func(i int) perf.Op // prepared before it is timed
}

// scenario is one route measured warm.
type scenario struct {
	route    string // as the report names it
	baseline string // the bare calls, as the report names them
	prepare  func(ctx context.Context, s *stack, n int) (calls, error)
}

const org = "org-bench-042"

// day returns a day of its own for each pool of seeded records, away from today.
func day(y int, m time.Month) time.Time { return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC) }

// pools seeds three pools of n queued records, one for each mode that changes records.
func pools(ctx context.Context, s *stack, n int) (apiIDs, handlerIDs, rawIDs []audit.RecordID, err error) {
	queued := func(int) audit.Status { return audit.StatusQueued }
	var out [3][]audit.RecordID
	for k := range out {
		out[k], err = s.seed(ctx, perf.Batch{Org: org, N: n, FirstDay: day(2024, time.Month(k+1)), PerDay: n, Status: queued})
		if err != nil {
			return nil, nil, nil, err
		}
	}
	return out[0], out[1], out[2], nil
}

var scenarios = []scenario{
	{
		route: "get", baseline: "GetItem",
		prepare: func(ctx context.Context, s *stack, n int) (calls, error) {
			ids, err := s.seed(ctx, perf.Batch{Org: org, N: 20, FirstDay: day(2025, 6)})
			get := func(i int) perf.Request { return perf.Get(ids[i%len(ids)]) }
			return calls{function: "get-record", want: 200, api: get, handler: get,
				raw: func(i int) perf.Op { return s.raw.Get(org, ids[i%len(ids)]) }}, err
		},
	},
	{
		route: "list (20 records, page 1)", baseline: "Query",
		prepare: func(ctx context.Context, s *stack, n int) (calls, error) {
			_, err := s.seed(ctx, perf.Batch{Org: org, N: 20, FirstDay: day(2025, 6)})
			list := func(int) perf.Request { return perf.List("") }
			return calls{function: "list-records", want: 200, api: list, handler: list,
				raw: func(int) perf.Op { return s.raw.ListPage(org, 20) }}, err
		},
	},
	{
		route: "create", baseline: "UpdateItem + TransactWriteItems",
		prepare: func(ctx context.Context, s *stack, n int) (calls, error) {
			specs := perf.Batch{Org: org, N: n, FirstDay: day(2024, 1), PerDay: n,
				Status: func(int) audit.Status { return audit.StatusQueued }, Prefix: "exp-raw"}.Specs()
			return calls{function: "create-record", want: 201,
				api:     func(i int) perf.Request { return perf.Create("exp-api-" + strconv.Itoa(i)) },
				handler: func(i int) perf.Request { return perf.Create("exp-handler-" + strconv.Itoa(i)) },
				raw:     func(i int) perf.Op { return s.raw.Create(specs[i]) }}, nil
		},
	},
	{
		route: "status", baseline: "UpdateItem",
		prepare: func(ctx context.Context, s *stack, n int) (calls, error) {
			a, h, r, err := pools(ctx, s, n)
			return calls{function: "update-status", want: 200,
				api:     func(i int) perf.Request { return perf.Status(a[i], audit.StatusProcessing) },
				handler: func(i int) perf.Request { return perf.Status(h[i], audit.StatusProcessing) },
				raw: func(i int) perf.Op {
					return s.raw.Status(org, r[i], audit.StatusQueued, audit.StatusProcessing, sub)
				}}, err
		},
	},
	{
		route: "file-url", baseline: "UpdateItem",
		prepare: func(ctx context.Context, s *stack, n int) (calls, error) {
			a, h, r, err := pools(ctx, s, n)
			return calls{function: "attach-file-url", want: 200,
				api:     func(i int) perf.Request { return perf.FileURL(a[i]) },
				handler: func(i int) perf.Request { return perf.FileURL(h[i]) },
				raw:     func(i int) perf.Op { return s.raw.FileURL(org, r[i]) }}, err
		},
	},
	{
		route: "delete", baseline: "GetItem + TransactWriteItems",
		prepare: func(ctx context.Context, s *stack, n int) (calls, error) {
			a, h, r, err := pools(ctx, s, n)
			return calls{function: "delete-record", want: 200,
				api:     func(i int) perf.Request { return perf.Delete(a[i]) },
				handler: func(i int) perf.Request { return perf.Delete(h[i]) },
				raw:     func(i int) perf.Op { return s.raw.Delete(org, r[i], sub) }}, err
		},
	},
}

// warmResult is one route's latencies in each mode, and what one call costs in DynamoDB.
type warmResult struct {
	scenario
	lat   [modes]dist
	usage usage   // one call through the local API
	extra []usage // create: a replay
}

// allModes are the four ways of calling, in the order they take turns.
var allModes = []int{modeAPI, modeHandler, modeRaw, modeHop}

// measure makes warmup+n calls in each of ms, the modes taking turns call by call (in a
// rotating order) so that load on the machine falls on each alike, and keeps the last n.
func measure(ctx context.Context, s *stack, c calls, warmup, n int, ms []int) (lat [modes]dist, err error) {
	for i := 0; i < warmup+n; i++ {
		for k := range ms {
			mode := ms[(i+k)%len(ms)]
			var d time.Duration
			switch mode {
			case modeAPI:
				d, err = s.viaAPI(ctx, c.api(i), c.want)
			case modeHandler:
				d, err = s.viaHandler(ctx, c.function, c.handler(i), c.want)
			case modeRaw:
				d, err = viaRaw(ctx, c.raw(i))
			case modeHop:
				d, err = s.viaHop(ctx, c.api(i))
			}
			if err != nil {
				return lat, fmt.Errorf("call %d: %w", i, err)
			}
			if i >= warmup {
				lat[mode] = append(lat[mode], d)
			}
		}
	}
	return lat, nil
}

// runWarm measures every route on a fresh engine of its own.
func (e *bench) runWarm(ctx context.Context, warmup, n int) ([]warmResult, error) {
	var out []warmResult
	for _, sc := range scenarios {
		e.progress("warm latency: " + sc.route)
		res, err := e.runScenario(ctx, sc, warmup, n)
		if err != nil {
			return nil, fmt.Errorf("warm %s: %w", sc.route, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func (e *bench) runScenario(ctx context.Context, sc scenario, warmup, n int) (warmResult, error) {
	s, err := e.stack(ctx, org)
	if err != nil {
		return warmResult{}, err
	}
	defer s.close()
	// One more call than measured, for the DynamoDB usage of a call on its own.
	c, err := sc.prepare(ctx, s, warmup+n+1)
	if err != nil {
		return warmResult{}, err
	}
	res := warmResult{scenario: sc}
	if res.lat, err = measure(ctx, s, c, warmup, n, allModes); err != nil {
		return res, err
	}
	s.meter.take()
	s.meter.setDeep(true)
	defer s.meter.setDeep(false)
	if _, err := s.viaAPI(ctx, c.api(warmup+n), c.want); err != nil {
		return res, err
	}
	res.usage = s.meter.take()
	if c.function == "create-record" {
		// The first create again: a retry, answered from the stored record.
		if _, err := s.viaAPI(ctx, c.api(0), 200); err != nil {
			return res, err
		}
		res.extra = append(res.extra, s.meter.take())
	}
	return res, nil
}
