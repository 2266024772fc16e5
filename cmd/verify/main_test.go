package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/kmskey"
	"github.com/bufdir/export-audit/pkg/archive/s3bucket"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/stream"
	"github.com/truora/minidyn/server"
)

var ctx = context.Background()

const tbl = "bufdir-export-audit-local"

func creds() aws.CredentialsProviderFunc {
	return func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "x", SecretAccessKey: "x"}, nil
	}
}

// trail is an engine behind the stream, the archive writer on its stream with a clock five
// minutes behind, and a record created, moved and given a file, sealed up to now.
type trail struct {
	engine string // host:port, as ENGINE_ADDR
	direct *dynamodb.Client
}

func newTrail(t *testing.T, bucket archive.Bucket, signer archive.Signer) *trail {
	t.Helper()
	eng := server.NewServer()
	l := stream.New(stream.Options{Region: "eu-north-1", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(l.Wrap(eng))
	behind := httptest.NewServer(eng)
	t.Cleanup(func() { l.Close(); srv.Close(); behind.Close() })
	newClient := func(url string) *dynamodb.Client {
		return dynamodb.New(dynamodb.Options{Region: "eu-north-1", BaseEndpoint: aws.String(url), Credentials: creds(), RetryMaxAttempts: 1})
	}
	db := newClient(srv.URL)
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(tbl),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	periods, _ := archive.NewPeriods(time.Minute)
	behindNow := func() time.Time { return time.Now().Add(-5 * time.Minute) }
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := archive.NewWriter(bucket, periods, behindNow, quiet)
	if _, err := l.Subscribe(stream.Subscriber{Name: "archive-changes", Table: tbl, ReportBatchItemFailures: true,
		Handler: func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			return w.Handle(ctx, ev)
		}}); err != nil {
		t.Fatal(err)
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	key := map[string]types.AttributeValue{"pk": s("ORG#o1"), "sk": s("REC#20260326#000000001")}
	item := map[string]types.AttributeValue{"pk": key["pk"], "sk": key["sk"], "record_id": s("rec-20260326-1"), "status": s("queued")}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl), Item: item}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"processing", "completed"} {
		if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(tbl), Key: key,
			UpdateExpression: aws.String("SET #s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": s(st)}}); err != nil {
			t.Fatal(err)
		}
	}
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := l.Wait(c); err != nil {
		t.Fatal(err)
	}
	sealer := archive.NewSealer(archive.SealerOptions{Bucket: bucket, Signer: signer, Periods: periods, Grace: config.DefaultLocalGrace, Log: quiet})
	if sealed, err := sealer.Seal(ctx); err != nil || len(sealed) < 4 {
		t.Fatalf("sealed %q: %v", sealed, err)
	}
	return &trail{engine: strings.TrimPrefix(srv.URL, "http://"), direct: newClient(behind.URL)}
}

