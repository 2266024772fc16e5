package main

import "github.com/bufdir/export-audit/pkg/config"

// TableActions is the one list of DynamoDB actions each function may call, always on the
// audit table's ARN and nothing else. The stack, its tests and the agreement test against
// template.yaml all read it; the repository code must not call anything outside it.
//
// TransactWriteItems has no IAM action of its own: IAM authorises each contained Put, Update,
// Delete or ConditionCheck as that action, so a transaction needs only these.
var TableActions = map[string][]string{
	"list-records":  {"dynamodb:Query"},
	"get-record":    {"dynamodb:GetItem"},
	"create-record": {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem"},
	// GetItem: a move to "queued", which no status may make, is answered from one read
	// (store.UpdateStatus) instead of a write whose condition must fail.
	"update-status":   {"dynamodb:UpdateItem", "dynamodb:GetItem"},
	"attach-file-url": {"dynamodb:UpdateItem"},
	"delete-record":   {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
	// It reads the table's stream (StreamActions, through its event source mapping), never the
	// table.
	config.PublisherFunction: {},
	// The archive's functions read the table's stream and the bucket, never the table
	// (connectArchive gives them what they do).
	config.ArchiveFunction: {},
	config.SealFunction:    {},
}
