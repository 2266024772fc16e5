package contract

// The routes, the create, its replays and the delete, over real HTTP against the whole local API
// (embedded engine, token verification, the handlers the Lambda functions run).

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/local"
)

// route is one of the six routes under a prefix, with a body it accepts.
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
	for _, p := range prefixes {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			c := newOwner(t)

			body := testkit.NewRecord(testkit.Fields{"format": "excel", "activity_count": 312})
			created := c.post(t, p.path, body)
			testkit.WantStatus(t, created, http.StatusCreated)
			rec := created.Record(t)
			if loc, want := created.Header.Get("Location"), single+"/"+rec.RecordID; loc != want {
				t.Errorf("want Location %q (the single prefix), got %q", want, loc)
			}

			got := c.get(t, p.path+"/"+rec.RecordID)
			testkit.WantStatus(t, got, http.StatusOK)
			if string(got.Body) != string(created.Body) {
				t.Errorf("want the read to equal the created record\ncreated %s\nread    %s", created.Body, got.Body)
			}

			replay := c.post(t, p.path, body)
			testkit.WantStatus(t, replay, http.StatusOK)
			if h := replay.Header.Get("Idempotent-Replayed"); h != "true" {
				t.Errorf("want Idempotent-Replayed: true on a replay, got %q", h)
			}

			list := c.get(t, p.path+"?export_id="+rec.ExportID)
			testkit.WantStatus(t, list, http.StatusOK)
			if pg := list.Page(t); pg.Pagination.Total != 1 || len(pg.Data) != 1 || pg.Data[0].RecordID != rec.RecordID {
				t.Errorf("want the list to hold only %s, got %s", rec.RecordID, list)
			}

			at := rec.CreatedAt.Add(time.Minute)
			moved := c.put(t, p.path+"/"+rec.RecordID+"/status", testkit.Fields{"status": "processing", "updated_at": ts(at)})
			testkit.WantStatus(t, moved, http.StatusOK)
			if m := moved.Record(t); m.Status != "processing" || !m.UpdatedAt.Equal(at) {
				t.Errorf("want processing at %v, got %s", at, moved)
			}

			url := "https://storage.example.no/exports/" + rec.ExportID + ".xlsx"
			attached := c.put(t, p.path+"/"+rec.RecordID+"/file-url", testkit.Fields{"file_url": url})
			testkit.WantStatus(t, attached, http.StatusOK)
			if a := attached.Record(t); a.FileURL == nil || *a.FileURL != url {
				t.Errorf("want file_url %s, got %s", url, attached)
			}

			deleted := c.del(t, p.path+"/"+rec.RecordID)
			testkit.WantStatus(t, deleted, http.StatusOK)
			wantDeleted(t, deleted, rec.RecordID)

			testkit.WantProblem(t, c.get(t, p.path+"/"+rec.RecordID), http.StatusNotFound, "not_found")
			testkit.WantProblem(t, c.del(t, p.path+"/"+rec.RecordID), http.StatusNotFound, "not_found")
			testkit.WantFieldError(t, c.get(t, p.path+"/rec-1"), "record_id")
		})
	}
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

