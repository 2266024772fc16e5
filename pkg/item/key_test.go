package item_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/item"
)

func TestKeys_AsTheTableHasAlwaysHeldThem(t *testing.T) {
	t.Parallel()
	id := audit.NewRecordID(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), 1000)
	key := func(pk, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk)}
	}
	for name, tc := range map[string]struct {
		got, want map[string]types.AttributeValue
	}{
		"record":  {item.RecordKey("org-a", id), key("ORG#org-a", "REC#20260301#000001000")},
		"guard":   {item.GuardKey("org-a", "exp-1"), key("ORG#org-a", "EXP#exp-1")},
		"stats":   {item.StatsKey("org-a"), key("ORG#org-a", "STATS")},
		"counter": {item.CounterKey("20260301"), key("SEQ#20260301", "SEQ")},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s key %s, want %s", name, showMap(tc.got), showMap(tc.want))
		}
	}
}

func TestKindOf_TellsTheItemsByTheirKeys(t *testing.T) {
	t.Parallel()
	id := audit.NewRecordID(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), 1)
	record := item.RecordKey("org-a", id)
	record["status"] = s("queued") // a whole item is told by its keys too
	for _, tc := range []struct {
		key  map[string]types.AttributeValue
		want item.Kind
	}{
		{record, item.KindRecord},
		{item.GuardKey("org-a", "exp-1"), item.KindGuard},
		{item.StatsKey("org-a"), item.KindStats},
		{item.CounterKey("20260301"), item.KindCounter},
		{map[string]types.AttributeValue{"pk": s("ORG#org-a"), "sk": s("OTHER")}, item.Unknown},
		{map[string]types.AttributeValue{"pk": s("SEQ#20260301"), "sk": s("REC#20260301#000000001")}, item.Unknown},
		{map[string]types.AttributeValue{"pk": n("1"), "sk": s("REC#")}, item.Unknown},
		{nil, item.Unknown},
	} {
		if got := item.KindOf(tc.key); got != tc.want {
			t.Errorf("KindOf(%s) = %s, want %s", showMap(tc.key), got, tc.want)
		}
	}
}

func TestParseRecordSK_OnlyTheSortKeysRecordSKWrites(t *testing.T) {
	t.Parallel()
	for _, seq := range []int64{1, 999, 1000, 999_999_999} {
		id := audit.NewRecordID(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), seq)
		if got, ok := item.ParseRecordSK(item.RecordSK(id)); !ok || got != id {
			t.Errorf("ParseRecordSK(%s) = %v, %v; want %v", item.RecordSK(id), got, ok, id)
		}
	}
	for _, sk := range []string{"", "REC#", "REC#20260301#1", "REC#20260301#000000000", "REC#20261301#000000001",
		"REC#20260301#00000000x", "EXP#20260301#000000001", "REC#20260301#0000000001", "REC#2026031#000000001"} {
		if id, ok := item.ParseRecordSK(sk); ok {
			t.Errorf("ParseRecordSK(%q) = %v, want none", sk, id)
		}
	}
}
