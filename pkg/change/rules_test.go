package change_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/change"
	"github.com/bufdir/export-audit/pkg/item"
)

var (
	t0      = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	ruleID  = audit.NewRecordID(t0, 7)
	ttl     = &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}
	fileURL = "https://storage.example.no/exports/exp-7.pdf"
)

func stamp(min int) string { return item.FormatTime(t0.Add(time.Duration(min) * time.Minute)) }
func ptr[T any](v T) *T    { return &v }

// The record's items as the API writes them at each step of its life.
func queued() item.Record {
	return item.NewRecord(newRecord("org-a", "exp-7").Build(ruleID, t0), ruleID)
}

func processing() item.Record {
	r := queued()
	r.Status, r.UpdatedAt, r.StatusAt, r.Version, r.ChangedBy = "processing", stamp(1), stamp(1), 2, "usr-svc"
	r.History = append(r.History, item.History{Status: "processing", At: stamp(1), By: "usr-svc"})
	return r
}

func completed() item.Record {
	r := processing()
	r.Status, r.UpdatedAt, r.StatusAt, r.Version, r.ActivityCount = "completed", stamp(2), stamp(2), 3, ptr(int64(312))
	r.History = append(append([]item.History(nil), r.History...), item.History{Status: "completed", At: stamp(2), By: "usr-svc"})
	return r
}

func withFile() item.Record {
	r := completed()
	r.FileURL, r.UpdatedAt, r.Version, r.ChangedBy = ptr(fileURL), stamp(3), 4, "usr-files"
	return r
}

func tombstone() item.Record {
	r := withFile()
	r.DeletedAt, r.DeletedBy, r.ExpiresAt, r.Version, r.ChangedBy = stamp(4), "usr-admin", t0.Add(365*24*time.Hour).Unix(), 5, "usr-admin"
	return r
}

func encode(t *testing.T, r *item.Record) map[string]types.AttributeValue {
	t.Helper()
	if r == nil {
		return nil
	}
	av, err := item.Encode(*r)
	if err != nil {
		t.Fatal(err)
	}
	return av
}

func rec(f func() item.Record, change ...func(*item.Record)) *item.Record {
	r := f()
	for _, c := range change {
		c(&r)
	}
	return &r
}

// TestJudge_TheAPIsOwnChanges: each step of a record's life, written as the API writes it, is
// the change it is.
func TestJudge_TheAPIsOwnChanges(t *testing.T) {
	t.Parallel()
	failed := rec(queued, func(r *item.Record) {
		r.Status, r.UpdatedAt, r.StatusAt, r.Version, r.ChangedBy, r.FailureReason = "failed", stamp(1), stamp(1), 2, "usr-svc", ptr("disk full")
		r.History = append(r.History, item.History{Status: "failed", At: stamp(1), By: "usr-svc"})
	})
	legacy := rec(queued, func(r *item.Record) { r.Version, r.ChangedBy = 0, "" })
	for _, tc := range []struct {
		name     string
		event    string
		old, now *item.Record
		who      *events.DynamoDBUserIdentity
		want     change.Kind
		version  int64
		prev     audit.Status
	}{
		{"create", "INSERT", nil, rec(queued), nil, change.Created, 1, ""},
		{"create in processing", "INSERT", nil, rec(queued, func(r *item.Record) {
			r.Status, r.History[0].Status = "processing", "processing"
		}), nil, change.Created, 1, ""},
		{"status", "MODIFY", rec(queued), rec(processing), nil, change.StatusChanged, 2, audit.StatusQueued},
		{"status with activity_count", "MODIFY", rec(processing), rec(completed), nil, change.StatusChanged, 3, audit.StatusProcessing},
		{"failed with a reason", "MODIFY", rec(queued), failed, nil, change.StatusChanged, 2, audit.StatusQueued},
		{"file", "MODIFY", rec(completed), rec(withFile), nil, change.FileAttached, 4, ""},
		{"delete", "MODIFY", rec(withFile), rec(tombstone), nil, change.Deleted, 5, ""},
		{"first change of a record stored before versions", "MODIFY", legacy, rec(processing), nil, change.StatusChanged, 2, audit.StatusQueued},
		{"TTL removes a tombstone", "REMOVE", rec(tombstone), nil, ttl, change.None, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := change.Judge(tc.event, encode(t, tc.old), encode(t, tc.now), tc.who)
			if err != nil {
				t.Fatalf("judged illegal: %v", err)
			}
			if c.Kind != tc.want || c.Version != tc.version || c.PreviousStatus != tc.prev {
				t.Errorf("%s v%d from %q, want %s v%d from %q", c.Kind, c.Version, c.PreviousStatus, tc.want, tc.version, tc.prev)
			}
		})
	}
}

