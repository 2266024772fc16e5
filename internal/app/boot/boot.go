// Package boot is what every function's composition root does the same way, whichever AWS
// client it then makes: the start (Load: the configuration, the JSON logger, one "init" line),
// and the service client on the execution role's credentials from the environment and the
// SDK's HTTP client (Client). It imports no service client, so that a root that needs one
// service (the publisher: EventBridge) links no other (DynamoDB).
package boot

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
)

// NewLogger returns the JSON logger every part of the service writes with, writing to w.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// credentials reads the credentials Lambda sets for the execution role. Against a local
// endpoint any credentials do, so missing ones are replaced there.
//
// The roots do not use config.LoadDefaultConfig: that resolves shared files, SSO, STS and
// IMDS, none of which a Lambda container uses, and links their code into every binary.
func credentials(local bool) (aws.CredentialsProvider, error) {
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
	return aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })), nil
}

// Retries are a client's attempts: how many, the longest wait between two, and how long one
// attempt and its connection may take before it is given up and retried.
type Retries struct {
	MaxAttempts    int
	MaxBackoff     time.Duration
	AttemptTimeout time.Duration
	ConnectTimeout time.Duration
	// Codes are error codes to retry besides the SDK's own.
	Codes []string
}

// QuickRetries are those of a service that answers in milliseconds (EventBridge, KMS): an
// attempt that takes 2 s is lost and better retried, and four attempts ride out a burst of
// throttling or an internal error within about a second.
var QuickRetries = Retries{
	MaxAttempts:    4,
	MaxBackoff:     time.Second,
	AttemptTimeout: 2 * time.Second,
	ConnectTimeout: 500 * time.Millisecond,
}

// awsConfig is the SDK configuration of a client in region with the environment's credentials
// (any, against a local endpoint) and r's retries.
func awsConfig(region string, local bool, r Retries) (aws.Config, error) {
	creds, err := credentials(local)
	if err != nil {
		return aws.Config{}, err
	}
	return aws.Config{
		Region:      region,
		Credentials: creds,
		HTTPClient: awshttp.NewBuildableClient().
			WithTimeout(r.AttemptTimeout).
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = r.ConnectTimeout }),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = r.MaxAttempts
				o.MaxBackoff = r.MaxBackoff
				// The client-side retry quota protects a long-lived process from retry storms;
				// a Lambda container serves one invocation at a time, and an exhausted quota
				// would turn throttling into an error without the retries that ride it out.
				o.RateLimiter = ratelimit.None
				if len(r.Codes) > 0 {
					codes := map[string]struct{}{}
					for _, c := range r.Codes {
						codes[c] = struct{}{}
					}
					o.Retryables = append(o.Retryables, retry.RetryableErrorCode{Codes: codes})
				}
			})
		},
	}, nil
}

// Client builds a service client with newClient (the service's NewFromConfig) on awsConfig,
// pointed at endpoint when one is set (a local run's stand-in, where any credentials do); opts
// are the service's own options.
func Client[C, O any](newClient func(aws.Config, ...func(*O)) C, region, endpoint string, r Retries, opts ...func(*O)) (C, error) {
	cfg, err := awsConfig(region, endpoint != "", r)
	if err != nil {
		var none C
		return none, err
	}
	if endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
	}
	return newClient(cfg, opts...), nil
}

// Settings is what Load needs of a root's configuration.
type Settings interface {
	// Level is the configured LOG_LEVEL.
	Level() slog.Level
	// Attrs describes the configuration for the start-up line; it holds no secret.
	Attrs() []slog.Attr
}

// Load is every function's start: it reads the configuration through getenv with read and
// builds the function with build, its log and metrics written to w (os.Stdout in Lambda, which
// CloudWatch Logs reads). It logs one line: "init" with the configuration and init_ms, how long
// this took (the Go runtime's own start comes before it and is not counted); or the reason it
// cannot start.
func Load[C Settings, T any](ctx context.Context, getenv func(string) string, w io.Writer,
	read func(getenv func(string) string) (C, error), build func(C, *slog.Logger, io.Writer) (T, error)) (T, error) {
	start := time.Now()
	var none T
	cfg, err := read(getenv)
	log := NewLogger(w, cfg.Level())
	if err != nil {
		log.Error("configuration is incomplete; the function cannot start", "error", err.Error())
		return none, err
	}
	t, err := build(cfg, log, w)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return none, err
	}
	log.LogAttrs(ctx, slog.LevelInfo, "init", append(cfg.Attrs(), slog.Float64("init_ms", float64(time.Since(start).Microseconds())/1000))...)
	return t, nil
}

// Must stops the process when a root's Load could not start the function: a missing or
// malformed setting stops it at init with the one line Load logged, rather than failing every
// request later.
func Must[T any](t T, err error) T {
	if err != nil {
		os.Exit(1)
	}
	return t
}
