package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
	"github.com/truora/minidyn/server"
)

// sdkEngine is the embedded engine over HTTP, behind a door that answers the next calls with an
// error of DynamoDB's JSON protocol instead of passing them on.
type sdkEngine struct {
	db       *dynamodb.Client
	failNext atomic.Int32
	failWith atomic.Value // the error type, e.g. ThrottlingException
	seen     atomic.Int32 // requests that reached the door
}

func newSDKEngine(t *testing.T) *sdkEngine {
	t.Helper()
	e := &sdkEngine{}
	engine := server.NewServer()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.seen.Add(1)
		if e.failNext.Add(-1) >= 0 {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected"}`, e.failWith.Load())
			return
		}
		e.failNext.Store(0)
		engine.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	// The client the functions use, with the middleware app.NewDynamoDB attaches.
	db, err := app.NewDynamoDB(config.Config{Region: "eu-north-1", DynamoDBEndpoint: srv.URL})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	_, err = db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String("sdk-metrics"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	e.db = db
	e.seen.Store(0)
	return e
}

func (e *sdkEngine) fail(n int32, errorType string) {
	e.failWith.Store(errorType)
	e.failNext.Store(n)
}

func (e *sdkEngine) get(ctx context.Context) error {
	_, err := e.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String("sdk-metrics"),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}},
	})
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
		failures    int32
		errorType   string
		wantErr     bool
		wantRetries float64
		wantThrottl float64
		wantSeen    int32
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
			if got := e.seen.Load(); got != c.wantSeen {
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
