package store_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/item"
	"github.com/bufdir/export-audit/pkg/store"
)

// plain turns an attribute value into DynamoDB's JSON shape ({"S": ...}, {"L": [...]}), which
// compares with reflect.DeepEqual and prints readably.
func plain(av types.AttributeValue) any {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = plain(e)
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": plainMap(v.Value)}
	default:
		return map[string]any{"?": v}
	}
}

func plainMap(m map[string]types.AttributeValue) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = plain(v)
	}
	return out
}

func S(v string) any         { return map[string]any{"S": v} }
func N(v string) any         { return map[string]any{"N": v} }
func L(v ...any) any         { return map[string]any{"L": v} }
func M(v map[string]any) any { return map[string]any{"M": v} }

func entry(status, at, by string) any {
	return M(map[string]any{"status": S(status), "at": S(at), "by": S(by)})
}

// TestItems_LayoutInTheTable follows one record through its life and reads each item of the
// table raw after every step: attribute names and types exactly as the table has always held
// them, an unset optional attribute absent (never NULL), the history a list of maps.
func TestItems_LayoutInTheTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return now.Add(time.Duration(min) * time.Minute) }
	stamp := func(min int) string { return at(min).Format(time.RFC3339) }
	clock := at(0)
	s := e.Store(store.WithClock(func() time.Time { return clock }), store.WithRetention(30*24*time.Hour))

	raw := func(pk, sk string) map[string]any {
		t.Helper()
		out, err := e.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}})
		if err != nil {
			t.Fatalf("get %s %s: %v", pk, sk, err)
		}
		if out.Item == nil {
			return nil
		}
		return plainMap(out.Item)
	}
	check := func(step, pk, sk string, want map[string]any) {
		t.Helper()
		if got := raw(pk, sk); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: item %s %s\n got %v\nwant %v", step, pk, sk, got, want)
		}
	}

	rec := mustCreate(t, s, newRecord("org-a", "exp-1"))
	id := mustID(t, rec.RecordID)
	record := map[string]any{
		"pk": S("ORG#org-a"), "sk": S("REC#20260301#000000001"), "record_id": S("rec-20260301-001"),
		"export_id": S("exp-1"), "org_id": S("org-a"), "triggered_by_user_id": S("usr-0099"),
		"status": S("queued"), "format": S("pdf"), "period_from": S("2025-01-01"), "period_to": S("2025-12-31"),
		"created_at": S(stamp(0)), "updated_at": S(stamp(0)), "status_at": S(stamp(0)),
		"history": L(entry("queued", stamp(0), "usr-0042")),
		"version": N("1"), "changed_by": S("usr-0042"),
	}
	guard := map[string]any{
		"pk": S("ORG#org-a"), "sk": S("EXP#exp-1"), "record_id": S("rec-20260301-001"), "export_id": S("exp-1"),
		"org_id": S("org-a"), "triggered_by_user_id": S("usr-0099"), "status": S("queued"), "format": S("pdf"),
		"period_from": S("2025-01-01"), "period_to": S("2025-12-31"),
	}
	check("create", "ORG#org-a", "REC#20260301#000000001", record)
	check("create", "ORG#org-a", "EXP#exp-1", guard)
	check("create", "ORG#org-a", "STATS", map[string]any{"pk": S("ORG#org-a"), "sk": S("STATS"), "live": N("1")})
	check("create", "SEQ#20260301", "SEQ", map[string]any{"pk": S("SEQ#20260301"), "sk": S("SEQ"), "seq": N("1"), "last_at": S(stamp(0))})

	clock = at(2)
	if _, _, err := s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: audit.StatusProcessing, At: at(1), By: "usr-svc"}); err != nil {
		t.Fatal(err)
	}
	count := int64(312)
	if _, _, err := s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: audit.StatusCompleted, At: at(2), By: "usr-svc", ActivityCount: &count}); err != nil {
		t.Fatal(err)
	}
	record["status"], record["updated_at"], record["status_at"], record["activity_count"] = S("completed"), S(stamp(2)), S(stamp(2)), N("312")
	record["history"] = L(entry("queued", stamp(0), "usr-0042"), entry("processing", stamp(1), "usr-svc"), entry("completed", stamp(2), "usr-svc"))
	record["version"], record["changed_by"] = N("3"), S("usr-svc")
	check("status moves", "ORG#org-a", "REC#20260301#000000001", record)

	clock = at(3)
	if _, _, err := s.AttachFileURL(ctx, "org-a", id, "https://storage.example.no/exports/exp-1.pdf", "usr-files"); err != nil {
		t.Fatal(err)
	}
	record["file_url"], record["updated_at"] = S("https://storage.example.no/exports/exp-1.pdf"), S(stamp(3))
	record["version"], record["changed_by"] = N("4"), S("usr-files")
	check("file url", "ORG#org-a", "REC#20260301#000000001", record)
	check("file url", "ORG#org-a", "EXP#exp-1", guard)

	clock = at(4)
	if err := s.Delete(ctx, "org-a", id, "usr-admin"); err != nil {
		t.Fatal(err)
	}
	record["deleted_at"], record["deleted_by"] = S(stamp(4)), S("usr-admin")
	record["version"], record["changed_by"] = N("5"), S("usr-admin")
	record["expires_at"] = N(strconv.FormatInt(at(4).Add(30*24*time.Hour).Unix(), 10))
	check("delete", "ORG#org-a", "REC#20260301#000000001", record)
	check("delete", "ORG#org-a", "EXP#exp-1", nil)
	check("delete", "ORG#org-a", "STATS", map[string]any{"pk": S("ORG#org-a"), "sk": S("STATS"), "live": N("0")})
}

