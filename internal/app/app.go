// Package app is the service's composition root: it reads the configuration and builds, once
// per container, the DynamoDB client (retries, HTTP timeouts, the metrics middleware), the
// repository, the logger and the metrics emitter, and hands the handlers their api.Deps. The
// functions' main packages call MustLoad; the local runs (package localrun) build through New.
// It lives outside pkg/ so that no library package can import it: they declare what they need.
package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/bufdir/export-audit/pkg/api"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
	"github.com/bufdir/export-audit/pkg/store"
)

// MustLoad reads the configuration and builds what the handlers need, once per container. A
// missing or malformed setting stops the process here with one clear log line, rather than
// failing every request later.
func MustLoad(ctx context.Context) *api.Deps {
	deps, err := Load(ctx, os.Getenv, os.Stdout)
	if err != nil {
		os.Exit(1)
	}
	return deps
}

// Load reads the configuration through getenv and builds the dependencies, with the log and the
// metrics written to w (os.Stdout in Lambda, which CloudWatch Logs reads). It logs one line:
// "init" with the configuration, which holds no secret, and init_ms, how long this took (the
// Go runtime's own start comes before it and is not counted); or the reason it cannot start.
func Load(ctx context.Context, getenv func(string) string, w io.Writer) (*api.Deps, error) {
	start := time.Now()
	cfg, err := config.Load(getenv)
	log := NewLogger(w, cfg.LogLevel)
	if err != nil {
		log.Error("configuration is incomplete; the function cannot start", "error", err.Error())
		return nil, err
	}
	deps, _, err := New(cfg, log, w)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return nil, err
	}
	log.LogAttrs(ctx, slog.LevelInfo, "init", append(cfg.Attrs(), slog.Float64("init_ms", float64(time.Since(start).Microseconds())/1000))...)
	return deps, nil
}

// NewLogger returns the JSON logger every part of the service writes with, writing to w.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

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

// Retry settings, for a function with a 10 s timeout. DynamoDB answers in milliseconds, so an
// attempt that takes 2 s is lost and is better retried. The SDK waits a random time of up to
// maxBackoff before retrying a throttled call, so 10 attempts wait about 4.5 s in all when
// DynamoDB throttles every one (at most 9 s), and the handler's own deadline (the Lambda
// deadline less a margin) cuts a longer run short: the caller gets a 503, not a Lambda timeout.
//
// Why 10: each attempt meets throttling on its own, so at a throttle rate p a call fails with
// p^attempts. With 4 attempts and one call in five throttled, about one API call in 300
// answered 503 (the resilience suite, tests/resilience); with 10 it is one DynamoDB call in ten
// million. AWS's SDKs long gave DynamoDB 10 retries for the same reason.
const (
	maxAttempts       = 10
	maxBackoff        = time.Second
	attemptTimeout    = 2 * time.Second
	connectionTimeout = 500 * time.Millisecond
)

// NewDynamoDB builds the DynamoDB client from cfg and the environment's credentials.
//
// It does not use config.LoadDefaultConfig: that resolves shared files, SSO, STS and IMDS,
// none of which a Lambda container uses, and links their code into every binary. Lambda
// hands the execution role's credentials to the process in the environment.
func NewDynamoDB(cfg config.Config) (*dynamodb.Client, error) {
	creds, err := envCredentials(cfg.DynamoDBEndpoint != "")
	if err != nil {
		return nil, err
	}
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(attemptTimeout).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = connectionTimeout })
	awsCfg := aws.Config{
		Region:      cfg.Region,
		Credentials: aws.NewCredentialsCache(creds),
		HTTPClient:  httpClient,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = maxBackoff
				// The client-side retry quota protects a long-lived process from retry storms;
				// a Lambda container serves one request at a time, and an exhausted quota
				// would turn throttling into an opaque error instead of a 503.
				o.RateLimiter = ratelimit.None
				// DynamoDB refuses an UpdateItem on an item that an ongoing transaction holds
				// (a status or file change meeting a delete) with TransactionConflictException.
				// The transaction is over in milliseconds, but the SDK does not retry that
				// code by default, so without this the caller would get a 500.
				o.Retryables = append(o.Retryables, retry.RetryableErrorCode{
					Codes: map[string]struct{}{"TransactionConflictException": {}},
				})
			})
		},
	}
	return dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, metrics.InstrumentSDK(metrics.SDKNames{
			Calls: config.MetricDynamoDBCalls, Latency: config.MetricDynamoDBLatency,
			Retries: config.MetricDynamoDBRetries, Throttles: config.MetricDynamoDBThrottles,
		}))
		if cfg.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.DynamoDBEndpoint)
			// Local engines send no CRC32 of their answers.
			o.DisableValidateResponseChecksum = true
		}
	}), nil
}

// envCredentials reads the credentials Lambda sets for the execution role. Against a local
// engine any credentials do, so missing ones are replaced there.
func envCredentials(local bool) (aws.CredentialsProvider, error) {
	c := aws.Credentials{
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
		Source:          "environment",
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		if !local {
			return nil, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
		}
		c = aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "local"}
	}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil }), nil
}