// local is a make run's archive directory and key file, in a temporary directory.
func local(t *testing.T) (tr *trail, env map[string]string) {
	t.Helper()
	dir := t.TempDir()
	key, err := archive.LoadOrCreateKey(filepath.Join(dir, "archive-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tr = newTrail(t, archive.NewDir(filepath.Join(dir, "archive")), key)
	return tr, map[string]string{
		"ENGINE_ADDR": tr.engine, "ARCHIVE_DIR": filepath.Join(dir, "archive"),
		"ARCHIVE_KEY_FILE": filepath.Join(dir, "archive-key.pem"), "SEAL_INTERVAL": "60s",
	}
}

func verifyWith(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVerify_LocallyWithNoArguments(t *testing.T) {
	t.Parallel()
	_, env := local(t)
	code, out, errOut := verifyWith(env)
	if code != 0 || !strings.HasPrefix(out, "verify: no problems; ") || strings.Count(out, "\n") != 1 || errOut != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, " 3 changes (0 not yet sealed), 1 table items") {
		t.Errorf("summary: %s", out)
	}
}

func TestVerify_AProblemNamesTheRecord(t *testing.T) {
	t.Parallel()
	tr, env := local(t)
	_, err := tr.direct.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(tbl),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "ORG#o1"}, "sk": &types.AttributeValueMemberS{Value: "REC#20260326#000000001"},
		},
		UpdateExpression: aws.String("SET #s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: "queued"}}})
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := verifyWith(env, "-settle", "100ms")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 2 || !strings.HasPrefix(lines[0], "rec-20260326-1: differs from the archive's last image of it in status") ||
		!strings.HasPrefix(lines[1], "verify: 1 problem; ") {
		t.Errorf("exit %d, stdout:\n%s", code, out)
	}
}

func TestVerify_CouldNotCheck(t *testing.T) {
	t.Parallel()
	_, env := local(t)
	cases := map[string]struct {
		env  map[string]string
		args []string
		says string
	}{
		"no key file":          {map[string]string{"ARCHIVE_KEY_FILE": filepath.Join(t.TempDir(), "none.pem")}, nil, "no signing key at "},
		"no engine":            {map[string]string{"ENGINE_ADDR": "127.0.0.1:1"}, nil, "is make run running"},
		"no archive directory": {map[string]string{"ARCHIVE_DIR": filepath.Join(t.TempDir(), "none")}, nil, "archive directory"},
		"a bad interval":       {map[string]string{"SEAL_INTERVAL": "soon"}, nil, `-interval "soon" is not a duration`},
		"a bucket but no key":  {nil, []string{"-bucket", "b"}, "-kms-key"},
		"an unknown argument":  {nil, []string{"now"}, "unexpected arguments"},
	}
	for name, c := range cases {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range c.env {
			e[k] = v
		}
		code, out, errOut := verifyWith(e, c.args...)
		if code != 2 || !strings.Contains(errOut, c.says) || out != "" {
			t.Errorf("%s: exit %d, want 2 saying %q\nstdout:\n%s\nstderr:\n%s", name, code, c.says, out, errOut)
		}
	}
}

// TestVerify_InAWS checks a stage's trail as in AWS: the bucket in an S3-compatible server,
// the key in KMS's API (local-kms), the table in the engine, each reached through the SDK's
// default configuration with AWS_ENDPOINT_URL_<SERVICE>, as an auditor's shell would point it.
func TestVerify_InAWS(t *testing.T) {
	s3URL, kmsURL := testkit.S3(t), testkit.KMS(t)
	testkit.CreateBucket(t, s3URL, "stage-archive")
	keyARN := testkit.SigningKey(t, kmsURL)
	kmsc := testkit.KMSClient(t, kmsURL)
	tr := newTrail(t, s3bucket.New(testkit.S3Client(t, s3URL), "stage-archive"), kmskey.New(kmsc, keyARN))

	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_S3": s3URL, "AWS_ENDPOINT_URL_KMS": kmsURL, "AWS_ENDPOINT_URL_DYNAMODB": "http://" + tr.engine,
		"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "eu-north-1",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"ARCHIVE_DIR": filepath.Join(dir, "no-archive"), "ENGINE_ADDR": "127.0.0.1:1",
	} {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"-bucket", "stage-archive", "-kms-key", keyARN, "-table", tbl, "-interval", "60s", "-grace", "5s"},
		os.Getenv, &out, &errOut)
	if code != 0 || !strings.HasPrefix(out.String(), "verify: no problems; ") || !strings.Contains(out.String(), " 3 changes") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	// Another key's public part does not check these digests.
	other := testkit.SigningKey(t, kmsURL)
	out.Reset()
	code = run(ctx, []string{"-bucket", "stage-archive", "-kms-key", other, "-table", tbl, "-interval", "60s", "-grace", "5s"},
		os.Getenv, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "altered or not signed by the key") {
		t.Errorf("with another key: exit %d\nstdout:\n%s", code, out.String())
	}
}
