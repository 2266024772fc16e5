package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/pkg/api"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// invokeAsLambda calls the handler with the context aws-lambda-go gives an invocation: the
// Lambda context and, under the string key the runtime uses, the trace header of
// Lambda-Runtime-Trace-Id. The event has no claims, so the handler answers 401 without
// touching the store.
func invokeAsLambda(t *testing.T, lambdaTrace string, headers map[string]string) (logLine, emfLine map[string]any) {
	t.Helper()
	return invokeStage(t, "", lambdaTrace, headers)
}

// invokeStage is invokeAsLambda for a function configured with the given stage.
func invokeStage(t *testing.T, stage, lambdaTrace string, headers map[string]string) (logLine, emfLine map[string]any) {
	t.Helper()
	var log, emf bytes.Buffer
	d := &api.Deps{Settings: api.Settings{Stage: stage, OrgIDClaim: "org_id"}, Log: app.NewLogger(&log, slog.LevelInfo), Metrics: metrics.NewEmitter(&emf)}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
	if lambdaTrace != "" {
		ctx = context.WithValue(ctx, "x-amzn-trace-id", lambdaTrace) //nolint:staticcheck // aws-lambda-go's key
	}
	ev := events.APIGatewayV2HTTPRequest{Headers: headers}
	ev.RequestContext.RequestID = "JKJaXmPLvHcESHA="
	ev.RequestContext.HTTP.Method = "GET"
	resp, err := api.Handle(d, api.GetRecord)(ctx, ev)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("want 401 and no error, got %d %v", resp.StatusCode, err)
	}
	if err := json.Unmarshal(log.Bytes(), &logLine); err != nil {
		t.Fatalf("want one JSON log line, got %q: %v", log.String(), err)
	}
	if err := json.Unmarshal(emf.Bytes(), &emfLine); err != nil {
		t.Fatalf("want one JSON metrics line, got %q: %v", emf.String(), err)
	}
	return logLine, emfLine
}

func TestHandle_LogsLambdasRequestAndTraceIDs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		lambdaTrace string
		header      string
		want        any // trace_id; nil when none
	}{
		{"Lambda's trace header wins", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
			"Root=1-11111111-222222222222222222222222", "1-5759e988-bd862e3fe1be46a994272793"},
		{"the event's header without Lambda's", "", "Root=1-11111111-222222222222222222222222;Sampled=0", "1-11111111-222222222222222222222222"},
		{"Root not first", "Self=1-aaaaaaaa-bbbbbbbbbbbbbbbbbbbbbbbb;Root=1-5759e988-bd862e3fe1be46a994272793", "", "1-5759e988-bd862e3fe1be46a994272793"},
		{"a header that is not a trace id", "", `Root=1-x"injected;Sampled=1`, nil},
		{"no trace at all", "", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{}
			if c.header != "" {
				h["x-amzn-trace-id"] = c.header
			}
			l, m := invokeAsLambda(t, c.lambdaTrace, h)
			if l["trace_id"] != c.want || m["trace_id"] != c.want {
				t.Errorf("want trace_id %v in both lines, got log %v, metrics %v", c.want, l["trace_id"], m["trace_id"])
			}
			if l["lambda_request_id"] != "8476a536-e9f4-11e8-9739-2dfe598c3fcd" || l["api_request_id"] != "JKJaXmPLvHcESHA=" {
				t.Errorf("want Lambda's and API Gateway's request ids, got %v", l)
			}
			if l["code"] != "unauthorized" || m["Route"] != "get-record" || m["StatusClass"] != "4xx" {
				t.Errorf("want a 401 line and 4xx metrics of get-record, got %v and %v", l, m)
			}
		})
	}
}

// Two stages in one account and region share the namespace: every dimension set of every
// metric carries the function's stage, so that one stage's alarms never read another's.
func TestHandle_MetricsCarryTheStageOnEveryDimensionSet(t *testing.T) {
	t.Parallel()
	for stage, want := range map[string]string{"prod": "prod", "dev": "dev", "": config.LocalStage} {
		_, m := invokeStage(t, stage, "", nil)
		if m["Stage"] != want {
			t.Errorf("stage %q: want Stage %q in the metrics line, got %v", stage, want, m["Stage"])
		}
		directives, _ := m["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)
		sets := 0
		for _, d := range directives {
			for _, set := range d.(map[string]any)["Dimensions"].([]any) {
				sets++
				if keys, _ := set.([]any); len(keys) == 0 || keys[0] != "Stage" {
					t.Errorf("stage %q: dimension set %v does not start with Stage", stage, set)
				}
			}
		}
		if sets < 2 {
			t.Errorf("stage %q: want the request's dimension sets, got %d in %v", stage, sets, m["_aws"])
		}
	}
}
