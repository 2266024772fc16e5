package store

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/item"
)

// The table's layout (keys, item structs, their encoding) is package item's; these are the
// store's shorthands for it.
var (
	str = item.S
	num = item.N
)

// decodeLive turns a stored item into a record, or ErrNotFound when the item is absent or a
// tombstone: to callers a deleted record does not exist.
func decodeLive(av map[string]types.AttributeValue) (audit.Record, error) {
	if len(av) == 0 {
		return audit.Record{}, audit.ErrNotFound
	}
	if _, deleted := av["deleted_at"]; deleted {
		return audit.Record{}, audit.ErrNotFound
	}
	var it item.Record
	if err := item.Decode(av, &it); err != nil {
		return audit.Record{}, fmt.Errorf("decode record: %w", err)
	}
	return it.Audit()
}
