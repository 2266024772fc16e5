package metrics_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// sdkEngine is the embedded engine over HTTP, behind a door that answers the next calls with an
// error of DynamoDB's JSON protocol instead of passing them on, and a count of the calls that
// reach the door.
type sdkEngine struct {
	db    *testkit.DB
	door  testkit.Door
	calls testkit.Calls
}

func newSDKEngine(t *testing.T) *sdkEngine {
	t.Helper()
	e := &sdkEngine{}
	// The client the functions use, with the middleware app.NewDynamoDB attaches.
	e.db = testkit.NewDB(t, testkit.EngineOptions{Outer: func(engine http.Handler) http.Handler {
		return e.calls.Wrap(e.door.Wrap(engine))
	}})
	e.calls.Take()
	return e
}

func (e *sdkEngine) fail(n int, errorType string) {
	e.door.Fail(n, "", testkit.DynamoDBError{Type: errorType})
}

// seen is how many requests reached the door since the last look.
func (e *sdkEngine) seen() int {
	n := 0
	for _, c := range e.calls.Take() {
		n += c
	}
	return n
}

func (e *sdkEngine) get(ctx context.Context) error {
	_, err := e.db.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(e.db.Table), Key: testkit.Key("x", "x")})
	return err
}

// requestDoc is a document as a request starts it: the default dimension set [Route].
func requestDoc() (*metrics.Document, context.Context) {
	d := metrics.New(time.Now())
	d.Dimension("Route", "get-record")
	d.DefaultDimensions([]string{"Route"})
	return d, metrics.NewContext(context.Background(), d)
}

func wantValues(t *testing.T, d *metrics.Document, name string, want ...float64) {
	t.Helper()
	if got := d.Value(name); !slices.Equal(got, want) {
		t.Errorf("want %s = %v, got %v", name, want, got)
	}
}

func TestInstrumentSDK_CountsCallsRetriesAndThrottles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		calls       int
		failures    int
		errorType   string
		wantErr     bool
		wantRetries float64
		wantThrottl float64
		wantSeen    int
	}{
		{name: "one call that succeeds", calls: 1, wantSeen: 1},
		{name: "two calls", calls: 2, wantSeen: 2},
		{name: "throttled once, then answered", calls: 1, failures: 1, errorType: "ThrottlingException", wantRetries: 1, wantThrottl: 1, wantSeen: 2},
		{name: "provisioned throughput exceeded twice", calls: 1, failures: 2, errorType: "ProvisionedThroughputExceededException", wantRetries: 2, wantThrottl: 2, wantSeen: 3},
		{name: "an error that is not retried", calls: 1, failures: 1, errorType: "ValidationException", wantErr: true, wantSeen: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newSDKEngine(t)
			d, ctx := requestDoc()
			e.fail(c.failures, c.errorType)
			for range c.calls {
				if err := e.get(ctx); (err != nil) != c.wantErr {
					t.Fatalf("want error %v, got %v", c.wantErr, err)
				}
			}
			if got := e.seen(); got != c.wantSeen {
				t.Fatalf("want %d requests to reach the engine, got %d", c.wantSeen, got)
			}
			wantValues(t, d, "DynamoDBCalls", float64(c.calls))
			wantValues(t, d, "DynamoDBRetries", c.wantRetries)
			wantValues(t, d, "DynamoDBThrottles", c.wantThrottl)
			lat := d.Value("DynamoDBLatency")
			if len(lat) != c.calls {
				t.Fatalf("want one latency per call (%d), got %v", c.calls, lat)
			}
			for _, v := range lat {
				if v < 0 {
					t.Errorf("want a latency of 0 ms or more, got %v", v)
				}
			}
			root := checkEMF(t, encodeDoc(t, d))
			if got := directives(root)["DynamoDBThrottles"]; got != `BufdirExportAudit [["Route"]] Count` {
				t.Errorf("want DynamoDBThrottles under [Route], got %q", got)
			}
		})
	}
}

func TestInstrumentSDK_CallOutsideARequestRecordsNothing(t *testing.T) {
	t.Parallel()
	e := newSDKEngine(t)
	if err := e.get(context.Background()); err != nil {
		t.Fatalf("get: %v", err)
	}
	d, _ := requestDoc()
	if err := e.get(context.Background()); err != nil {
		t.Fatalf("get: %v", err)
	}
	if d.Value("DynamoDBCalls") != nil {
		t.Errorf("want a document not in the call's context untouched, got %v", d.Value("DynamoDBCalls"))
	}
}
