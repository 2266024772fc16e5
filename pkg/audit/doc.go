// Package audit is the domain of the Bufdir export audit trail: the record, its invariants,
// the status machine and the validation of what callers send. It knows nothing of AWS or HTTP;
// the repository (package store) persists it and the API layer (package api) speaks it.
package audit
