// Package resilience holds the tests of what the API keeps when things go wrong or many things
// happen at once: DynamoDB's faults injected in front of the engine (throttling, errors, slow
// and dropped calls), concurrent requests racing for one record, and load. After each, the table
// keeps its invariants and everything the API acknowledged reads back. It has only tests.
package resilience
