package contract

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/config"
)

// The contract's two prefixes.
const single, doubled = testkit.Prefix, testkit.DoubledPrefix

// prefixes names both prefixes for table-driven tests.
var prefixes = []struct{ name, path string }{
	{"single prefix", single},
	{"doubled prefix", doubled},
}

// server is one running local API: an embedded engine of its own and the API in front of it.
type server struct{ *testkit.API }

// startServer starts the whole local API in-process for one test (or group of subtests);
// configure changes the configuration it starts with.
func startServer(t *testing.T, configure ...func(*config.Config)) *server {
	t.Helper()
	return startServerWith(t, localrun.Options{}, configure...)
}

// startServerWith starts the local API with o (its engine wrapper, authorizer, store options),
// on the kit's configuration as configure changes it.
func startServerWith(t *testing.T, o localrun.Options, configure ...func(*config.Config)) *server {
	t.Helper()
	o.Config = testkit.Config()
	for _, c := range configure {
		c(&o.Config)
	}
	return &server{testkit.StartAPI(t, o)}
}

// newOwner starts a local API for one test and returns the contract's example caller on it:
// usr-0042 of org-bufdir-042, with every scope. The API is c.srv.
func newOwner(t *testing.T) caller {
	t.Helper()
	return startServer(t).as(t, "org-bufdir-042", "usr-0042")
}

// caller is someone holding a token for the server.
type caller struct {
	srv   *server
	org   string
	sub   string
	token string
}

// as returns a caller of org with user id sub and the given scopes (all three when none given).
func (s *server) as(t *testing.T, org, sub string, scopes ...string) caller {
	t.Helper()
	return caller{srv: s, org: org, sub: sub, token: testkit.Token(t, org, sub, scopes...)}
}

func (c caller) do(t *testing.T, method, path string, body any) testkit.Reply {
	t.Helper()
	return c.srv.Must(t, method, path, c.token, body)
}

func (c caller) get(t *testing.T, path string) testkit.Reply {
	t.Helper()
	return c.do(t, "GET", path, nil)
}

func (c caller) post(t *testing.T, path string, body any) testkit.Reply {
	t.Helper()
	return c.do(t, "POST", path, body)
}

func (c caller) put(t *testing.T, path string, body any) testkit.Reply {
	t.Helper()
	return c.do(t, "PUT", path, body)
}

func (c caller) del(t *testing.T, path string) testkit.Reply {
	t.Helper()
	return c.do(t, "DELETE", path, nil)
}

// total is how many records of the caller's organisation the list counts for query ("" for
// none, else from its "?").
func (c caller) total(t *testing.T, query string) int {
	t.Helper()
	return c.get(t, single+query).Page(t).Pagination.Total
}

// wantTotal fails t unless the list under query counts want records; why is what that count shows.
func (c caller) wantTotal(t *testing.T, query string, want int, why string) {
	t.Helper()
	if total := c.total(t, query); total != want {
		t.Errorf("want %s: total %d, got %d", why, want, total)
	}
}

// refusal is a body the API must refuse, and the field its validation error names ("" for a
// body that is not JSON).
type refusal struct {
	name  string
	body  any
	field string
}

// wantUnchanged fails t unless the record id reads as it did before; why says what was to
// change nothing.
func (c caller) wantUnchanged(t *testing.T, id string, before testkit.Reply, why string) {
	t.Helper()
	if after := c.get(t, single+"/"+id); string(after.Body) != string(before.Body) {
		t.Errorf("want %s\nbefore %s\nafter  %s", why, before, after)
	}
}

// create posts body to the canonical collection and expects 201.
func (c caller) create(t *testing.T, body testkit.Fields) testkit.Record {
	t.Helper()
	r := c.post(t, single, body)
	testkit.WantStatus(t, r, http.StatusCreated)
	return r.Record(t)
}

// move changes a record's status and expects 200.
func (c caller) move(t *testing.T, id, status string, at time.Time) testkit.Record {
	t.Helper()
	r := c.put(t, single+"/"+id+"/status", testkit.Fields{"status": status, "updated_at": at.UTC().Format(time.RFC3339)})
	testkit.WantStatus(t, r, http.StatusOK)
	return r.Record(t)
}

func ts(tm time.Time) string { return tm.UTC().Format(time.RFC3339) }

// seqOf is the day sequence number of a record_id.
func seqOf(t *testing.T, id string) int {
	t.Helper()
	sm := testkit.RecordIDPattern.FindStringSubmatch(id)
	if sm == nil {
		t.Fatalf("want a record_id like rec-YYYYMMDD-NNN, got %q", id)
	}
	n, err := strconv.Atoi(sm[2])
	if err != nil {
		t.Fatalf("record_id %q: %v", id, err)
	}
	return n
}

// equalHistory reports whether two histories hold the same entries, times compared as instants.
func equalHistory(a, b []testkit.HistoryEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Status != b[i].Status || !a[i].At.Equal(b[i].At) || a[i].By != b[i].By {
			return false
		}
	}
	return true
}
