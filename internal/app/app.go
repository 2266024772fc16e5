// Package app is the service's composition root: it reads the configuration and builds, once
// per container, the DynamoDB client (retries, HTTP timeouts, the metrics middleware), the
// repository, the logger and the metrics emitter, and hands the handlers their api.Deps. The
// functions' main packages call MustLoad; the local runs (package localrun) build through New.
// It lives outside pkg/ so that no library package can import it: they declare what they need.
package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/bufdir/export-audit/internal/app/boot"
	"github.com/bufdir/export-audit/pkg/api"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
	"github.com/bufdir/export-audit/pkg/store"
)

// MustLoad reads the configuration and builds what the handlers need, once per container. A
// missing or malformed setting stops the process here with one clear log line, rather than
// failing every request later.
func MustLoad(ctx context.Context) *api.Deps { return boot.Must(Load(ctx, os.Getenv, os.Stdout)) }

// Load reads the configuration through getenv and builds the dependencies, with the log and the
// metrics written to w (os.Stdout in Lambda, which CloudWatch Logs reads). It logs one line
// (boot.Load): "init" with the configuration, or the reason it cannot start.
func Load(ctx context.Context, getenv func(string) string, w io.Writer) (*api.Deps, error) {
	return boot.Load(ctx, getenv, w, config.Load, func(cfg config.Config, log *slog.Logger, metricsTo io.Writer) (*api.Deps, error) {
		deps, _, err := New(cfg, log, metricsTo)
		return deps, err
	})
}

// NewLogger returns the JSON logger every part of the service writes with (boot.NewLogger).
func NewLogger(w io.Writer, level slog.Level) *slog.Logger { return boot.NewLogger(w, level) }

// New builds the service from cfg: the DynamoDB client, the repository on it and the handlers'
// dependencies, logging through log and writing each request's metrics to metricsTo (nil:
// none). It returns the repository too, for local runs, which create its table.
func New(cfg config.Config, log *slog.Logger, metricsTo io.Writer, opts ...store.Option) (*api.Deps, *store.Store, error) {
	db, err := NewDynamoDB(cfg)
	if err != nil {
		return nil, nil, err
	}
	opts = append([]store.Option{store.WithRetention(cfg.DeletedRetention)}, opts...)
	s := store.New(db, cfg.TableName, opts...)
	deps := &api.Deps{
		Records: s,
		Settings: api.Settings{
			Stage: cfg.Stage, OrgIDClaim: cfg.OrgIDClaim, FileURLAllowedHosts: cfg.FileURLAllowedHosts,
		},
		Log: log,
		Now: time.Now,
	}
	if metricsTo != nil {
		deps.Metrics = metrics.NewEmitter(metricsTo)
	}
	return deps, s, nil
}

// retries are the DynamoDB client's, for a function with a 10 s timeout. DynamoDB answers in
// milliseconds, so an attempt that takes 2 s is lost and is better retried. The SDK waits a
// random time of up to MaxBackoff before retrying a throttled call, so 10 attempts wait about
// 4.5 s in all when DynamoDB throttles every one (at most 9 s), and the handler's own deadline
// (the Lambda deadline less a margin) cuts a longer run short: the caller gets a 503, not a
// Lambda timeout.
//
// Why 10: each attempt meets throttling on its own, so at a throttle rate p a call fails with
// p^attempts. With 4 attempts and one call in five throttled, about one API call in 300
// answered 503 (the resilience suite, tests/resilience); with 10 it is one DynamoDB call in ten
// million. AWS's SDKs long gave DynamoDB 10 retries for the same reason.
var retries = boot.Retries{
	MaxAttempts:    10,
	MaxBackoff:     time.Second,
	AttemptTimeout: 2 * time.Second,
	ConnectTimeout: 500 * time.Millisecond,
	// DynamoDB refuses an UpdateItem on an item that an ongoing transaction holds (a status or
	// file change meeting a delete) with TransactionConflictException. The transaction is over
	// in milliseconds, but the SDK does not retry that code by default, so without this the
	// caller would get a 500.
	Codes: []string{"TransactionConflictException"},
}

// NewDynamoDB builds the DynamoDB client from cfg and the environment's credentials
// (boot.Client).
func NewDynamoDB(cfg config.Config) (*dynamodb.Client, error) {
	return boot.Client(dynamodb.NewFromConfig, cfg.Region, cfg.DynamoDBEndpoint, retries, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, metrics.InstrumentSDK(metrics.SDKNames{
			Calls: config.MetricDynamoDBCalls, Latency: config.MetricDynamoDBLatency,
			Retries: config.MetricDynamoDBRetries, Throttles: config.MetricDynamoDBThrottles,
		}))
		// Local engines send no CRC32 of their answers.
		o.DisableValidateResponseChecksum = cfg.DynamoDBEndpoint != ""
	})
}