// TestJudge_ChangesTheAPICannotMake: every rule of the contract's archive check, broken once.
func TestJudge_ChangesTheAPICannotMake(t *testing.T) {
	t.Parallel()
	extra := func(name string, v types.AttributeValue) func(map[string]types.AttributeValue) {
		return func(av map[string]types.AttributeValue) { av[name] = v }
	}
	for _, tc := range []struct {
		name     string
		event    string
		old, now *item.Record
		who      *events.DynamoDBUserIdentity
		raw      func(map[string]types.AttributeValue) // changes the new (else the old) image as stored
		reason   string
	}{
		// Creation.
		{"created with two history entries", "INSERT", nil, rec(processing, func(r *item.Record) { r.Version = 1 }), nil, nil, "2 history entries"},
		{"created at version 2", "INSERT", nil, rec(queued, func(r *item.Record) { r.Version = 2 }), nil, nil, "version 2"},
		{"created without a version", "INSERT", nil, rec(queued, func(r *item.Record) { r.Version = 0 }), nil, nil, "version 0"},
		{"created completed", "INSERT", nil, rec(queued, func(r *item.Record) {
			r.Status, r.History[0].Status = "completed", "completed"
		}), nil, nil, "status"},
		{"created deleted", "INSERT", nil, rec(queued, func(r *item.Record) { r.DeletedAt, r.DeletedBy = stamp(0), "usr-0042" }), nil, nil, "deleted"},
		{"created with a file", "INSERT", nil, rec(queued, func(r *item.Record) { r.FileURL = ptr(fileURL) }), nil, nil, "file_url"},
		{"created with a bad format", "INSERT", nil, rec(queued, func(r *item.Record) { r.Format = "docx" }), nil, nil, "format"},
		{"created with the period reversed", "INSERT", nil, rec(queued, func(r *item.Record) { r.PeriodFrom = "2026-01-01" }), nil, nil, "period_to"},
		{"created by someone its history does not name", "INSERT", nil, rec(queued, func(r *item.Record) { r.ChangedBy = "usr-x" }), nil, nil, "created by"},
		{"created with updated_at apart from created_at", "INSERT", nil, rec(queued, func(r *item.Record) { r.UpdatedAt = stamp(1) }), nil, nil, "updated_at"},
		{"an attribute the API never writes", "INSERT", nil, rec(queued), nil, extra("note", item.S("hi")), "note"},
		{"NULL for an unset attribute", "INSERT", nil, rec(queued), nil, extra("file_url", &types.AttributeValueMemberNULL{Value: true}), "file_url"},
		{"a time not in UTC", "INSERT", nil, rec(queued, func(r *item.Record) {
			r.CreatedAt, r.UpdatedAt, r.StatusAt, r.History[0].At = "2026-03-01T09:00:00+01:00", "2026-03-01T09:00:00+01:00", "2026-03-01T09:00:00+01:00", "2026-03-01T09:00:00+01:00"
		}), nil, nil, "time"},
		{"a record_id that is not its key's", "INSERT", nil, rec(queued, func(r *item.Record) { r.RecordID = "rec-20260301-008" }), nil, nil, "key"},
		{"an org_id that is not its key's", "INSERT", nil, rec(queued, func(r *item.Record) { r.OrgID = "org-b" }), nil, nil, "key"},
		{"an attribute of another type", "INSERT", nil, rec(queued), nil, extra("version", item.S("1")), "no record item"},

		// Changes that no operation makes.
		{"export_id changed", "MODIFY", rec(queued), rec(queued, func(r *item.Record) { r.ExportID, r.Version = "exp-8", 2 }), nil, nil, "changed export_id"},
		{"the period changed", "MODIFY", rec(queued), rec(queued, func(r *item.Record) { r.PeriodTo, r.Version = "2025-06-30", 2 }), nil, nil, "changed period_to"},
		{"created_at changed", "MODIFY", rec(queued), rec(queued, func(r *item.Record) {
			r.CreatedAt, r.History[0].At, r.StatusAt, r.Version = stamp(-1), stamp(-1), stamp(-1), 2
		}), nil, nil, "created_at"},
		{"only the version moved", "MODIFY", rec(queued), rec(queued, func(r *item.Record) { r.Version = 2 }), nil, nil, "changed version"},
		{"status moved backwards", "MODIFY", rec(completed), rec(completed, func(r *item.Record) {
			r.Status, r.UpdatedAt, r.StatusAt, r.Version = "processing", stamp(3), stamp(3), 4
			r.History = append(r.History, item.History{Status: "processing", At: stamp(3), By: "usr-svc"})
		}), nil, nil, "completed is final"},
		{"status moved without its history entry", "MODIFY", rec(queued), rec(processing, func(r *item.Record) {
			r.History = r.History[:1]
			r.StatusAt = stamp(0)
		}), nil, nil, "last history entry"},
		{"history rewritten with a status move", "MODIFY", rec(queued), rec(processing, func(r *item.Record) { r.History[0].By = "usr-x" }), nil, nil, "history"},
		{"history rewritten alone", "MODIFY", rec(processing), rec(processing, func(r *item.Record) {
			r.History[1].At, r.StatusAt, r.Version = stamp(0), stamp(0), 3
		}), nil, nil, "status_at"},
		{"a status move dated before the last one", "MODIFY", rec(processing), rec(completed, func(r *item.Record) {
			r.UpdatedAt, r.StatusAt, r.History[2].At = stamp(0), stamp(0), stamp(0)
		}), nil, nil, "out of order"},
		{"a version skipped", "MODIFY", rec(queued), rec(processing, func(r *item.Record) { r.Version = 3 }), nil, nil, "not 2"},
		{"a version repeated", "MODIFY", rec(queued), rec(processing, func(r *item.Record) { r.Version = 1 }), nil, nil, "not 2"},
		{"a failure_reason without failed", "MODIFY", rec(queued), rec(processing, func(r *item.Record) { r.FailureReason = ptr("x") }), nil, nil, "failure_reason"},
		{"activity_count removed", "MODIFY", rec(completed), rec(completed, func(r *item.Record) {
			r.Status, r.UpdatedAt, r.StatusAt, r.Version, r.ActivityCount = "failed", stamp(3), stamp(3), 4, nil
			r.History = append(r.History, item.History{Status: "failed", At: stamp(3), By: "usr-svc"})
		}), nil, nil, "completed is final"},
		{"a status move and a file in one write", "MODIFY", rec(processing), rec(completed, func(r *item.Record) { r.FileURL = ptr(fileURL) }), nil, nil, "also changed file_url"},
		{"the file changed once set", "MODIFY", rec(withFile), rec(withFile, func(r *item.Record) {
			r.FileURL, r.UpdatedAt, r.Version = ptr(fileURL+"x"), stamp(4), 5
		}), nil, nil, "changed file_url"},
		{"a file on a failed record", "MODIFY", rec(queued, func(r *item.Record) {
			r.Status, r.StatusAt, r.History[0].Status = "failed", stamp(0), "failed"
		}), rec(queued, func(r *item.Record) {
			r.Status, r.StatusAt, r.History[0].Status, r.FileURL, r.Version = "failed", stamp(0), "failed", ptr(fileURL), 2
		}), nil, nil, "failed"},
		{"a file that is no https URL", "MODIFY", rec(completed), rec(withFile, func(r *item.Record) { r.FileURL = ptr("http://x.example/f") }), nil, nil, "https"},
		{"a tombstone changed", "MODIFY", rec(tombstone), rec(tombstone, func(r *item.Record) { r.ExpiresAt, r.Version = r.ExpiresAt+1, 6 }), nil, nil, "deleted record changed"},
		{"a tombstone brought back", "MODIFY", rec(tombstone), rec(withFile, func(r *item.Record) { r.Version = 6 }), nil, nil, "deleted record changed"},
		{"a delete that also changed activity_count", "MODIFY", rec(withFile), rec(tombstone, func(r *item.Record) { r.ActivityCount = ptr(int64(1)) }), nil, nil, "also changed activity_count"},
		{"a delete by someone else than the change's", "MODIFY", rec(withFile), rec(tombstone, func(r *item.Record) { r.DeletedBy = "usr-x" }), nil, nil, "deleted by"},
		{"a delete without changed_by", "MODIFY", rec(withFile), rec(tombstone, func(r *item.Record) { r.ChangedBy, r.DeletedBy = "", "" }), nil, nil, "changed_by"},

		// Removal.
		{"a record removed by a caller", "REMOVE", rec(withFile), nil, nil, nil, "not by the TTL"},
		{"a tombstone removed by a caller", "REMOVE", rec(tombstone), nil, &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: "other.amazonaws.com"}, nil, "not by the TTL"},
		{"a live record removed by the TTL", "REMOVE", rec(withFile), nil, ttl, nil, "not deleted"},

		// Stream records that are none of the three.
		{"an unknown event", "UPSERT", nil, rec(queued), nil, nil, "UPSERT"},
		{"an INSERT with an old image", "INSERT", rec(queued), rec(queued), nil, nil, "old image true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			old, now := encode(t, tc.old), encode(t, tc.now)
			if tc.raw != nil {
				if now != nil {
					tc.raw(now)
				} else {
					tc.raw(old)
				}
			}
			c, err := change.Judge(tc.event, old, now, tc.who)
			var ill *change.Illegal
			if !errors.As(err, &ill) {
				t.Fatalf("judged %s (%s), want an illegal change", c.Kind, c.Skip)
			}
			if ill.RecordID != ruleID.String() || ill.OrgID != "org-a" {
				t.Errorf("names %s of %s, want %s of org-a", ill.RecordID, ill.OrgID, ruleID)
			}
			if !strings.Contains(ill.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", ill.Reason, tc.reason)
			}
		})
	}
}

