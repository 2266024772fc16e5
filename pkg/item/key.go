package item

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
)

// The table has one string partition key and one string sort key. Four kinds of item share it:
//
//	record   pk ORG#<org>      sk REC#<YYYYMMDD>#<seq, 9 digits>   one per record, tombstoned on delete
//	guard    pk ORG#<org>      sk EXP#<export_id>                  one per live export_id of an org
//	stats    pk ORG#<org>      sk STATS                            live record count of an org
//	counter  pk SEQ#<YYYYMMDD> sk SEQ                              the day's last sequence number
//
// Record sort keys pad the sequence so key order is (day, sequence) order, which the create
// path keeps equal to (created_at, record_id) order; lists therefore read in key order. STATS
// sorts just after every REC# key, so a descending query from it reads the count first and
// then the newest records, in one call.
const (
	AttrPK        = config.TablePartitionKey
	AttrSK        = config.TableSortKey
	AttrExpiresAt = config.TableTTLAttribute // only tombstones carry it

	OrgPrefix     = "ORG#"
	RecordPrefix  = config.RecordSortKeyPrefix
	GuardPrefix   = "EXP#"
	StatsSK       = "STATS"
	CounterPrefix = "SEQ#"
	CounterSK     = "SEQ"
)

// OrgPK is the partition key of an organisation's records, guards and count.
func OrgPK(org string) string { return OrgPrefix + org }

// RecordSK is the sort key of the record id.
func RecordSK(id audit.RecordID) string {
	return fmt.Sprintf("%s%s#%09d", RecordPrefix, id.DayKey(), id.Seq)
}

// GuardSK is the sort key of the guard of exportID.
func GuardSK(exportID string) string { return GuardPrefix + exportID }

// CounterPK is the partition key of the counter of day (YYYYMMDD).
func CounterPK(day string) string { return CounterPrefix + day }

// Key is the key of the item at pk and sk.
func Key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: S(pk), AttrSK: S(sk)}
}

// RecordKey is the key of a record's item.
func RecordKey(org string, id audit.RecordID) map[string]types.AttributeValue {
	return Key(OrgPK(org), RecordSK(id))
}

// GuardKey is the key of the item that reserves exportID within org for one live record.
func GuardKey(org, exportID string) map[string]types.AttributeValue {
	return Key(OrgPK(org), GuardSK(exportID))
}

// StatsKey is the key of org's live record count.
func StatsKey(org string) map[string]types.AttributeValue { return Key(OrgPK(org), StatsSK) }

// CounterKey is the key of the counter of day (YYYYMMDD).
func CounterKey(day string) map[string]types.AttributeValue { return Key(CounterPK(day), CounterSK) }

// Kind is what an item is, by its key.
type Kind int

// The kinds of item; Unknown is a key of none of them.
const (
	Unknown Kind = iota
	KindRecord
	KindGuard
	KindStats
	KindCounter
)

func (k Kind) String() string {
	switch k {
	case KindRecord:
		return "record"
	case KindGuard:
		return "guard"
	case KindStats:
		return "stats"
	case KindCounter:
		return "counter"
	}
	return "unknown"
}

// KindOf tells what the item with this key (or this whole item) is, from its pk and sk.
func KindOf(key map[string]types.AttributeValue) Kind {
	pk, sk := stringAttr(key, AttrPK), stringAttr(key, AttrSK)
	switch {
	case strings.HasPrefix(pk, OrgPrefix) && strings.HasPrefix(sk, RecordPrefix):
		return KindRecord
	case strings.HasPrefix(pk, OrgPrefix) && strings.HasPrefix(sk, GuardPrefix):
		return KindGuard
	case strings.HasPrefix(pk, OrgPrefix) && sk == StatsSK:
		return KindStats
	case strings.HasPrefix(pk, CounterPrefix) && sk == CounterSK:
		return KindCounter
	}
	return Unknown
}

func stringAttr(m map[string]types.AttributeValue, name string) string {
	if s, ok := m[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// ParseRecordSK reads the record id out of a record's sort key; false when sk is not one.
func ParseRecordSK(sk string) (audit.RecordID, bool) {
	rest, ok := strings.CutPrefix(sk, RecordPrefix)
	day, seq, ok2 := strings.Cut(rest, "#")
	if !ok || !ok2 || len(seq) != 9 {
		return audit.RecordID{}, false
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil {
		return audit.RecordID{}, false
	}
	id, err := audit.ParseRecordID(fmt.Sprintf("rec-%s-%03d", day, n))
	if err != nil || RecordSK(id) != sk {
		return audit.RecordID{}, false
	}
	return id, true
}