// TestAuth_RefusesMissingBadAndExpiredTokens sends every route, under both prefixes, tokens
// API Gateway's JWT authorizer refuses, and checks that nothing was written.
func TestAuth_RefusesMissingBadAndExpiredTokens(t *testing.T) {
	t.Parallel()
	owner := newOwner(t)
	rec := owner.create(t, testkit.NewRecord(nil))
	before := owner.get(t, single+"/"+rec.RecordID)

	now := time.Now()
	valid := owner.token
	parts := strings.Split(valid, ".")
	claims := map[string]any{"sub": "usr-0042", "org_id": "org-bufdir-042", "scope": strings.Join(testkit.AllScopes, " "), "exp": now.Add(time.Hour).Unix()}
	payload, _ := json.Marshal(claims)
	otherOrg, _ := json.Marshal(map[string]any{"sub": "usr-0042", "org_id": "org-other", "scope": "audit:read", "exp": now.Add(time.Hour).Unix()})
	b64 := base64.RawURLEncoding.EncodeToString
	sign := func(c map[string]any) string {
		tok, err := local.Sign(testkit.Secret, c)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return tok
	}
	otherSecret, _ := local.Token("not-the-secret", "org-bufdir-042", "usr-0042", testkit.AllScopes, time.Hour, now)
	expired, _ := local.Token(testkit.Secret, "org-bufdir-042", "usr-0042", testkit.AllScopes, time.Hour, now.Add(-2*time.Hour))

	tokens := []struct {
		name, header string
	}{
		{"no token", ""},
		{"empty bearer", "Bearer "},
		{"basic scheme", "Basic dXNyLTAwNDI6cGFzc3dvcmQ="},
		{"token without scheme", valid},
		{"not a JWT", "Bearer not-a-jwt"},
		{"bad signature", "Bearer " + otherSecret},
		{"payload changed after signing", "Bearer " + parts[0] + "." + b64(otherOrg) + "." + parts[2]},
		{"expired", "Bearer " + expired},
		{"not valid yet", "Bearer " + sign(map[string]any{"sub": "usr-0042", "org_id": "org-bufdir-042", "scope": "audit:read audit:write audit:delete", "exp": now.Add(2 * time.Hour).Unix(), "nbf": now.Add(time.Hour).Unix()})},
		{"no exp", "Bearer " + sign(map[string]any{"sub": "usr-0042", "org_id": "org-bufdir-042", "scope": "audit:read audit:write audit:delete"})},
		{"alg none unsigned", "Bearer " + b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + "."},
		{"alg none with the HS256 signature", "Bearer " + b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]},
		{"alg HS512", "Bearer " + b64([]byte(`{"alg":"HS512","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]},
		// Signed with the right key, so that only the algorithm check can refuse them.
		{"alg none signed with the secret", "Bearer " + signAs(`{"alg":"none","typ":"JWT"}`, parts[1])},
		{"alg HS512 signed with the secret", "Bearer " + signAs(`{"alg":"HS512","typ":"JWT"}`, parts[1])},
	}
	t.Run("refused", func(t *testing.T) {
		for _, p := range prefixes {
			for _, rt := range routesOf(p.path, rec.RecordID) {
				for _, tok := range tokens {
					t.Run(p.name+"/"+rt.name+"/"+tok.name, func(t *testing.T) {
						t.Parallel()
						r := owner.srv.MustDo(t, testkit.Request{Method: rt.method, Path: rt.path, Auth: tok.header, Body: rt.body})
						testkit.WantProblem(t, r, http.StatusUnauthorized, "unauthorized")
						testkit.WantNotContain(t, r, rec.ExportID)
					})
				}
			}
		}
	})
	after := owner.get(t, single+"/"+rec.RecordID)
	if string(after.Body) != string(before.Body) {
		t.Errorf("want refused calls to change nothing\nbefore %s\nafter  %s", before, after)
	}
	if total := owner.total(t, ""); total != 1 {
		t.Errorf("want refused creates to write nothing: total 1, got %d", total)
	}
}

// TestAuth_EachRouteNeedsItsScope: a token with every scope but the route's is refused with 403;
// a token with only the route's scope is served.
func TestAuth_EachRouteNeedsItsScope(t *testing.T) {
	t.Parallel()
	owner := newOwner(t)
	for _, p := range prefixes {
		for _, rt := range routesOf(p.path, "") {
			t.Run(p.name+"/"+rt.name, func(t *testing.T) {
				t.Parallel()
				rec := owner.create(t, testkit.NewRecord(nil))
				rt := routesOf(p.path, rec.RecordID)[indexOf(rt.name)]
				var others []string
				for _, sc := range testkit.AllScopes {
					if sc != rt.scope {
						others = append(others, sc)
					}
				}
				refused := owner.srv.as(t, owner.org, owner.sub, others...).do(t, rt.method, rt.path, rt.body)
				testkit.WantProblem(t, refused, http.StatusForbidden, "insufficient_scope")

				if got := owner.get(t, single+"/"+rec.RecordID); got.Status != http.StatusOK || got.Record(t).Status != "queued" {
					t.Errorf("want the refused call to change nothing, got %s", got)
				}

				served := owner.srv.as(t, owner.org, owner.sub, rt.scope).do(t, rt.method, rt.path, rt.body)
				testkit.WantStatus(t, served, rt.success)
			})
		}
	}
}

// signAs signs a token of header and payload (base64url) with the test secret by HMAC-SHA256,
// whatever algorithm the header names.
func signAs(header, payload string) string {
	signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + payload
	h := hmac.New(sha256.New, []byte(testkit.Secret))
	h.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func indexOf(name string) int {
	for i, rt := range routesOf("", "") {
		if rt.name == name {
			return i
		}
	}
	panic("no route " + name)
}

func TestAuth_OrgIDMustBeTheTokens(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	for _, p := range prefixes {
		t.Run(p.name, func(t *testing.T) {
			testkit.WantProblem(t, c.post(t, p.path, testkit.NewRecord(testkit.Fields{"org_id": "org-bufdir-043"})), http.StatusForbidden, "forbidden_organisation")
			testkit.WantProblem(t, c.get(t, p.path+"?org_id=org-bufdir-043"), http.StatusForbidden, "forbidden_organisation")
			// An empty org_id names no organisation, so it is not the token's either.
			testkit.WantProblem(t, c.post(t, p.path, testkit.NewRecord(testkit.Fields{"org_id": ""})), http.StatusForbidden, "forbidden_organisation")
			testkit.WantProblem(t, c.get(t, p.path+"?org_id="), http.StatusForbidden, "forbidden_organisation")

			own := c.post(t, p.path, testkit.NewRecord(testkit.Fields{"org_id": "org-bufdir-042"}))
			testkit.WantStatus(t, own, http.StatusCreated)
			if rec := own.Record(t); rec.OrgID != "org-bufdir-042" {
				t.Errorf("want org_id org-bufdir-042, got %s", own)
			}
			testkit.WantStatus(t, c.get(t, p.path+"?org_id=org-bufdir-042"), http.StatusOK)
		})
	}
	if total := c.total(t, ""); total != 2 {
		t.Errorf("want only the two creates for the token's own organisation stored, got total %d", total)
	}
}

func TestCreate_AppliesDefaults(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	before := time.Now().UTC().Truncate(time.Second)
	body := testkit.NewRecord(nil)
	r := c.post(t, single, body)
	after := time.Now().UTC()
	testkit.WantStatus(t, r, http.StatusCreated)
	rec := r.Record(t)
	m := r.Object(t)

	if rec.Status != "queued" {
		t.Errorf("want status queued by default, got %q", rec.Status)
	}
	if rec.TriggeredBy != "usr-0042" {
		t.Errorf("want triggered_by_user_id to default to the token's sub usr-0042, got %q", rec.TriggeredBy)
	}
	if rec.OrgID != "org-bufdir-042" {
		t.Errorf("want org_id from the token, got %q", rec.OrgID)
	}
	for _, k := range []string{"file_url", "activity_count", "failure_reason"} {
		if m[k] != nil {
			t.Errorf("want %s null when unset, got %v", k, m[k])
		}
	}
	if rec.ExportID != body["export_id"] || rec.Format != "pdf" || rec.PeriodFrom != "2025-01-01" || rec.PeriodTo != "2025-12-31" {
		t.Errorf("want the given fields stored as sent, got %s", r)
	}
	if rec.CreatedAt.Before(before) || rec.CreatedAt.After(after) {
		t.Errorf("want created_at from the server's clock, between %v and %v, got %v", before, after, rec.CreatedAt)
	}
	if !rec.UpdatedAt.Equal(rec.CreatedAt) {
		t.Errorf("want updated_at = created_at on a new record, got %v and %v", rec.UpdatedAt, rec.CreatedAt)
	}
	want := []testkit.HistoryEntry{{Status: "queued", At: rec.CreatedAt, By: "usr-0042"}}
	if !equalHistory(rec.History, want) {
		t.Errorf("want status_history %v, got %v", want, rec.History)
	}
}

func TestCreate_KeepsGivenOptionalFields(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []struct {
		name  string
		extra testkit.Fields
		check func(t *testing.T, rec testkit.Record)
	}{
		{"status processing", testkit.Fields{"status": "processing"}, func(t *testing.T, rec testkit.Record) {
			if rec.Status != "processing" || rec.History[0].Status != "processing" {
				t.Errorf("want status processing from the start, got %+v", rec)
			}
		}},
		{"status queued", testkit.Fields{"status": "queued"}, func(t *testing.T, rec testkit.Record) {
			if rec.Status != "queued" {
				t.Errorf("want status queued, got %q", rec.Status)
			}
		}},
		{"triggered_by_user_id", testkit.Fields{"triggered_by_user_id": "usr-0099"}, func(t *testing.T, rec testkit.Record) {
			if rec.TriggeredBy != "usr-0099" {
				t.Errorf("want triggered_by_user_id usr-0099, got %q", rec.TriggeredBy)
			}
			if rec.History[0].By != "usr-0042" {
				t.Errorf("want the creation written by the caller usr-0042, got %q", rec.History[0].By)
			}
		}},
		{"activity_count 0", testkit.Fields{"activity_count": 0}, func(t *testing.T, rec testkit.Record) {
			if rec.ActivityCount == nil || *rec.ActivityCount != 0 {
				t.Errorf("want activity_count 0 (not null), got %v", rec.ActivityCount)
			}
		}},
		{"activity_count 312", testkit.Fields{"activity_count": 312}, func(t *testing.T, rec testkit.Record) {
			if rec.ActivityCount == nil || *rec.ActivityCount != 312 {
				t.Errorf("want activity_count 312, got %v", rec.ActivityCount)
			}
		}},
		{"every format: excel", testkit.Fields{"format": "excel"}, func(t *testing.T, rec testkit.Record) {
			if rec.Format != "excel" {
				t.Errorf("want format excel, got %q", rec.Format)
			}
		}},
		{"every format: csv", testkit.Fields{"format": "csv"}, func(t *testing.T, rec testkit.Record) {
			if rec.Format != "csv" {
				t.Errorf("want format csv, got %q", rec.Format)
			}
		}},
		{"one-day period", testkit.Fields{"period_from": "2025-06-30", "period_to": "2025-06-30"}, func(t *testing.T, rec testkit.Record) {
			if rec.PeriodFrom != "2025-06-30" || rec.PeriodTo != "2025-06-30" {
				t.Errorf("want the one-day period kept, got %s..%s", rec.PeriodFrom, rec.PeriodTo)
			}
		}},
		{"128-character export_id", testkit.Fields{"export_id": strings.Repeat("e", 128)}, func(t *testing.T, rec testkit.Record) {
			if len(rec.ExportID) != 128 {
				t.Errorf("want the 128-character export_id kept, got %q", rec.ExportID)
			}
		}},
		{"export_id of every allowed character", testkit.Fields{"export_id": "AZaz09._:-" + testkit.NewExportID()}, func(t *testing.T, rec testkit.Record) {
			if !strings.HasPrefix(rec.ExportID, "AZaz09._:-") {
				t.Errorf("want the export_id kept, got %q", rec.ExportID)
			}
		}},
		{"null optional fields", testkit.Fields{"status": nil, "org_id": nil, "triggered_by_user_id": nil, "activity_count": nil}, func(t *testing.T, rec testkit.Record) {
			if rec.Status != "queued" || rec.TriggeredBy != "usr-0042" || rec.ActivityCount != nil {
				t.Errorf("want null optional fields to take their defaults, got %+v", rec)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, c.create(t, testkit.NewRecord(tt.extra)))
		})
	}
}

// TestCreate_RefusesInvalidValues checks each field's rules; every refused create writes nothing.
func TestCreate_RefusesInvalidValues(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []struct {
		name  string
		body  testkit.Fields
		field string
	}{
		{"export_id missing", without(testkit.NewRecord(nil), "export_id"), "export_id"},
		{"export_id null", testkit.NewRecord(testkit.Fields{"export_id": nil}), "export_id"},
		{"export_id empty", testkit.NewRecord(testkit.Fields{"export_id": ""}), "export_id"},
		{"export_id 129 characters", testkit.NewRecord(testkit.Fields{"export_id": strings.Repeat("e", 129)}), "export_id"},
		{"export_id with a space", testkit.NewRecord(testkit.Fields{"export_id": "exp 1"}), "export_id"},
		{"export_id with a slash", testkit.NewRecord(testkit.Fields{"export_id": "exp/1"}), "export_id"},
		{"export_id not ASCII", testkit.NewRecord(testkit.Fields{"export_id": "exp-ø"}), "export_id"},
		{"export_id a number", testkit.NewRecord(testkit.Fields{"export_id": 42}), "export_id"},
		{"format missing", without(testkit.NewRecord(nil), "format"), "format"},
		{"format unknown", testkit.NewRecord(testkit.Fields{"format": "docx"}), "format"},
		{"format in capitals", testkit.NewRecord(testkit.Fields{"format": "PDF"}), "format"},
		{"period_from missing", without(testkit.NewRecord(nil), "period_from"), "period_from"},
		{"period_to missing", without(testkit.NewRecord(nil), "period_to"), "period_to"},
		{"period_from not a date", testkit.NewRecord(testkit.Fields{"period_from": "01.01.2025"}), "period_from"},
		{"period_from a time", testkit.NewRecord(testkit.Fields{"period_from": "2025-01-01T00:00:00Z"}), "period_from"},
		{"period_to not a day of the month", testkit.NewRecord(testkit.Fields{"period_to": "2025-02-30"}), "period_to"},
		{"period_to before period_from", testkit.NewRecord(testkit.Fields{"period_from": "2025-12-31", "period_to": "2025-01-01"}), "period_to"},
		{"status completed", testkit.NewRecord(testkit.Fields{"status": "completed"}), "status"},
		{"status failed", testkit.NewRecord(testkit.Fields{"status": "failed"}), "status"},
		{"status unknown", testkit.NewRecord(testkit.Fields{"status": "done"}), "status"},
		{"triggered_by_user_id empty", testkit.NewRecord(testkit.Fields{"triggered_by_user_id": ""}), "triggered_by_user_id"},
		{"triggered_by_user_id with a space", testkit.NewRecord(testkit.Fields{"triggered_by_user_id": "usr 1"}), "triggered_by_user_id"},
		{"triggered_by_user_id 129 characters", testkit.NewRecord(testkit.Fields{"triggered_by_user_id": strings.Repeat("u", 129)}), "triggered_by_user_id"},
		{"activity_count negative", testkit.NewRecord(testkit.Fields{"activity_count": -1}), "activity_count"},
		{"activity_count a fraction", testkit.NewRecord(testkit.Fields{"activity_count": 1.5}), "activity_count"},
		{"activity_count a string", testkit.NewRecord(testkit.Fields{"activity_count": "3"}), "activity_count"},
		{"activity_count beyond int64", testkit.NewRecord(testkit.Fields{"activity_count": json.Number("9223372036854775808")}), "activity_count"},
		{"unknown field", testkit.NewRecord(testkit.Fields{"file_url": "https://storage.example.no/x.pdf"}), "file_url"},
		{"unknown field record_id", testkit.NewRecord(testkit.Fields{"record_id": "rec-20260301-001"}), "record_id"},
		{"unknown field with a known-looking name", testkit.NewRecord(testkit.Fields{"exportId": "exp-1"}), "exportId"},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				testkit.WantFieldError(t, c.post(t, single, tt.body), tt.field)
			})
		}
	})
	if total := c.total(t, ""); total != 0 {
		t.Errorf("want refused creates to write nothing, got total %d", total)
	}
}

func without(f testkit.Fields, key string) testkit.Fields {
	delete(f, key)
	return f
}

func TestCreate_ReportsEveryInvalidFieldAtOnce(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	r := c.post(t, single, testkit.Fields{"export_id": "exp 1", "format": "docx", "period_from": "2025-01-01", "period_to": "2024-01-01", "colour": "red"})
	for _, f := range []string{"export_id", "format", "period_to", "colour"} {
		testkit.WantFieldError(t, r, f)
	}
}

func TestCreate_RefusesMalformedJSON(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []struct{ name, body string }{
		{"empty body", ""},
		{"truncated", `{"export_id": "exp-1"`},
		{"not JSON", `export_id=exp-1`},
		{"an array", `[{"export_id": "exp-1"}]`},
		{"a string", `"exp-1"`},
		{"null", `null`},
		{"two objects", `{"export_id": "exp-1"} {}`},
		{"trailing comma", `{"export_id": "exp-1",}`},
		{"a key given twice", `{"export_id": "exp-1", "format": "pdf", "period_from": "2025-01-01", "period_to": "2025-12-31", "format": "csv"}`},
		{"not UTF-8", "{\"export_id\": \"exp-\xff\"}"},
	}
	for _, p := range []string{single, doubled} {
		for _, tt := range tests {
			t.Run(p+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				r := c.srv.MustDo(t, testkit.Request{Method: "POST", Path: p, Token: c.token, Body: []byte(tt.body)})
				testkit.WantProblem(t, r, http.StatusBadRequest, "malformed_json")
			})
		}
	}
}

// TestCreate_SeedExamplesWork sends the requests of the source API document, in its order. Its
// dates are fixed in the past; the status change is dated relative to the record instead.
func TestCreate_SeedExamplesWork(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	r := c.post(t, doubled, `{
"export_id": "exp-20260326-xyz789",
"org_id": "org-bufdir-042",
"triggered_by_user_id": "usr-0099",
"status": "queued",
"format": "pdf",
"period_from": "2025-01-01",
"period_to": "2025-12-31"
}`)
	testkit.WantStatus(t, r, http.StatusCreated)
	rec := r.Record(t)
	if rec.ExportID != "exp-20260326-xyz789" || rec.Status != "queued" || rec.TriggeredBy != "usr-0099" {
		t.Errorf("want the example's record, got %s", r)
	}
	at := ts(rec.CreatedAt.Add(3 * time.Minute))
	r = c.put(t, doubled+"/"+rec.RecordID+"/status", `{
"status": "completed",
"updated_at": "`+at+`"
}`)
	testkit.WantStatus(t, r, http.StatusOK)
	if m := r.Object(t); m["record_id"] != rec.RecordID || m["status"] != "completed" || m["updated_at"] != at {
		t.Errorf("want record_id, status completed and updated_at %s in the answer, got %s", at, r)
	}
	r = c.put(t, doubled+"/"+rec.RecordID+"/file-url", `{
"file_url": "https://storage.example.no/exports/exp-20260326-xyz789.pdf"
}`)
	testkit.WantStatus(t, r, http.StatusOK)
	if m := r.Object(t); m["file_url"] != "https://storage.example.no/exports/exp-20260326-xyz789.pdf" || m["updated_at"] == nil {
		t.Errorf("want file_url and updated_at in the answer, got %s", r)
	}
	r = c.get(t, doubled+"/"+rec.RecordID)
	testkit.WantStatus(t, r, http.StatusOK)
	list := c.get(t, doubled)
	if pg := list.Page(t); pg.Pagination.Page != 1 || pg.Pagination.Limit != 20 || pg.Pagination.Total != 1 {
		t.Errorf("want pagination page 1, limit 20, total 1, got %s", list)
	}
	r = c.del(t, doubled+"/"+rec.RecordID)
	testkit.WantStatus(t, r, http.StatusOK)
	wantDeleted(t, r, rec.RecordID)
}

func TestCreate_ReplayReturnsStoredRecord(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	body := testkit.NewRecord(testkit.Fields{"triggered_by_user_id": "usr-0099", "activity_count": 7, "status": "processing"})
	first := c.post(t, single, body)
	testkit.WantStatus(t, first, http.StatusCreated)
	rec := first.Record(t)

	for _, p := range prefixes {
		t.Run(p.name, func(t *testing.T) {
			again := c.post(t, p.path, body)
			testkit.WantStatus(t, again, http.StatusOK)
			if h := again.Header.Get("Idempotent-Replayed"); h != "true" {
				t.Errorf("want Idempotent-Replayed: true, got %q", h)
			}
			if string(again.Body) != string(first.Body) {
				t.Errorf("want the stored record again\nfirst  %s\nreplay %s", first.Body, again.Body)
			}
			again.Record(t)
		})
	}
	if pg := c.get(t, single+"?export_id="+rec.ExportID).Page(t); pg.Pagination.Total != 1 {
		t.Errorf("want a replay to make no second record, got total %d", pg.Pagination.Total)
	}
	if h := first.Header.Get("Idempotent-Replayed"); h != "" {
		t.Errorf("want no Idempotent-Replayed on the first create, got %q", h)
	}
}

func TestCreate_ReplayWithDefaultsSpelledOutIsTheSameRequest(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	body := testkit.NewRecord(nil)
	rec := c.create(t, body)
	spelled := testkit.NewRecord(testkit.Fields{"export_id": rec.ExportID, "status": "queued", "triggered_by_user_id": "usr-0042", "org_id": "org-bufdir-042"})
	r := c.post(t, single, spelled)
	testkit.WantStatus(t, r, http.StatusOK)
	if got := r.Record(t); got.RecordID != rec.RecordID || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("want a replay of %s, got %s", rec.RecordID, r)
	}
}

func TestCreate_ReplayAfterStatusChangeReturnsCurrentRecord(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	body := testkit.NewRecord(nil)
	rec := c.create(t, body)
	c.move(t, rec.RecordID, "processing", rec.CreatedAt.Add(time.Second))
	c.move(t, rec.RecordID, "completed", rec.CreatedAt.Add(2*time.Second))
	testkit.WantStatus(t, c.put(t, single+"/"+rec.RecordID+"/file-url", testkit.Fields{"file_url": "https://storage.example.no/a.pdf"}), http.StatusOK)
	current := c.get(t, single+"/"+rec.RecordID)

	r := c.post(t, single, body)
	testkit.WantStatus(t, r, http.StatusOK)
	if r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("want Idempotent-Replayed: true, got %v", r.Header)
	}
	if string(r.Body) != string(current.Body) {
		t.Errorf("want the record as stored now\nstored %s\nreplay %s", current.Body, r.Body)
	}
}

func TestCreate_SameExportIDWithOtherFieldsConflicts(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []struct {
		name   string
		change testkit.Fields
		drop   string
		as     string // another user of the same organisation, when set
	}{
		{name: "other format", change: testkit.Fields{"format": "csv"}},
		{name: "other period_from", change: testkit.Fields{"period_from": "2025-01-02"}},
		{name: "other period_to", change: testkit.Fields{"period_to": "2025-12-30"}},
		{name: "other status", change: testkit.Fields{"status": "processing"}},
		{name: "other triggered_by_user_id", change: testkit.Fields{"triggered_by_user_id": "usr-0099"}},
		{name: "other activity_count", change: testkit.Fields{"activity_count": 11}},
		{name: "activity_count left out", drop: "activity_count"},
		{name: "another user, triggered_by_user_id defaulted", as: "usr-0077"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := testkit.NewRecord(testkit.Fields{"activity_count": 10})
			rec := c.create(t, body)
			before := c.get(t, single+"/"+rec.RecordID)

			again := testkit.NewRecord(body)
			for k, v := range tt.change {
				again[k] = v
			}
			if tt.drop != "" {
				delete(again, tt.drop)
			}
			who := c
			if tt.as != "" {
				who = c.srv.as(t, c.org, tt.as)
			}
			r := who.post(t, single, again)
			p := testkit.WantProblem(t, r, http.StatusConflict, "export_id_conflict")
			if p["record_id"] != rec.RecordID && !strings.Contains(p["detail"].(string), rec.RecordID) {
				t.Errorf("want the conflict to name the existing record %s, got %s", rec.RecordID, r)
			}
			if after := c.get(t, single+"/"+rec.RecordID); string(after.Body) != string(before.Body) {
				t.Errorf("want the existing record unchanged\nbefore %s\nafter  %s", before, after)
			}
			if pg := c.get(t, single+"?export_id="+rec.ExportID).Page(t); pg.Pagination.Total != 1 {
				t.Errorf("want one record for the export_id, got %d", pg.Pagination.Total)
			}
		})
	}
}

// TestCreate_ConcurrentRetriesMakeOneRecord sends the same create many times at once, as an
// impatient export service would: exactly one 201, every other answer a replay of it.
func TestCreate_ConcurrentRetriesMakeOneRecord(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	body := testkit.NewRecord(nil)
	const n = 8
	replies := make([]testkit.Reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { replies[i] = c.post(t, single, body) })
	}
	wg.Wait()
	created, ids := 0, map[string]bool{}
	for _, r := range replies {
		switch r.Status {
		case http.StatusCreated:
			created++
		case http.StatusOK:
			if r.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("want a 200 to be a replay, got %s", r)
			}
		default:
			t.Errorf("want 201 or a 200 replay, got %s", r)
			continue
		}
		ids[r.Record(t).RecordID] = true
	}
	if created != 1 || len(ids) != 1 {
		t.Errorf("want exactly one 201 and one record_id, got %d creates and ids %v", created, ids)
	}
	if total := c.total(t, ""); total != 1 {
		t.Errorf("want one stored record, got total %d", total)
	}
}

func TestCreate_RecordIDsFollowTheDaySequence(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	other := c.srv.as(t, "org-bufdir-043", "usr-0043")
	var ids []string
	for i := range 4 {
		who := c
		if i%2 == 1 {
			who = other
		}
		ids = append(ids, who.create(t, testkit.NewRecord(nil)).RecordID)
	}
	for i := 1; i < len(ids); i++ {
		// The sequence starts again on a new UTC day, so compare (day, sequence).
		prevDay, day := ids[i-1][4:12], ids[i][4:12]
		if day < prevDay || day == prevDay && seqOf(t, ids[i]) <= seqOf(t, ids[i-1]) {
			t.Errorf("want each record_id after the last in one sequence across organisations, got %v", ids)
		}
	}
}

func TestDelete_AnswersDeletedAndHidesTheRecord(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	keep := c.create(t, testkit.NewRecord(nil))
	gone := c.create(t, testkit.NewRecord(nil))

	r := c.del(t, single+"/"+gone.RecordID)
	testkit.WantStatus(t, r, http.StatusOK)
	testkit.WantJSON(t, r)
	wantDeleted(t, r, gone.RecordID)

	path := single + "/" + gone.RecordID
	testkit.WantProblem(t, c.get(t, path), http.StatusNotFound, "not_found")
	testkit.WantProblem(t, c.del(t, path), http.StatusNotFound, "not_found")
	testkit.WantProblem(t, c.put(t, path+"/status", testkit.Fields{"status": "processing"}), http.StatusNotFound, "not_found")
	testkit.WantProblem(t, c.put(t, path+"/file-url", testkit.Fields{"file_url": "https://storage.example.no/x.pdf"}), http.StatusNotFound, "not_found")

	list := c.get(t, single)
	pg := list.Page(t)
	if pg.Pagination.Total != 1 || len(pg.Data) != 1 || pg.Data[0].RecordID != keep.RecordID {
		t.Errorf("want only %s listed with total 1, got %s", keep.RecordID, list)
	}
	testkit.WantNotContain(t, list, gone.RecordID)
	for _, q := range []string{"?export_id=" + gone.ExportID, "?status=queued", "?format=pdf"} {
		filtered := c.get(t, single+q)
		testkit.WantNotContain(t, filtered, gone.RecordID)
	}
	if pg := c.get(t, single+"?export_id="+gone.ExportID).Page(t); pg.Pagination.Total != 0 {
		t.Errorf("want a deleted record not counted by a filter, got total %d", pg.Pagination.Total)
	}
}

func TestDelete_ConcurrentDeletesOneWins(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	rec := c.create(t, testkit.NewRecord(nil))
	replies := make([]testkit.Reply, 4)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Go(func() { replies[i] = c.del(t, single+"/"+rec.RecordID) })
	}
	wg.Wait()
	deleted := 0
	for _, r := range replies {
		if r.Status == http.StatusOK {
			deleted++
			continue
		}
		testkit.WantProblem(t, r, http.StatusNotFound, "not_found")
	}
	if deleted != 1 {
		t.Errorf("want exactly one delete to succeed, got %d: %v", deleted, replies)
	}
	if pg := c.get(t, single).Page(t); pg.Pagination.Total != 0 || len(pg.Data) != 0 {
		t.Errorf("want an empty list with total 0, got %+v", pg.Pagination)
	}
}

func TestDelete_FreesTheExportID(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	body := testkit.NewRecord(nil)
	old := c.create(t, body)
	testkit.WantStatus(t, c.del(t, single+"/"+old.RecordID), http.StatusOK)

	for _, tt := range []struct {
		name string
		body testkit.Fields
	}{
		{"same fields", body},
		{"other fields", testkit.NewRecord(testkit.Fields{"export_id": body["export_id"], "format": "csv"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.post(t, single, tt.body)
			testkit.WantStatus(t, r, http.StatusCreated)
			rec := r.Record(t)
			if rec.RecordID == old.RecordID {
				t.Errorf("want a new record_id, got the deleted one %s again", old.RecordID)
			}
			if r.Header.Get("Idempotent-Replayed") != "" {
				t.Errorf("want a new record, not a replay, got %v", r.Header)
			}
			testkit.WantProblem(t, c.get(t, single+"/"+old.RecordID), http.StatusNotFound, "not_found")
			testkit.WantStatus(t, c.del(t, single+"/"+rec.RecordID), http.StatusOK)
		})
	}
}

func wantDeleted(t *testing.T, r testkit.Reply, id string) {
	t.Helper()
	m := r.Object(t)
	if len(m) != 2 || m["deleted"] != true || m["record_id"] != id {
		t.Errorf(`want {"deleted": true, "record_id": %q}, got %s`, id, r)
	}
}

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

func TestCreate_SubThatIsNoIdentifierNeedsTriggeredBy(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.as(t, "org-bufdir-042", "auth0|abc123")
	r := c.post(t, single, testkit.NewRecord(nil))
	testkit.WantProblem(t, r, http.StatusBadRequest, "validation_failed")
	testkit.WantFieldError(t, r, "triggered_by_user_id")
	if !strings.Contains(string(r.Body), "sub") {
		t.Errorf("want the problem to say the token's sub is the cause, got %s", r)
	}
	given := c.post(t, single, testkit.NewRecord(testkit.Fields{"triggered_by_user_id": "usr-0099"}))
	testkit.WantStatus(t, given, http.StatusCreated)
	if rec := given.Record(t); rec.TriggeredBy != "usr-0099" {
		t.Errorf("want triggered_by_user_id usr-0099, got %s", given)
	}
}
