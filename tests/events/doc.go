// Package events holds the end-to-end tests of the change events (../shared/CONTRACT.md,
// "Change events"): changes made through the whole local API, over real HTTP under both
// prefixes, and writes sent straight to the embedded engine's port, read back as a rule's target
// receives them from GET /_local/events. Each change stored gives exactly its one event, in
// version order, with the contract's detail; a replay, a no-op, a refused change, a race lost,
// a write the API cannot make and the TTL's removal of a tombstone give none. It has only tests.
package events
