package main

import (
	"context"
	"fmt"
	"time"

	"github.com/bufdir/export-audit/internal/perf"
	"github.com/bufdir/export-audit/pkg/audit"
)

// listResult is page 1 of one organisation's list, unfiltered or filtered.
type listResult struct {
	records  int
	filter   string // "" or the query
	usage    usage
	lat      [modes]dist
	seedTook time.Duration
}

const listOrg = "org-bench-list"

// runList seeds an organisation of each size on an engine of its own and measures page 1,
// unfiltered and filtered by status, n times in each mode (fewer when filtered: filteredN).
func (e *bench) runList(ctx context.Context, sizes []int, n, filteredN int) ([]listResult, error) {
	var out []listResult
	for _, size := range sizes {
		e.progress(fmt.Sprintf("list: seeding %s records", thousands(size)))
		s, err := e.stack(ctx, listOrg)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		_, err = s.seed(ctx, perf.Batch{Org: listOrg, N: size, FirstDay: day(2025, 1), PerDay: 100})
		took := time.Since(start)
		if err != nil {
			s.close()
			return nil, err
		}
		for _, filter := range []string{"", "status=completed"} {
			e.progress(fmt.Sprintf("list: %s records, %q", thousands(size), filter))
			req := perf.List(filter)
			c := calls{function: "list-records", want: 200,
				api: func(int) perf.Request { return req }, handler: func(int) perf.Request { return req },
				raw: func(int) perf.Op { return s.raw.ListPage(listOrg, 20) }}
			count := n
			if filter != "" {
				count = filteredN
				c.raw = func(int) perf.Op { return s.raw.ListByStatus(listOrg, audit.StatusCompleted) }
			}
			res := listResult{records: size, filter: filter, seedTook: took}
			var err error
			for try, ok := 0, false; !ok && err == nil; try++ {
				if try == deepTries {
					err = fmt.Errorf("the SDK retried a call in each of %d tries to count one", deepTries)
					break
				}
				if try > 0 {
					e.recounted++
					e.progress("list: the SDK retried a call; counting another. Its EMF line: " + s.emf.String())
				}
				res.usage, ok, err = s.deep(ctx, req, 200)
			}
			if err == nil {
				res.lat, err = measure(ctx, s, c, max(2, count/10), count, []int{modeAPI, modeRaw})
			}
			if err != nil {
				s.close()
				return nil, fmt.Errorf("list %d %q: %w", size, filter, err)
			}
			out = append(out, res)
		}
		s.close()
	}
	return out, nil
}
