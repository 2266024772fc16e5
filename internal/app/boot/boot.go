// Package boot is what every function's composition root builds the same way, whichever AWS
// client it then makes: the JSON logger, the execution role's credentials from the environment
// and the HTTP client of the SDK. It imports no service client, so that a root that needs one
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
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// NewLogger returns the JSON logger every part of the service writes with, writing to w.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Credentials reads the credentials Lambda sets for the execution role. Against a local
// endpoint any credentials do, so missing ones are replaced there.
//
// The roots do not use config.LoadDefaultConfig: that resolves shared files, SSO, STS and
// IMDS, none of which a Lambda container uses, and links their code into every binary.
func Credentials(local bool) (aws.CredentialsProvider, error) {
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

// HTTPClient is the SDK's HTTP client with a time limit on each attempt and on connecting, so
// that an attempt lost on the network is retried instead of waited for.
func HTTPClient(attempt, connect time.Duration) aws.HTTPClient {
	return awshttp.NewBuildableClient().
		WithTimeout(attempt).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = connect })
}

// Init logs the root's one start-up line, "init" with the configuration (which holds no
// secret) and init_ms, the time since start (the Go runtime's own start comes before it).
func Init(ctx context.Context, log *slog.Logger, start time.Time, attrs []slog.Attr) {
	log.LogAttrs(ctx, slog.LevelInfo, "init", append(attrs, slog.Float64("init_ms", float64(time.Since(start).Microseconds())/1000))...)
}
