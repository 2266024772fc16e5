package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/api"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/store"
)

// The fuzz targets drive the handlers with the events API Gateway would hand them, built from
// fuzzed bodies, record ids and queries, against the embedded engine. Whatever the input, a
// handler answers: never a panic, never a 5xx; a 4xx is a whole problem document and a 2xx is
// JSON. make fuzz runs each target for FUZZTIME; go test runs their seeds.

const fzOrg = "org-fuzz"

// fzDay is the store's clock, so that the seeded records have known ids.
var fzDay = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

var (
	fzOnce sync.Once
	fzDeps *api.Deps
	fzErr  error
)

// fzSetup starts one engine per process with a few records of fzOrg: rec-20260301-001 queued,
// -002 processing, -003 completed with a file, -004 failed.
func fzSetup(t testing.TB) *api.Deps {
	t.Helper()
	fzOnce.Do(func() {
		// One engine for the whole process: the fuzzing workers share it, and it goes with them.
		engine, err := testkit.StartEngine("127.0.0.1:0", testkit.EngineOptions{})
		if err != nil {
			fzErr = err
			return
		}
		cfg := testkit.Config()
		cfg.DynamoDBEndpoint = engine.URL
		deps, s, err := app.New(cfg, slog.New(slog.DiscardHandler), nil, store.WithClock(func() time.Time { return fzDay }))
		if err != nil {
			fzErr = err
			return
		}
		ctx := context.Background()
		if fzErr = s.EnsureTable(ctx); fzErr != nil {
			return
		}
		for i, st := range []audit.Status{audit.StatusQueued, audit.StatusProcessing, audit.StatusProcessing, audit.StatusProcessing} {
			rec, _, err := s.Create(ctx, audit.NewRecord{ExportID: "exp-fuzz-" + string(rune('a'+i)), OrgID: fzOrg,
				TriggeredBy: "usr-fuzz", Status: st, Format: audit.FormatCSV, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31", By: "usr-fuzz"})
			if err != nil {
				fzErr = err
				return
			}
			id, _ := audit.ParseRecordID(rec.RecordID)
			switch i {
			case 2:
				_, _, err = s.UpdateStatus(ctx, fzOrg, id, audit.StatusChange{To: audit.StatusCompleted, At: fzDay, By: "usr-fuzz"})
				if err == nil {
					_, _, err = s.AttachFileURL(ctx, fzOrg, id, "https://storage.example.no/exports/c.csv", "usr-fuzz")
				}
			case 3:
				reason := "the export service gave up"
				_, _, err = s.UpdateStatus(ctx, fzOrg, id, audit.StatusChange{To: audit.StatusFailed, At: fzDay, FailureReason: &reason, By: "usr-fuzz"})
			}
			if err != nil {
				fzErr = err
				return
			}
		}
		fzDeps = deps
	})
	if fzErr != nil {
		t.Fatalf("start the engine: %v", fzErr)
	}
	return fzDeps
}

// fzEvent is the event API Gateway hands a function for a verified token of fzOrg.
func fzEvent(op api.Operation, recordID, rawQuery, contentType, body string, b64 bool) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version:         "2.0",
		RouteKey:        op.Route.Method + " " + config.BasePath + op.Route.Path,
		RawPath:         config.BasePath + strings.ReplaceAll(op.Route.Path, "{record_id}", recordID),
		RawQueryString:  rawQuery,
		Headers:         map[string]string{"content-type": contentType},
		Body:            body,
		IsBase64Encoded: b64,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "fuzz",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: op.Route.Method},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{
					"sub": "usr-fuzz", "org_id": fzOrg, "scope": "audit:read audit:write audit:delete",
				}},
			},
		},
	}
	if strings.Contains(op.Route.Path, "{record_id}") {
		ev.PathParameters = map[string]string{"record_id": recordID}
	}
	return ev
}

