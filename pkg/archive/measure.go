package archive

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// count is one of an invocation's counts, by its metric's name.
type count struct {
	name string
	n    int
}

// measure writes an invocation's counts to e as one EMF line under [Stage], with the Lambda
// request id beside them; nothing when e is nil. A line that cannot be written is logged, not
// failed: the invocation did its work.
func measure(ctx context.Context, e *metrics.Emitter, log *slog.Logger, stage string, at time.Time, counts ...count) {
	if e == nil {
		return
	}
	doc := metrics.New(at)
	doc.AlwaysDimension(config.DimStage, stage)
	doc.DefaultDimensions([]string{})
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		doc.Property("lambda_request_id", lc.AwsRequestID)
	}
	for _, c := range counts {
		doc.Add(c.name, metrics.Count, float64(c.n))
	}
	if err := e.Emit(doc); err != nil {
		log.LogAttrs(context.WithoutCancel(ctx), slog.LevelWarn, "metrics not written", slog.String("error", err.Error()))
	}
}