// Items that are not records publish nothing, whatever happens to them, and so does a write
// that changed nothing.
func TestJudge_NothingToPublish(t *testing.T) {
	t.Parallel()
	guard := item.NewGuard(newRecord("org-a", "exp-7"), ruleID.String())
	g, err := item.Encode(guard)
	if err != nil {
		t.Fatal(err)
	}
	stats := item.StatsKey("org-a")
	stats["live"] = item.N(3)
	counter := item.CounterKey("20260301")
	counter["seq"], counter["last_at"] = item.N(7), item.S(stamp(0))
	other := item.Key("ORG#org-a", "NOTE")
	same := encode(t, rec(processing))
	for _, tc := range []struct {
		name     string
		event    string
		old, now map[string]types.AttributeValue
		skip     string
	}{
		{"a guard written", "INSERT", nil, g, "guard"},
		{"a guard removed by a caller", "REMOVE", g, nil, "guard"},
		{"the live count", "MODIFY", stats, stats, "stats"},
		{"the day counter", "INSERT", nil, counter, "counter"},
		{"an item of no known kind", "INSERT", nil, other, "no kind"},
		{"a write that changed nothing", "MODIFY", same, encode(t, rec(processing)), "changed nothing"},
	} {
		c, err := change.Judge(tc.event, tc.old, tc.now, nil)
		if err != nil || c.Kind != change.None || !strings.Contains(c.Skip, tc.skip) {
			t.Errorf("%s: %s (%q) %v, want nothing to publish because of %q", tc.name, c.Kind, c.Skip, err, tc.skip)
		}
	}
}