// fzServe runs op on ev and checks the answer's shape.
func fzServe(t *testing.T, op api.Operation, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := api.Handle(fzSetup(t), op)(ctx, ev)
	if err != nil {
		t.Fatalf("%s: the handler returned an error to the runtime: %v", op.Route.Function, err)
	}
	if resp.StatusCode >= 500 || resp.StatusCode < 200 {
		t.Fatalf("%s: want a 2xx or 4xx, got %d %s", op.Route.Function, resp.StatusCode, resp.Body)
	}
	if !utf8.ValidString(resp.Body) || !json.Valid([]byte(resp.Body)) {
		t.Fatalf("%s: the answer is not JSON: %q", op.Route.Function, resp.Body)
	}
	if resp.StatusCode >= 400 {
		var p api.Problem
		dec := json.NewDecoder(bytes.NewReader([]byte(resp.Body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil || p.Status != resp.StatusCode || p.Code == "" || p.Detail == "" ||
			p.Title != http.StatusText(resp.StatusCode) || resp.Headers["Content-Type"] != "application/problem+json" {
			t.Fatalf("%s: want a whole problem document, got %d %v %s (%v)", op.Route.Function, resp.StatusCode, resp.Headers, resp.Body, err)
		}
		return resp
	}
	if resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("%s: want application/json on a %d, got %v", op.Route.Function, resp.StatusCode, resp.Headers)
	}
	return resp
}

// fzRecord checks that a 2xx single-record answer is a record of fzOrg that keeps the
// domain's rules.
func fzRecord(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	if resp.StatusCode >= 300 {
		return
	}
	var rec audit.Record
	if err := json.Unmarshal([]byte(resp.Body), &rec); err != nil {
		t.Fatalf("want a record, got %s", resp.Body)
	}
	if rec.OrgID != fzOrg || !audit.ValidIdentifier(rec.ExportID) || !rec.Status.Valid() || !rec.Format.Valid() {
		t.Fatalf("the record breaks the domain's rules: %s", resp.Body)
	}
	if _, err := audit.ParseRecordID(rec.RecordID); err != nil {
		t.Fatalf("record_id %q: %v", rec.RecordID, err)
	}
	for i := 1; i < len(rec.History); i++ {
		if !rec.History[i-1].Status.CanMoveTo(rec.History[i].Status) {
			t.Fatalf("the history takes a forbidden move: %s", resp.Body)
		}
	}
}

func FuzzCreateRecord(f *testing.F) {
	f.Add(`{"export_id":"exp-1","format":"pdf","period_from":"2025-01-01","period_to":"2025-12-31"}`, "application/json", false)
	f.Add(`{"export_id":"exp-2","org_id":"org-fuzz","triggered_by_user_id":"usr-9","status":"processing","format":"excel","period_from":"2025-01-01","period_to":"2025-01-01","activity_count":0}`, "application/json; charset=utf-8", false)
	f.Add(`{"export_id":"exp-3","format":"csv","period_from":"2025-12-31","period_to":"2025-01-01","activity_count":-1,"x":1}`, "application/json", false)
	f.Add(`{"export_id":"exp-1","export_id":"exp-2"}`, "application/json", false)
	f.Add(`eyJleHBvcnRfaWQiOiJleHAtYjY0IiwiZm9ybWF0IjoiY3N2In0=`, "application/json", true)
	f.Add(`{"activity_count":1e400}`, "text/plain", false)
	f.Fuzz(func(t *testing.T, body, contentType string, b64 bool) {
		resp := fzServe(t, api.CreateRecord, fzEvent(api.CreateRecord, "", "", contentType, body, b64))
		fzRecord(t, resp)
	})
}

func FuzzUpdateStatus(f *testing.F) {
	f.Add("rec-20260301-001", `{"status":"processing"}`)
	f.Add("rec-20260301-002", `{"status":"failed","failure_reason":"timeout\nretry later","activity_count":3}`)
	f.Add("rec-20260301-001", `{"status":"completed","updated_at":"2026-03-01T08:00:00Z","activity_count":312}`)
	f.Add("rec-20260301-003", `{"status":"queued"}`)
	f.Add("rec-20260301-999", `{"status":"completed","updated_at":"2020-01-01T00:00:00+02:00"}`)
	f.Add("rec-20260301-0001", `{"status":"completed","org_id":"org-other"}`)
	f.Fuzz(func(t *testing.T, recordID, body string) {
		resp := fzServe(t, api.UpdateStatus, fzEvent(api.UpdateStatus, recordID, "", "application/json", body, false))
		fzRecord(t, resp)
	})
}

func FuzzAttachFileURL(f *testing.F) {
	f.Add("rec-20260301-002", `{"file_url":"https://storage.example.no/exports/a.csv"}`)
	f.Add("rec-20260301-003", `{"file_url":"https://storage.example.no/exports/c.csv"}`)
	f.Add("rec-20260301-004", `{"file_url":"https://storage.example.no/exports/d.csv"}`)
	f.Add("rec-20260301-001", `{"file_url":"https://u:p@storage.example.no/a\r\nX: y"}`)
	f.Add("rec-20260301-001", `{"file_url":null}`)
	f.Fuzz(func(t *testing.T, recordID, body string) {
		resp := fzServe(t, api.AttachFileURL, fzEvent(api.AttachFileURL, recordID, "", "application/json", body, false))
		fzRecord(t, resp)
	})
}

// FuzzRecordRoutes reads a fuzzed record id, and deletes it.
func FuzzRecordRoutes(f *testing.F) {
	f.Add("rec-20260301-001", "")
	f.Add("rec-20260301-1000", "org_id=org-fuzz")
	f.Add("rec-20260301-0001", "org_id=org-other")
	f.Add("../rec-20260301-001", "")
	f.Add("rec-20260301-001\x00", "%zz")
	f.Fuzz(func(t *testing.T, recordID, rawQuery string) {
		fzRecord(t, fzServe(t, api.GetRecord, fzEvent(api.GetRecord, recordID, rawQuery, "", "", false)))
		fzServe(t, api.DeleteRecord, fzEvent(api.DeleteRecord, recordID, rawQuery, "", "", false))
	})
}

func FuzzListQuery(f *testing.F) {
	f.Add("")
	f.Add("page=2&limit=1")
	f.Add("status=completed&format=csv&triggered_by_user_id=usr-fuzz&export_id=exp-fuzz-c")
	f.Add("created_from=2026-03-01&created_to=2026-03-01T08:00:00Z")
	f.Add("created_from=2026-03-02&created_to=2026-03-01")
	f.Add("limit=101&page=0&x=1&status=done")
	f.Add("org_id=org-fuzz&org_id=org-fuzz")
	f.Add("page=99999999999999999999&limit=1.5")
	f.Add("created_from=2026-03-01T08:00:00.5%2B01:00")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		resp := fzServe(t, api.ListRecords, fzEvent(api.ListRecords, "", rawQuery, "", "", false))
		if resp.StatusCode != http.StatusOK {
			return
		}
		var page struct {
			Data       []audit.Record `json:"data"`
			Pagination struct{ Page, Limit, Total int }
		}
		if err := json.Unmarshal([]byte(resp.Body), &page); err != nil || page.Data == nil ||
			len(page.Data) > page.Pagination.Limit || len(page.Data) > page.Pagination.Total {
			t.Fatalf("want a page of at most limit records and no more than the total, got %s", resp.Body)
		}
		for _, r := range page.Data {
			if r.OrgID != fzOrg {
				t.Fatalf("another organisation's record listed: %s", resp.Body)
			}
		}
	})
}
