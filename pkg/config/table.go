package config

// The table's key schema and TTL attribute: the repository (pkg/store) keys its items with
// them and creates local tables with them, and the stack (infra/) creates the table with them.
// pkg/store's item layout says what the keys hold.
const (
	TablePartitionKey = "pk"         // string
	TableSortKey      = "sk"         // string
	TableTTLAttribute = "expires_at" // epoch seconds; only tombstones of deleted records carry it
	// RecordSortKeyPrefix starts the sort key of every record item (and of no other item): the
	// stack's event source mapping hands the publisher only the stream records of record items
	// by it.
	RecordSortKeyPrefix = "REC#"
)

// SAMTableLogicalID is the table's logical id in template.yaml. `sam local` resolves
// `!Ref AuditTable` to this id rather than to a table's name, so a function given it as
// TABLE_NAME would fail every call with ResourceNotFound.
const SAMTableLogicalID = "AuditTable"
