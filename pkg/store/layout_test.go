package store_test

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
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
	check("status moves", "ORG#org-a", "REC#20260301#000000001", record)

	clock = at(3)
	if _, _, err := s.AttachFileURL(ctx, "org-a", id, "https://storage.example.no/exports/exp-1.pdf"); err != nil {
		t.Fatal(err)
	}
	record["file_url"], record["updated_at"] = S("https://storage.example.no/exports/exp-1.pdf"), S(stamp(3))
	check("file url", "ORG#org-a", "REC#20260301#000000001", record)
	check("file url", "ORG#org-a", "EXP#exp-1", guard)

	clock = at(4)
	if err := s.Delete(ctx, "org-a", id, "usr-admin"); err != nil {
		t.Fatal(err)
	}
	record["deleted_at"], record["deleted_by"] = S(stamp(4)), S("usr-admin")
	record["expires_at"] = N(strconv.FormatInt(at(4).Add(30*24*time.Hour).Unix(), 10))
	check("delete", "ORG#org-a", "REC#20260301#000000001", record)
	check("delete", "ORG#org-a", "EXP#exp-1", nil)
	check("delete", "ORG#org-a", "STATS", map[string]any{"pk": S("ORG#org-a"), "sk": S("STATS"), "live": N("0")})
}
