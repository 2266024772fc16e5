package contract

// The routes under both prefixes, over real HTTP against the whole local API (embedded engine,
// token verification, the handlers the Lambda functions run).

import (
	"net/http"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
)

type route struct {
	name, method, path string
	body               any
	scope              string
	success            int
}

// routesOf lists the six routes under prefix, the record ones aimed at id.
func routesOf(prefix, id string) []route {
	return []route{
		{"list", "GET", prefix, nil, "audit:read", http.StatusOK},
		{"get", "GET", prefix + "/" + id, nil, "audit:read", http.StatusOK},
		{"create", "POST", prefix, testkit.NewRecord(nil), "audit:write", http.StatusCreated},
		{"update status", "PUT", prefix + "/" + id + "/status", testkit.Fields{"status": "processing"}, "audit:write", http.StatusOK},
		{"attach file URL", "PUT", prefix + "/" + id + "/file-url", testkit.Fields{"file_url": "https://storage.example.no/exports/x.pdf"}, "audit:write", http.StatusOK},
		{"delete", "DELETE", prefix + "/" + id, nil, "audit:delete", http.StatusOK},
	}
}

func TestHealthz_AnswersWithoutToken(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	r := s.MustDo(t, testkit.Request{Method: "GET", Path: "/healthz"})
	testkit.WantStatus(t, r, http.StatusOK)
}

// TestRoutes_BothPrefixesServeTheWholeLifecycle walks one record through every route, once
// under each prefix, with the same expectations.
func TestRoutes_BothPrefixesServeTheWholeLifecycle(t *testing.T) {
	t.Parallel()
	testkit.EachPrefix(t, func(t *testing.T, prefix string) {
		c := newOwner(t)

		body := testkit.NewRecord(testkit.Fields{"format": "excel", "activity_count": 312})
		created := c.post(t, prefix, body)
		testkit.WantStatus(t, created, http.StatusCreated)
		rec := created.Record(t)
		if loc, want := created.Header.Get("Location"), single+"/"+rec.RecordID; loc != want {
			t.Errorf("want Location %q (the single prefix), got %q", want, loc)
		}

		got := c.get(t, prefix+"/"+rec.RecordID)
		testkit.WantStatus(t, got, http.StatusOK)
		if string(got.Body) != string(created.Body) {
			t.Errorf("want the read to equal the created record\ncreated %s\nread    %s", created.Body, got.Body)
		}

		replay := c.post(t, prefix, body)
		testkit.WantStatus(t, replay, http.StatusOK)
		if h := replay.Header.Get("Idempotent-Replayed"); h != "true" {
			t.Errorf("want Idempotent-Replayed: true on a replay, got %q", h)
		}

		list := c.get(t, prefix+"?export_id="+rec.ExportID)
		testkit.WantStatus(t, list, http.StatusOK)
		if pg := list.Page(t); pg.Pagination.Total != 1 || len(pg.Data) != 1 || pg.Data[0].RecordID != rec.RecordID {
			t.Errorf("want the list to hold only %s, got %s", rec.RecordID, list)
		}

		at := rec.CreatedAt.Add(time.Minute)
		moved := c.put(t, prefix+"/"+rec.RecordID+"/status", testkit.Fields{"status": "processing", "updated_at": ts(at)})
		testkit.WantStatus(t, moved, http.StatusOK)
		if m := moved.Record(t); m.Status != "processing" || !m.UpdatedAt.Equal(at) {
			t.Errorf("want processing at %v, got %s", at, moved)
		}

		url := "https://storage.example.no/exports/" + rec.ExportID + ".xlsx"
		attached := c.put(t, prefix+"/"+rec.RecordID+"/file-url", testkit.Fields{"file_url": url})
		testkit.WantStatus(t, attached, http.StatusOK)
		if a := attached.Record(t); a.FileURL == nil || *a.FileURL != url {
			t.Errorf("want file_url %s, got %s", url, attached)
		}

		deleted := c.del(t, prefix+"/"+rec.RecordID)
		testkit.WantStatus(t, deleted, http.StatusOK)
		wantDeleted(t, deleted, rec.RecordID)

		testkit.WantProblem(t, c.get(t, prefix+"/"+rec.RecordID), http.StatusNotFound, "not_found")
		testkit.WantProblem(t, c.del(t, prefix+"/"+rec.RecordID), http.StatusNotFound, "not_found")
		testkit.WantFieldError(t, c.get(t, prefix+"/rec-1"), "record_id")
	})
}

func TestRoutes_PrefixesShareOneCollection(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	viaDoubled := c.post(t, doubled, testkit.NewRecord(nil))
	testkit.WantStatus(t, viaDoubled, http.StatusCreated)
	viaSingle := c.post(t, single, testkit.NewRecord(nil))
	testkit.WantStatus(t, viaSingle, http.StatusCreated)

	for _, r := range []testkit.Reply{viaDoubled, viaSingle} {
		rec := r.Record(t)
		a, b := c.get(t, single+"/"+rec.RecordID), c.get(t, doubled+"/"+rec.RecordID)
		testkit.WantStatus(t, a, http.StatusOK)
		if string(a.Body) != string(b.Body) || b.Status != a.Status {
			t.Errorf("want both prefixes to answer the same for %s\nsingle  %s\ndoubled %s", rec.RecordID, a, b)
		}
	}
	a, b := c.get(t, single), c.get(t, doubled)
	if string(a.Body) != string(b.Body) || a.Page(t).Pagination.Total != 2 {
		t.Errorf("want both prefixes to list the same two records\nsingle  %s\ndoubled %s", a, b)
	}
}

func indexOf(name string) int {
	for i, rt := range routesOf("", "") {
		if rt.name == name {
			return i
		}
	}
	panic("no route " + name)
}
