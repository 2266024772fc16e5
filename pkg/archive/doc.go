// Package archive is the service's append-only audit archive: every change the table's stream
// carries, kept where nobody can rewrite it, and sealed at fixed intervals by signed digests
// that chain, as CloudTrail seals its log files. This package holds what the two functions that
// keep it do (Writer for archive-changes, Sealer for seal-digest), the storage they need
// (Bucket, with Dir for a local directory; s3bucket holds the S3 one) and the signing key
// (Signer, with LocalKey for a key file; kmskey holds the KMS one). Package verify checks an
// archive against the table.
//
// # Layout
//
// Time is cut into periods of a fixed length (hourly in AWS), counted from the Unix epoch, so
// that every writer and sealer with the same length agrees on them. A period is named by its
// start in UTC, 20060102T150405Z, which sorts as time does.
//
//	changes/<period>/<first sequence number, 40 digits>-<hash>.json   one stream batch
//	digests/<period>.json                                             the period's digest
//
// A change object holds one batch of stream records as Lambda delivered it
// ({"Records": [...]}, the events.DynamoDBEvent's JSON), undecoded: every insert, modify and
// remove of every item, whoever made it. It lies under the period the writer's clock was in
// when the batch arrived. Its name is made from the batch alone (the first record's sequence
// number and a hash of the records' event IDs), so that Lambda's retry of a batch that was in
// fact written finds the object there and counts that as done. A retry in a later period writes
// the batch again under that period; the verifier counts each record once, by its event ID.
//
// # Digests
//
// A digest seals one period: the key, SHA-256 and size of each change object under the period,
// and the key and SHA-256 of the previous digest's bytes (the first digest says instead that it
// starts the chain). Its body is signed as it is written, ECDSA P-256 over the SHA-256 of the
// exact bytes, and kept byte for byte in the file, so that no canonical form has to be agreed:
//
//	{"digest":{...},"signature":"<base64 DER>","algorithm":"ECDSA_SHA_256","key_id":"..."}
//
// A period is sealed once its end plus a grace has passed, the grace being longer than one put
// can take (the archive function's timeout), so that no batch the writer took into a period is
// still on its way when the period is sealed. Every period gets a digest, changes or not, from
// the period of the archive's first change on: a run that was missed is made up by the next,
// one digest per period, in order. Two runs at once cannot fork the chain: a digest is written
// only if its key is new, and the run that loses reads the winner's digest and goes on from it.
//
// The chain begins with the period of the archive's first change. An archive with no change
// yet gets no digest: there is nothing to seal, and a chain begun from the clock could begin
// twice, in two periods, if two first runs straddled a period's end.
package archive
