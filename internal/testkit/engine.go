package testkit

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/pkg/clienttoken"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/bufdir/export-audit/pkg/local"
	"github.com/bufdir/export-audit/pkg/store"
)

// EngineOptions say what stands around the embedded engine, as local.EngineLayers do in every
// local run. Whatever they say, something keeps ClientRequestTokens in front of the engine as
// DynamoDB does, which the engine does not: Faults when set, else Keeper, else a
// clienttoken.Keeper of its own.
type EngineOptions struct {
	// Faults, when set, keeps the tokens and injects the faults its rules say.
	Faults *faults.Injector
	// Keeper keeps the tokens when Faults is not set; a test of the keeper passes its own.
	Keeper *clienttoken.Keeper
	// Inner, when set, wraps the engine itself: it sees the calls the keeper lets through.
	Inner func(http.Handler) http.Handler
	// Outer, when set, wraps everything: it sees every call the client sends.
	Outer func(http.Handler) http.Handler
}

// StartEngine serves the embedded engine on addr (port 0 picks a free one) until it is closed;
// its data lives as long as it does.
func StartEngine(addr string, o EngineOptions) (*local.Server, error) {
	layers := local.EngineLayers{Inner: o.Inner, Outer: o.Outer}
	switch {
	case o.Faults != nil:
		layers.Front = o.Faults.Wrap
	case o.Keeper != nil:
		layers.Front = o.Keeper.Wrap
	}
	return local.StartEngine(addr, layers)
}

// Engine starts an engine of t's own on a free loopback port and returns its URL; it stops
// when t ends.
func Engine(t testing.TB, o EngineOptions) string {
	t.Helper()
	srv, err := StartEngine("127.0.0.1:0", o)
	if err != nil {
		t.Fatalf("start the embedded engine: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.URL
}

// Client is the service's own DynamoDB client for the engine at url, as app.NewDynamoDB builds
// it for a function: its retries, timeouts and metrics middleware.
func Client(t testing.TB, url string) *dynamodb.Client {
	t.Helper()
	db, err := app.NewDynamoDB(config.Config{Region: Region, DynamoDBEndpoint: url})
	if err != nil {
		t.Fatalf("the service's DynamoDB client: %v", err)
	}
	return db
}

// RawClient is a DynamoDB client with the SDK's defaults for the engine at url, without the
// service's middleware or retry settings: make bench's baseline, and tests that set the
// attempts themselves through opts.
func RawClient(url string, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(url),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "testkit"}, nil
		}),
		// Local engines send no CRC32 of their answers.
		DisableValidateResponseChecksum: true,
	}, opts...)
}

// CreateTable creates table through db as local runs create it, from the store's schema.
func CreateTable(t testing.TB, db *dynamodb.Client, table string) {
	t.Helper()
	if _, err := db.CreateTable(context.Background(), store.CreateTableInput(table)); err != nil {
		t.Fatalf("create table %s: %v", table, err)
	}
}

// Key is the key of an item of the table: its partition and sort key.
func Key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		config.TablePartitionKey: &types.AttributeValueMemberS{Value: pk},
		config.TableSortKey:      &types.AttributeValueMemberS{Value: sk},
	}
}

// DB is the table on an engine of its own, with the service's client for it.
type DB struct {
	URL    string // the engine's
	Client *dynamodb.Client
	Table  string
}

// NewDB starts an engine for t as o says, builds the service's client for it and creates the
// kit's table.
func NewDB(t testing.TB, o EngineOptions) *DB {
	t.Helper()
	url := Engine(t, o)
	db := Client(t, url)
	CreateTable(t, db, Table)
	return &DB{URL: url, Client: db, Table: Table}
}

// Store is the repository on the table, with opts.
func (d *DB) Store(opts ...store.Option) *store.Store { return store.New(d.Client, d.Table, opts...) }
