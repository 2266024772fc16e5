package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// EventSource is the source of every change event the service publishes.
const EventSource = "no.bufdir.export-audit"

// EventBusName is the name of a stage's event bus: the stack creates it, make run's local bus
// has the local stage's.
func EventBusName(stage string) string { return "bufdir-export-audit-" + stage }

// SAMEventBusLogicalID is the bus's logical id in template.yaml, which sam local passes for
// `!Ref EventBus` (see SAMTableLogicalID).
const SAMEventBusLogicalID = "EventBus"

// PublisherConfig is the configuration of the publish-events function, read from the
// environment. It needs no table: the stream's records bring the items.
type PublisherConfig struct {
	Stage               string
	Region              string
	EventBusName        string // a name or an ARN
	EventBridgeEndpoint string // empty in AWS
	LogLevel            slog.Level
}

// LoadPublisher reads the publisher's configuration through getenv and reports every missing
// or malformed setting at once.
func LoadPublisher(getenv func(string) string) (PublisherConfig, error) {
	c := PublisherConfig{
		Stage:               strings.TrimSpace(getenv(EnvStage)),
		Region:              strings.TrimSpace(getenv(EnvRegion)),
		EventBusName:        strings.TrimSpace(getenv(EnvEventBusName)),
		EventBridgeEndpoint: strings.TrimSpace(getenv(EnvEventBridgeEndpoint)),
	}
	var errs []error
	if c.EventBusName == "" {
		errs = append(errs, fmt.Errorf("%s is required (the stage's event bus)", EnvEventBusName))
	} else if c.EventBusName == SAMEventBusLogicalID && getenv(EnvSAMLocal) == "true" {
		errs = append(errs, fmt.Errorf("%s is %q, the logical id that sam local passes for !Ref %s, not a bus: "+
			"run sam local with --parameter-overrides EventBusNameOverride=<bus> EventBridgeEndpoint=<endpoint> "+
			"(make run's bus is %s; see the README, Local development with AWS SAM)",
			EnvEventBusName, c.EventBusName, SAMEventBusLogicalID, EventBusName(LocalStage)))
	}
	errs = append(errs, checkCommon(c.Stage, c.Region, getenv, &c.LogLevel)...)
	return c, errors.Join(errs...)
}

// Level is the configured log level.
func (c PublisherConfig) Level() slog.Level { return c.LogLevel }

// Attrs describes the configuration for the start-up log line; it holds no secret.
func (c PublisherConfig) Attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("stage", c.Stage),
		slog.String("region", c.Region),
		slog.String("event_bus", c.EventBusName),
		slog.String("eventbridge_endpoint", c.EventBridgeEndpoint),
		slog.String("log_level", c.LogLevel.String()),
	}
}

// StreamMapping is the event source mapping through which a function reads the table's
// stream: the stack creates it with these settings, and local runs subscribe the function's
// handler to the local stream with the same (pkg/stream's Subscriber means them as Lambda does).
type StreamMapping struct {
	BatchSize            int
	MaximumRetryAttempts int
	MaximumRecordAge     time.Duration
	// ReportBatchItemFailures: the handler's partial batch response decides what is retried.
	ReportBatchItemFailures bool
	// BisectBatchOnFunctionError splits a batch whose invocation failed as a whole.
	BisectBatchOnFunctionError bool
}

// PublisherMapping is publish-events' mapping; infra/README.md gives the reasons.
var PublisherMapping = StreamMapping{
	// Lambda's default: at 10 events a PutEvents call, 100 records are at most 10 calls, well
	// within the function's timeout.
	BatchSize: 100,
	// A batch that fails is retried this often (bisected first when the function failed as a
	// whole), then its place in the stream goes to the dead-letter queue.
	MaximumRetryAttempts: 10,
	// A record older than this goes to the dead-letter queue without more retries: an hour
	// leaves 23 of the stream's 24 hours to send it again from there.
	MaximumRecordAge:           time.Hour,
	ReportBatchItemFailures:    true,
	BisectBatchOnFunctionError: true,
}
