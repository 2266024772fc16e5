package metrics

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
)

// SDKNames names the metrics InstrumentSDK records for one client.
type SDKNames struct {
	Calls     string // Count: calls made, whatever their outcome
	Latency   string // Milliseconds: one value per call, retries and backoff included
	Retries   string // Count: attempts after a call's first
	Throttles string // Count: attempts the service answered with a throttling error
}

// throttles is how the SDK's standard retryer recognises a throttling error.
var throttles = retry.IsErrorThrottles(retry.DefaultThrottles)

// InstrumentSDK returns an AWS SDK APIOptions function that records, in the document of the
// calling request's context, each call's latency and its retries and throttled attempts, under
// names and the document's default dimensions. A call made outside a
// request (no document) costs one context lookup.
//
// It adds two Finalize middlewares: one before the SDK's retry middleware, which sees the whole
// call, and one after it, which runs once per attempt.
func InstrumentSDK(names SDKNames) func(*middleware.Stack) error {
	calls, latency, retries, throttled := names.Calls, names.Latency, names.Retries, names.Throttles
	call := middleware.FinalizeMiddlewareFunc("metrics.Call", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		d := FromContext(ctx)
		if d == nil {
			return next.HandleFinalize(ctx, in)
		}
		var n attempts
		start := time.Now()
		out, md, err := next.HandleFinalize(context.WithValue(ctx, attemptsKey{}, &n), in)
		d.Add(calls, Count, 1)
		d.Put(latency, Milliseconds, float64(time.Since(start).Microseconds())/1000)
		d.Add(retries, Count, float64(max(n.made-1, 0)))
		d.Add(throttled, Count, float64(n.throttled))
		return out, md, err
	})
	attempt := middleware.FinalizeMiddlewareFunc("metrics.Attempt", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleFinalize(ctx, in)
		if n, ok := ctx.Value(attemptsKey{}).(*attempts); ok {
			n.made++
			if err != nil && throttles.IsErrorThrottle(err) == aws.TrueTernary {
				n.throttled++
			}
		}
		return out, md, err
	})
	return func(stack *middleware.Stack) error {
		if err := stack.Finalize.Insert(call, "Retry", middleware.Before); err != nil {
			return err
		}
		return stack.Finalize.Insert(attempt, "Retry", middleware.After)
	}
}

// attempts counts one call's attempts; the retry loop runs them one after another.
type attempts struct{ made, throttled int }

type attemptsKey struct{}
