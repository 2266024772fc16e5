package main

import (
	"context"
	"fmt"
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
	// setup runs before the i-th call of every mode and teardown after them, untimed: they
	// write the records the calls need and remove what the calls left, so that the table
	// stays as small as it started. The engine copies its whole table for every transaction
	// (to roll it back), which DynamoDB does not; a growing table would time the engine.
	// teardown gets the bodies the local API and the handler answered.
	setup    func(ctx context.Context, i int) error
	teardown func(ctx context.Context, i int, answers [modes]string) error
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

// onPool prepares a route that changes one record per call: n queued records for each mode
// that changes records, written and removed call by call. req is the route's request for a
// record, raw its bare DynamoDB calls.
func onPool(function string, req func(audit.RecordID) perf.Request, raw func(s *stack, id audit.RecordID) perf.Op) func(context.Context, *stack, int) (calls, error) {
	return func(_ context.Context, s *stack, n int) (calls, error) {
		queued := func(int) audit.Status { return audit.StatusQueued }
		var specs [3][]perf.Spec
		for k := range specs {
			specs[k] = perf.Batch{Org: org, N: n, FirstDay: day(2024, time.Month(k+1)), PerDay: n, Status: queued}.Specs()
		}
		at := func(i int) []perf.Spec { return []perf.Spec{specs[0][i], specs[1][i], specs[2][i]} }
		return calls{
			function: function, want: 200,
			api:     func(i int) perf.Request { return req(specs[0][i].ID) },
			handler: func(i int) perf.Request { return req(specs[1][i].ID) },
			raw:     func(i int) perf.Op { return raw(s, specs[2][i].ID) },
			setup: func(ctx context.Context, i int) error {
				return s.raw.Shape.SeedSpecs(ctx, s.raw.DB, tableName, at(i), 1)
			},
			teardown: func(ctx context.Context, i int, _ [modes]string) error {
				return perf.Remove(ctx, s.raw.DB, tableName, at(i))
			},
		}, nil
	}
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
			exportID := func(mode, i int) string { return fmt.Sprintf("exp-%d-%d", mode, i) }
			return calls{function: "create-record", want: 201,
				api:     func(i int) perf.Request { return perf.Create(exportID(modeAPI, i)) },
				handler: func(i int) perf.Request { return perf.Create(exportID(modeHandler, i)) },
				raw:     func(i int) perf.Op { return s.raw.Create(specs[i]) },
				teardown: func(ctx context.Context, i int, answers [modes]string) error {
					made := []perf.Spec{specs[i]}
					for _, mode := range []int{modeAPI, modeHandler} {
						id, err := createdID(answers[mode])
						if err != nil {
							return err
						}
						made = append(made, perf.Spec{Org: org, ID: id, ExportID: exportID(mode, i)})
					}
					return perf.Remove(ctx, s.raw.DB, tableName, made)
				}}, nil
		},
	},
	{
		route: "status", baseline: "UpdateItem",
		prepare: onPool("update-status",
			func(id audit.RecordID) perf.Request { return perf.Status(id, audit.StatusProcessing) },
			func(s *stack, id audit.RecordID) perf.Op { return s.raw.Status(org, id, audit.StatusProcessing, sub) }),
	},
	{
		route: "file-url", baseline: "UpdateItem",
		prepare: onPool("attach-file-url", perf.FileURL,
			func(s *stack, id audit.RecordID) perf.Op { return s.raw.FileURL(org, id) }),
	},
	{
		route: "delete", baseline: "GetItem + TransactWriteItems",
		prepare: onPool("delete-record", perf.Delete,
			func(s *stack, id audit.RecordID) perf.Op { return s.raw.Delete(org, id, sub) }),
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
		if c.setup != nil {
			if err := c.setup(ctx, i); err != nil {
				return lat, fmt.Errorf("set up call %d: %w", i, err)
			}
		}
		var answers [modes]string
		for k := range ms {
			mode := ms[(i+k)%len(ms)]
			var d time.Duration
			switch mode {
			case modeAPI:
				d, answers[mode], err = s.viaAPI(ctx, c.api(i), c.want)
			case modeHandler:
				d, answers[mode], err = s.viaHandler(ctx, c.function, c.handler(i), c.want)
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
		if c.teardown != nil {
			if err := c.teardown(ctx, i, answers); err != nil {
				return lat, fmt.Errorf("tear down call %d: %w", i, err)
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
	// A few more calls than measured, for the DynamoDB usage of a call on its own.
	c, err := sc.prepare(ctx, s, warmup+n+deepTries)
	if err != nil {
		return warmResult{}, err
	}
	res := warmResult{scenario: sc}
	if res.lat, err = measure(ctx, s, c, warmup, n, allModes); err != nil {
		return res, err
	}
	for try := 0; ; try++ {
		if try == deepTries {
			return res, fmt.Errorf("the SDK retried a call in each of %d tries to count one", deepTries)
		}
		last := warmup + n + try
		if c.setup != nil {
			if err := c.setup(ctx, last); err != nil {
				return res, err
			}
		}
		u, ok, err := s.deep(ctx, c.api(last), c.want)
		if err != nil {
			return res, err
		}
		res.usage = u
		if ok && c.function == "create-record" {
			// The same create again: a retry of the client's, answered from the stored record.
			var replay usage
			if replay, ok, err = s.deep(ctx, c.api(last), 200); err != nil {
				return res, err
			}
			res.extra = []usage{replay}
		}
		if ok {
			return res, nil
		}
		e.recounted++
		e.progress(fmt.Sprintf("warm %s: the SDK retried a call; counting another. Its EMF line: %s", sc.route, s.emf))
	}
}

// deepTries bounds the calls made to count one call's DynamoDB usage without an SDK retry.
const deepTries = 3
