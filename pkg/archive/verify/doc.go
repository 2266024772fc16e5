// Package verify checks the archive and the table against each other, as `make verify` does,
// and changes nothing. Run checks the contract's four points:
//
//  1. every digest's signature and the chain: none missing, altered or out of order, and every
//     period from the archive's first change to the last one due to be sealed by now has its
//     digest (how a removed last digest shows);
//  2. every change object a digest names is there with the SHA-256 it names, and every change
//     object of a sealed period is named by its digest;
//  3. every change is one the service can make: the archive is replayed per item, in stream
//     order (a record archived twice, as a batch retried in a later period is, counts once),
//     each change must follow from the item's previous archived image, and the service's Rules
//     judge each change and the items the changes left;
//  4. the table is what the changes left: each item's last archived image against a full,
//     consistent read of the table.
//
// The table may be changing while Run reads it, and the archive follows the table by the time
// the stream and the archive function take. Before a difference between the two counts as a
// problem, Run lets it settle for Options.Settle: it reads the change objects written since,
// and the differing items again, until they agree or the time is up.
//
// Changes in objects no digest seals yet are checked by 3 and 4 and counted as unsealed, not
// as problems, unless their period is overdue, which is a missing digest.
package verify
