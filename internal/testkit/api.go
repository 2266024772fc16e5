package testkit

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/bufdir/export-audit/pkg/local"
)

// WithDefaults fills in what o leaves unset with the kit's: free loopback ports for the API and
// its engine, Config() when o.Config names no table, Secret as the tokens' key and a logger that
// writes nothing. The rest of o goes to localrun as it is.
func WithDefaults(o localrun.Options) localrun.Options {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.EngineAddr == "" {
		o.EngineAddr = "127.0.0.1:0"
	}
	if o.Config.TableName == "" {
		o.Config = Config()
	}
	if o.Auth.Secret == "" {
		o.Auth.Secret = Secret
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// API is the whole local API started for one test through localrun, as make run starts it,
// with an HTTP client for it and the service's DynamoDB client for its engine.
type API struct {
	*localrun.Run
	HTTP
	DB     *dynamodb.Client
	Table  string
	Faults *faults.Injector // the Options' Faults, nil when none
}

// StartAPI starts the local API for t with WithDefaults(o); it stops when t ends.
func StartAPI(t testing.TB, o localrun.Options) *API {
	t.Helper()
	o = WithDefaults(o)
	run, err := localrun.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start the local API: %v", err)
	}
	t.Cleanup(run.Close)
	// A connection the client dialled but never used keeps Shutdown waiting for 5 seconds; the
	// test's own client closes its connections first (cleanups run last in, first out).
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &API{
		Run:    run,
		HTTP:   HTTP{URL: run.APIURL, Client: &http.Client{Timeout: 30 * time.Second, Transport: tr}},
		DB:     Client(t, run.EngineURL),
		Table:  o.Config.TableName,
		Faults: o.Faults,
	}
}

// Token signs a token of org and user sub with scopes (every scope when none), valid for an
// hour, with the kit's Secret.
func Token(t testing.TB, org, sub string, scopes ...string) string {
	t.Helper()
	if len(scopes) == 0 {
		scopes = AllScopes
	}
	tok, err := local.Token(Secret, org, sub, scopes, time.Hour, time.Now())
	if err != nil {
		t.Fatalf("sign a token: %v", err)
	}
	return tok
}