// A record's version moves with its changes only: a no-op or a refused change leaves it, and a
// record stored before versions were kept (no version, no changed_by) counts as version 1, so
// its first change writes 2.
func TestItems_VersionCountsChangesOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, s, rec := oneRecord(t)
	id := mustID(t, rec.RecordID)
	key := item.RecordKey("org-a", id)
	version := func() (string, string) {
		t.Helper()
		out, err := e.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := out.Item["version"].(*types.AttributeValueMemberN)
		by, _ := out.Item["changed_by"].(*types.AttributeValueMemberS)
		if v == nil || by == nil {
			return "", ""
		}
		return v.Value, by.Value
	}
	if _, err := e.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key,
		UpdateExpression: aws.String("REMOVE version, changed_by")}); err != nil {
		t.Fatal(err)
	}
	at := rec.CreatedAt.Add(time.Minute)
	steps := []struct {
		name    string
		do      func() error
		version string
		by      string
	}{
		{"first change of a record without a version", func() error {
			_, _, err := s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: audit.StatusProcessing, At: at, By: "usr-svc"})
			return err
		}, "2", "usr-svc"},
		{"no-op status", func() error {
			_, _, err := s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: audit.StatusProcessing, At: at, By: "usr-other"})
			return err
		}, "2", "usr-svc"},
		{"refused status", func() error {
			_, _, err := s.UpdateStatus(ctx, "org-a", id, audit.StatusChange{To: audit.StatusQueued, At: at, By: "usr-other"})
			if err == nil {
				return errors.New("a move back to queued was accepted")
			}
			return nil
		}, "2", "usr-svc"},
		{"file", func() error {
			_, _, err := s.AttachFileURL(ctx, "org-a", id, "https://storage.example.no/f.pdf", "usr-files")
			return err
		}, "3", "usr-files"},
		{"no-op file", func() error {
			_, _, err := s.AttachFileURL(ctx, "org-a", id, "https://storage.example.no/f.pdf", "usr-other")
			return err
		}, "3", "usr-files"},
		{"delete", func() error { return s.Delete(ctx, "org-a", id, "usr-admin") }, "4", "usr-admin"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if v, by := version(); v != st.version || by != st.by {
			t.Errorf("%s: version %q changed_by %q, want %s and %s", st.name, v, by, st.version, st.by)
		}
	}
}
