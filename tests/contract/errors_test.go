package contract

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/internal/testkit"
)

// padded is b, a JSON object, grown with white space inside to exactly n bytes.
func padded(b []byte, n int) []byte {
	return append(append(bytes.Clone(b[:len(b)-1]), bytes.Repeat([]byte(" "), n-len(b))...), '}')
}

func TestBody_Over64KiBIs413(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	eachBodyRoute(t, c, func(t *testing.T, rec testkit.Record, rt route) {
		body, err := testkit.Encode(rt.body)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{64<<10 + 1, 1 << 20} {
			r := c.srv.MustDo(t, testkit.Request{Method: rt.method, Path: rt.path, Token: c.token, Body: padded(body, n)})
			testkit.WantProblem(t, r, http.StatusRequestEntityTooLarge, "payload_too_large")
		}
		if got := c.get(t, single+"/"+rec.RecordID).Record(t); got.Status != "queued" || got.FileURL != nil {
			t.Errorf("want a refused body to change nothing, got %+v", got)
		}
		r := c.srv.MustDo(t, testkit.Request{Method: rt.method, Path: rt.path, Token: c.token, Body: padded(body, 64<<10)})
		testkit.WantStatus(t, r, rt.success)
	})
}

// eachBodyRoute runs check in a parallel subtest for each route that takes a body, under each
// prefix, with a record of its own that c created.
func eachBodyRoute(t *testing.T, c caller, check func(t *testing.T, rec testkit.Record, rt route)) {
	t.Helper()
	for _, p := range prefixes {
		for _, name := range []string{"create", "update status", "attach file URL"} {
			t.Run(p.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				rec := c.create(t, testkit.NewRecord(nil))
				check(t, rec, routesOf(p.path, rec.RecordID)[indexOf(name)])
			})
		}
	}
}

func TestBody_NotJSONIs415(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	refused := []string{"-", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/json", "application/xml", "application/problem+json", "application/json-patch+json", "json"}
	accepted := []string{"application/json; charset=utf-8", "Application/JSON"}
	eachBodyRoute(t, c, func(t *testing.T, rec testkit.Record, rt route) {
		for _, ct := range refused {
			r := c.srv.MustDo(t, testkit.Request{Method: rt.method, Path: rt.path, Token: c.token, Body: rt.body, ContentType: ct})
			testkit.WantProblem(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
		}
		if got := c.get(t, single+"/"+rec.RecordID).Record(t); got.Status != "queued" || got.FileURL != nil {
			t.Errorf("want a refused body to change nothing, got %+v", got)
		}
		if rt.name == "create" {
			q := "?export_id=" + rt.body.(testkit.Fields)["export_id"].(string)
			c.wantTotal(t, q, 0, "a refused create to write nothing")
		}
		for _, ct := range accepted {
			r := c.srv.MustDo(t, testkit.Request{Method: rt.method, Path: rt.path, Token: c.token, Body: rt.body, ContentType: ct})
			if r.Status >= 400 {
				t.Errorf("want Content-Type %q accepted, got %s", ct, r)
			}
		}
	})
}

func TestRecordID_MalformedIs400(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	malformed := []string{
		"rec-1",
		"rec-20260301-01",
		"rec-20260301-0001",
		"rec-20260301-000",
		"rec-20260301-1000000000",
		"rec-20261301-001",
		"rec-20260230-001",
		"REC-20260301-001",
		"rec_20260301_001",
		"rec20260301001",
		"rec-2026031-001",
		"rec-20260301-abc",
		"rec-20260301-001x",
		"rec-20260301--01",
		"%20rec-20260301-001",
		"rec-20260301-001%2Fstatus",
		"exp-20260301-abc123",
	}
	for _, p := range prefixes {
		for _, id := range malformed {
			for _, rt := range routesOf(p.path, id) {
				if !strings.Contains(rt.path, id) {
					continue
				}
				t.Run(p.name+"/"+rt.name+"/"+id, func(t *testing.T) {
					t.Parallel()
					testkit.WantFieldError(t, c.do(t, rt.method, rt.path, rt.body), "record_id")
				})
			}
		}
	}
}

func TestRecordID_UnknownIs404(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	rec := c.create(t, testkit.NewRecord(nil))
	next := "rec-" + rec.CreatedAt.Format("20060102") + "-" + strconv.Itoa(seqOf(t, rec.RecordID)+100)
	for _, p := range prefixes {
		for _, id := range []string{"rec-20200101-001", "rec-29991231-999", next} {
			for _, rt := range routesOf(p.path, id) {
				if !strings.Contains(rt.path, id) {
					continue
				}
				t.Run(p.name+"/"+rt.name+"/"+id, func(t *testing.T) {
					t.Parallel()
					testkit.WantProblem(t, c.do(t, rt.method, rt.path, rt.body), http.StatusNotFound, "not_found")
				})
			}
		}
	}
}

// failingAfterARecord starts a local API, creates a record on it, and from then on has its
// engine answer every DynamoDB call with e, as the real service would when throttling or broken.
func failingAfterARecord(t *testing.T, e testkit.DynamoDBError) (caller, testkit.Record) {
	t.Helper()
	door := &testkit.Door{}
	c := startServerWith(t, localrun.Options{EngineWrap: door.Wrap}).as(t, "org-bufdir-042", "usr-0042")
	rec := c.create(t, testkit.NewRecord(nil))
	door.Fail(-1, "", e)
	return c, rec
}

// TestEngine_ThrottlingIs503WithRetryAfter: DynamoDB still throttling after the SDK's retries is
// a 503 that says when to come back.
func TestEngine_ThrottlingIs503WithRetryAfter(t *testing.T) {
	t.Parallel()
	c, rec := failingAfterARecord(t, testkit.DynamoDBError{Type: "ThrottlingException", Message: "Rate of requests exceeds the allowed throughput"})
	// Each call waits out the SDK's retries; the routes go at once, in goroutines rather than
	// parallel subtests, so that the waiting holds one of the test binary's parallel slots only.
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, rt := range routesOf(single, rec.RecordID) {
		wg.Go(func() {
			t.Run(rt.name, func(t *testing.T) {
				r := c.do(t, rt.method, rt.path, rt.body)
				testkit.WantProblem(t, r, http.StatusServiceUnavailable, "throttled")
				if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 {
					t.Errorf("want Retry-After in whole seconds, got %q", r.Header.Get("Retry-After"))
				}
				testkit.WantNotContain(t, r, "ThrottlingException", "Rate of requests", testkit.Table)
			})
		})
	}
}

// TestEngine_FailureIs500WithoutInternals: an error the service cannot place is a 500 whose body
// says nothing about what went wrong inside.
func TestEngine_FailureIs500WithoutInternals(t *testing.T) {
	t.Parallel()
	c, rec := failingAfterARecord(t, testkit.DynamoDBError{Type: "ValidationException", Message: "One or more parameter values were invalid: internal-detail-7731"})
	for _, rt := range routesOf(single, rec.RecordID) {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			r := c.do(t, rt.method, rt.path, rt.body)
			testkit.WantProblem(t, r, http.StatusInternalServerError, "internal_error")
			testkit.WantNotContain(t, r, "ValidationException", "internal-detail-7731", testkit.Table, "dynamodb", "DynamoDB", "ORG#", "REC#")
		})
	}
}
