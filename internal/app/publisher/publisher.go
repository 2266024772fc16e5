// Package publisher is the composition root of the publish-events function: it reads the
// function's configuration (config.LoadPublisher) and builds, once per container, the
// EventBridge client, the publisher on the stage's bus, the logger and the metrics emitter, and
// hands back the handler (publish.Handler). It is apart from package app, which builds the
// DynamoDB client for the routes, so that the publisher links no DynamoDB client: it reads the
// table's stream, never the table. Local runs (package localrun) build the same handler with
// New, against the local bus.
package publisher

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/bufdir/export-audit/internal/app/boot"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
	"github.com/bufdir/export-audit/pkg/publish"
)

// New builds the handler from cfg, logging through log and writing each invocation's metrics
// to metricsTo (nil: none).
func New(cfg config.PublisherConfig, log *slog.Logger, metricsTo io.Writer) (*publish.Handler, error) {
	eb, err := NewEventBridge(cfg)
	if err != nil {
		return nil, err
	}
	h := &publish.Handler{Publisher: publish.New(eb, cfg.EventBusName, log), Log: log, Stage: cfg.Stage}
	if metricsTo != nil {
		h.Metrics = metrics.NewEmitter(metricsTo)
	}
	return h, nil
}

// NewEventBridge builds the EventBridge client from cfg and the environment's credentials.
// EventBridge answers PutEvents in tens of milliseconds, so it gets boot.QuickRetries; past
// them the call's records are reported, and Lambda's retry of the batch (bounded, then the
// dead-letter queue) is the longer loop.
func NewEventBridge(cfg config.PublisherConfig) (*eventbridge.Client, error) {
	return boot.Client(eventbridge.NewFromConfig, cfg.Region, cfg.EventBridgeEndpoint, boot.QuickRetries)
}

// MustLoad reads the configuration and builds the handler, once per container. A missing or
// malformed setting stops the process here with one clear log line.
func MustLoad(ctx context.Context) *publish.Handler {
	return boot.Must(Load(ctx, os.Getenv, os.Stdout))
}

// Load reads the configuration through getenv and builds the handler, with the log and the
// metrics written to w. It logs one line (boot.Load): "init" with the configuration, or
// why it cannot start.
func Load(ctx context.Context, getenv func(string) string, w io.Writer) (*publish.Handler, error) {
	return boot.Load(ctx, getenv, w, config.LoadPublisher, New)
}
