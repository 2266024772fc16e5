// Package stream gives the embedded DynamoDB-compatible engine what it lacks: DynamoDB Streams,
// with new and old images, and the Lambda event source mappings that read them, so that code
// written for a table's stream (a Lambda handler of events.DynamoDBEvent) runs locally on the
// same records, under the same delivery rules, as in AWS. It knows nothing of any item's
// meaning.
//
// A Layer is an http.Handler in front of the engine (put it closest to the engine, inside any
// fault injection). It serialises writes, reads each affected item from the engine before and
// after a write that succeeds (in process, consistently), and appends one record per item that
// changed: PutItem, UpdateItem, DeleteItem, each item of TransactWriteItems and of
// BatchWriteItem, whoever sent them to the engine's port. As in DynamoDB Streams, a write that
// changed nothing (an update or put to the same values, a delete of a missing item, a failed
// condition, a cancelled transaction, an unprocessed batch item) writes no record. Every table
// is streamed, each on its own stream ARN, unless Options.Tables names the streamed ones.
// Expire and Sweep do what DynamoDB's TTL does; their REMOVE records carry the TTL's
// userIdentity.
//
// Subscribe starts a reader with an event source mapping's settings (batch size, batching
// window, partial batch responses, bisection, bounded retries and an on-failure destination).
// Wait returns once every reader has passed every record written before the call.
//
// What it does not do, compared with DynamoDB Streams and Lambda:
//   - One shard per table and one global order: records are in write order across all items and
//     tables, a stronger order than DynamoDB's (per item only). Code that is correct here may
//     still rely on an order AWS does not give.
//   - No 24-hour retention: a record is kept until every reader has passed it (or for ever with
//     Options.KeepAll), so a reader that starts at the trim horizon after others have passed
//     records does not see them, and a stuck reader keeps everything behind it in memory.
//   - A record reaches a handler again only through the retries described here; Lambda's rare
//     duplicate deliveries, the 6 MB invocation payload limit, MaximumRecordAgeInSeconds,
//     ParallelizationFactor, tumbling windows and event filtering are not modelled, and the
//     handler runs in process, without a deadline.
//   - The TTL runs when asked (Expire) or on a fixed interval (Sweep), not within DynamoDB's
//     few days; as in DynamoDB, it skips items whose TTL value is not a number or lies more
//     than five years in the past.
//   - Writes that bypass HTTP (minidyn's Go API, such as ClearTable) are not seen.
package stream
