package events

// What the suite's tests share: a local API of their own, callers with tokens for it, and the
// events on its bus as GET /_local/events answers them, each checked against the envelope a
// rule's target receives.

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/google/uuid"
)

// org is the organisation the suite's callers belong to.
const org = "org-bufdir-042"

// What the contract fixes of every event, written out rather than taken from the service's
// packages, so that a change to what the service sends fails the tests.
const (
	source        = "no.bufdir.export-audit"
	created       = "Audit Record Created"
	statusChanged = "Audit Record Status Changed"
	fileAttached  = "Audit Record File Attached"
	deleted       = "Audit Record Deleted"
)

// The keys of an event as a rule's target receives it, and of its detail.
var (
	envelopeKeys = []string{"account", "detail", "detail-type", "id", "region", "resources", "source", "time", "version"}
	detailKeys   = []string{"changed_at", "changed_by", "event_id", "org_id", "previous_status", "record", "record_id", "version"}
	accountID    = regexp.MustCompile(`^\d{12}$`)
)

// env is one local API on an engine of its own, with its stream, publisher and bus.
type env struct{ *testkit.API }

func start(t *testing.T) *env {
	t.Helper()
	return &env{testkit.StartAPI(t, localrun.Options{})}
}

// caller is a user of org holding a token with every scope.
type caller struct {
	e          *env
	sub, token string
}

func (e *env) as(t *testing.T, sub string) caller {
	t.Helper()
	return caller{e: e, sub: sub, token: testkit.Token(t, org, sub)}
}

// do sends a request and expects status.
func (c caller) do(t *testing.T, method, path string, body any, status int) testkit.Reply {
	t.Helper()
	r := c.e.Must(t, method, path, c.token, body)
	testkit.WantStatus(t, r, status)
	return r
}

// get is the record as a single GET answers it, as a JSON object.
func (c caller) get(t *testing.T, prefix, id string) map[string]any {
	t.Helper()
	return c.do(t, "GET", prefix+"/"+id, nil, http.StatusOK).Object(t)
}

// events waits until the publisher has handled every change written so far, then reads GET
// /_local/events over HTTP, without a token, and checks each event's envelope: exactly the keys
// a rule's target receives, version "0", a unique id, the source, an account, the region, the
// change's time, no resources, and a detail of exactly the contract's keys with a unique
// event_id.
func (e *env) events(t *testing.T) []testkit.Event {
	t.Helper()
	if err := e.WaitForEvents(t.Context()); err != nil {
		t.Fatalf("wait for the publisher: %v", err)
	}
	r := e.MustDo(t, testkit.Request{Method: "GET", Path: localrun.EventsPath})
	testkit.WantStatus(t, r, http.StatusOK)
	testkit.WantJSON(t, r)
	var page struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil || page.Events == nil {
		t.Fatalf("want {\"events\": [...]}, got %s (%v)", r, err)
	}
	out := make([]testkit.Event, 0, len(page.Events))
	ids, eventIDs := map[string]bool{}, map[string]bool{}
	for _, raw := range page.Events {
		var envelope, det map[string]json.RawMessage
		_ = json.Unmarshal(raw, &envelope)
		_ = json.Unmarshal(envelope["detail"], &det)
		if got := slices.Sorted(maps.Keys(envelope)); !slices.Equal(got, envelopeKeys) {
			t.Errorf("want the keys %v of a rule's target's event, got %v in %s", envelopeKeys, got, raw)
		}
		if got := slices.Sorted(maps.Keys(det)); !slices.Equal(got, detailKeys) {
			t.Errorf("want the detail keys %v, got %v in %s", detailKeys, got, raw)
		}
		ev, err := testkit.DecodeEvent(raw)
		if err != nil {
			t.Fatalf("event %s: %v", raw, err)
		}
		if ev.Version != "0" || ev.Source != source || !accountID.MatchString(ev.Account) || ev.Region != testkit.Region ||
			ev.Resources == nil || len(ev.Resources) != 0 || ev.Time != ev.Detail.ChangedAt {
			t.Errorf("want version 0, source %s, an account, region %s, resources [] and the change's time, got %s",
				source, testkit.Region, raw)
		}
		if _, err := uuid.Parse(ev.ID); err != nil || ids[ev.ID] {
			t.Errorf("want each event's id a UUID of its own, got %q in %s", ev.ID, raw)
		}
		// README: a name-based UUID of record_id and version, the same on every delivery.
		if u, err := uuid.Parse(ev.Detail.EventID); err != nil || u.Version() != 5 || eventIDs[ev.Detail.EventID] {
			t.Errorf("want each change's event_id a name-based UUID of its own, got %q in %s", ev.Detail.EventID, raw)
		}
		ids[ev.ID], eventIDs[ev.Detail.EventID] = true, true
		out = append(out, ev)
	}
	return out
}

// of is the events of the record id, in the order the bus lists them.
func of(evs []testkit.Event, id string) []testkit.Event {
	var out []testkit.Event
	for _, ev := range evs {
		if ev.Detail.RecordID == id {
			out = append(out, ev)
		}
	}
	return out
}

// want is what one change's event must say.
type want struct {
	detailType string
	by         string
	previous   *string // nil: null
	changedAt  string
	record     map[string]any // as GET answered it after the change (before, for a delete)
}

// check holds one record's events to wants, in that order, versions 1 to n.
func check(t *testing.T, evs []testkit.Event, id string, wants []want) {
	t.Helper()
	got := of(evs, id)
	var types, wantTypes []string
	for _, ev := range got {
		types = append(types, ev.DetailType)
	}
	for _, w := range wants {
		wantTypes = append(wantTypes, w.detailType)
	}
	if !slices.Equal(types, wantTypes) {
		t.Fatalf("record %s: want the events %v, got %v", id, wantTypes, types)
	}
	for i, ev := range got {
		d, w := ev.Detail, wants[i]
		if d.OrgID != org || d.Version != int64(i+1) || d.ChangedBy != w.by || d.ChangedAt != w.changedAt ||
			!reflect.DeepEqual(d.PreviousStatus, w.previous) {
			t.Errorf("%s %s: want org %s, version %d, changed by %s at %s, previous status %s; got org %s, version %d, changed by %s at %s, previous status %s",
				id, ev.DetailType, org, i+1, w.by, w.changedAt, show(w.previous), d.OrgID, d.Version, d.ChangedBy, d.ChangedAt, show(d.PreviousStatus))
		}
		testkit.CheckRecordShape(t, d.Record, true)
		if !reflect.DeepEqual(d.Record, w.record) {
			t.Errorf("%s %s version %d: want the record as GET answered it\n%v\ngot\n%v", id, ev.DetailType, d.Version, w.record, d.Record)
		}
	}
}

func show(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

func ptr(s string) *string { return &s }
