package stream

import (
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/image"
)

// ttlIdentity is who DynamoDB Streams names as the author of a TTL deletion.
var ttlIdentity = &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}

// record is the stream record of an item that went from old to now (nil: no item), without
// its sequence number and event ID; false when nothing changed.
func record(t *table, old, now map[string]events.DynamoDBAttributeValue, at time.Time, who *events.DynamoDBUserIdentity) (events.DynamoDBEventRecord, bool) {
	if image.Equal(old, now) {
		return events.DynamoDBEventRecord{}, false
	}
	name, img := "MODIFY", now
	switch {
	case old == nil:
		name = "INSERT"
	case now == nil:
		name, img = "REMOVE", old
	}
	keys := make(map[string]events.DynamoDBAttributeValue, len(t.keys))
	for _, k := range t.keys {
		keys[k] = img[k]
	}
	return events.DynamoDBEventRecord{
		AWSRegion:      t.region,
		EventName:      name,
		EventSource:    "aws:dynamodb",
		EventVersion:   "1.1",
		EventSourceArn: t.arn,
		UserIdentity:   who,
		Change: events.DynamoDBStreamRecord{
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: at},
			Keys:                        keys,
			NewImage:                    now,
			OldImage:                    old,
			SizeBytes:                   itemSize(keys) + itemSize(old) + itemSize(now),
			StreamViewType:              "NEW_AND_OLD_IMAGES",
		},
	}, true
}

// itemSize is an item's size by DynamoDB's rules: each attribute's name and value.
func itemSize(item map[string]events.DynamoDBAttributeValue) int64 {
	var n int64
	for name, v := range item {
		n += int64(len(name)) + valueSize(v)
	}
	return n
}

func valueSize(v events.DynamoDBAttributeValue) int64 {
	switch v.DataType() {
	case events.DataTypeString:
		return int64(len(v.String()))
	case events.DataTypeNumber:
		return numberSize(v.Number())
	case events.DataTypeBinary:
		return int64(len(v.Binary()))
	case events.DataTypeBoolean, events.DataTypeNull:
		return 1
	case events.DataTypeStringSet:
		return sum(v.StringSet(), func(s string) int64 { return int64(len(s)) })
	case events.DataTypeNumberSet:
		return sum(v.NumberSet(), numberSize)
	case events.DataTypeBinarySet:
		return sum(v.BinarySet(), func(b []byte) int64 { return int64(len(b)) })
	case events.DataTypeList:
		n := int64(3)
		for _, e := range v.List() {
			n += 1 + valueSize(e)
		}
		return n
	case events.DataTypeMap:
		n := int64(3)
		for k, e := range v.Map() {
			n += 1 + int64(len(k)) + valueSize(e)
		}
		return n
	}
	return 0
}

// sum adds up the sizes of a set's members.
func sum[T any](set []T, size func(T) int64) int64 {
	var n int64
	for _, m := range set {
		n += size(m)
	}
	return n
}

// numberSize is one byte per two significant digits, plus one.
func numberSize(s string) int64 {
	digits := strings.Trim(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.SplitN(strings.ToLower(s), "e", 2)[0]), "0")
	return int64(len(digits)+1)/2 + 1
}
