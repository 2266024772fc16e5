// Package testkit is the one kit the tests and make bench start the service with, so that each
// of these is written once:
//
//   - the embedded DynamoDB engine, always behind a keeper of ClientRequestTokens as in every
//     local run, optionally behind a fault injector or a test's own layer; the service's SDK
//     client and one with the SDK's defaults; a table made from the store's own schema
//     (engine.go);
//   - a counter of the DynamoDB operations that reach the engine (calls.go), a door that answers
//     them with DynamoDB's errors when a test says so (door.go), and a buffer many goroutines
//     write log lines to, with the checks of a function's start-up line (buffer.go);
//   - the whole local API started through internal/app/localrun as make run starts it, with
//     tokens for it (api.go), an HTTP caller whose replies check what the contract says of
//     records and problem documents (http.go), the create bodies the tests send (record.go),
//     and a change event as an EventBridge rule's target receives it (event.go);
//   - a look at the whole table, with the invariants every state of it keeps, and a day's
//     counter set where a test needs it (table.go);
//   - the archive's stand-ins for S3 and KMS, reached through the archive functions' own
//     clients, and a signing key like the stack's (archive.go).
//
// It is for tests and the bench only; nothing that ships imports it.
package testkit

import (
	"testing"

	"github.com/bufdir/export-audit/pkg/config"
)

// What every local run of the kit shares unless a caller says otherwise.
const (
	Region = "eu-north-1"
	Table  = "bufdir-audit-test-table"
	// Secret signs the tokens of the kit's local APIs (local.Authorizer's key).
	Secret = "test-kit-secret-of-at-least-32-bytes"
)

// The contract's two prefixes, written out rather than taken from pkg/config, so that a change
// to the served paths fails the tests.
const (
	Prefix        = "/api/v1/bufdir-audit-records"
	DoubledPrefix = Prefix + Prefix // the prefix the source API document prints
)

// AllScopes are the three scopes a token may carry, written out rather than taken from
// pkg/config, so that a change to the scopes the service checks fails the tests.
var AllScopes = []string{"audit:read", "audit:write", "audit:delete"}

// Config is the configuration a function reads when only the required settings are set: the
// kit's table and region, stage local (make run's). Every other setting has its default.
func Config() config.Config {
	cfg, err := config.Load(Env(map[string]string{
		config.EnvTableName: Table, config.EnvRegion: Region, config.EnvStage: config.LocalStage,
	}))
	if err != nil {
		panic("the kit's configuration: " + err.Error())
	}
	return cfg
}

// Env is a getenv that reads m, for the configuration loaders and the functions' roots.
func Env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// EachPrefix runs test once under each of the contract's prefixes, in parallel subtests named
// for the prefix, so that a walk through the routes proves both serve the same.
func EachPrefix(t *testing.T, test func(t *testing.T, prefix string)) {
	t.Helper()
	for _, p := range []struct{ name, path string }{{"single prefix", Prefix}, {"doubled prefix", DoubledPrefix}} {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			test(t, p.path)
		})
	}
}
