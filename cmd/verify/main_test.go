package main

import (
	"bytes"
	"context"
	"log/slog"
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
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/item"
	"github.com/bufdir/export-audit/pkg/store"
	"github.com/bufdir/export-audit/pkg/stream"
)

var ctx = context.Background()

const tbl = "bufdir-export-audit-local"

// day0 is when the trails' records are made, by the store's clock.
var day0 = time.Date(2026, 3, 26, 10, 0, 0, 0, time.UTC)

// trail is the store on an engine behind the stream, with the service's table and a clock of
// the test's own, and the archive writer on the stream with a clock lag behind now.
type trail struct {
	*testkit.StreamStore
	direct  *dynamodb.Client // behind the stream's back
	bucket  archive.Bucket
	periods archive.Periods
}

var quiet = slog.New(slog.DiscardHandler)

func newTrail(t testing.TB, bucket archive.Bucket, lag time.Duration) *trail {
	t.Helper()
	tr := &trail{StreamStore: testkit.NewStreamStore(t, stream.Options{KeepAll: true}, tbl, day0, store.WithRetention(time.Hour)), bucket: bucket}
	tr.direct = testkit.Client(t, tr.Behind)
	tr.periods, _ = archive.NewPeriods(time.Minute)
	w := archive.NewWriter(bucket, tr.periods, func() time.Time { return time.Now().Add(-lag) }, quiet)
	if _, err := tr.Layer.Subscribe(stream.Subscriber{Name: "archive-changes", Table: tbl, ReportBatchItemFailures: true,
		Handler: func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			return w.Handle(ctx, ev)
		}}); err != nil {
		t.Fatal(err)
	}
	return tr
}

// seal seals, with signer, every period the writer has written to, once it has caught up.
func (tr *trail) seal(t testing.TB, signer archive.Signer) {
	t.Helper()
	tr.Wait(t)
	sealer := archive.NewSealer(archive.SealerOptions{Bucket: tr.bucket, Signer: signer, Periods: tr.periods, Grace: config.DefaultLocalGrace, Log: quiet})
	if sealed, err := sealer.Seal(ctx); err != nil || len(sealed) < 4 {
		t.Fatalf("sealed %q: %v", sealed, err)
	}
}

func newRecord(org, export string) audit.NewRecord {
	return audit.NewRecord{
		ExportID: export, OrgID: org, TriggeredBy: "usr-0099", Status: audit.StatusQueued, Format: audit.FormatPDF,
		PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31", By: "usr-0042",
	}
}

func (tr *trail) create(t testing.TB, n audit.NewRecord) audit.RecordID {
	t.Helper()
	rec, _, err := tr.Store.Create(ctx, n)
	if err != nil {
		t.Fatalf("create %s: %v", n.ExportID, err)
	}
	id, err := audit.ParseRecordID(rec.RecordID)
	if err != nil {
		t.Fatalf("create %s answered record_id %q: %v", n.ExportID, rec.RecordID, err)
	}
	return id
}

func (tr *trail) move(t testing.TB, org string, id audit.RecordID, c audit.StatusChange) {
	t.Helper()
	if c.At.IsZero() {
		c.At = tr.Clock.Now()
	}
	if c.By == "" {
		c.By = "usr-0042"
	}
	if _, _, err := tr.Store.UpdateStatus(ctx, org, id, c); err != nil {
		t.Fatalf("move %s to %s: %v", id, c.To, err)
	}
}

// made is a trail whose archive is sealed up to now (its writer five minutes behind), with a
// record created and moved to completed.
func made(t *testing.T, bucket archive.Bucket, signer archive.Signer) *trail {
	t.Helper()
	tr := newTrail(t, bucket, 5*time.Minute)
	id := tr.create(t, newRecord("o1", "exp-1"))
	tr.move(t, "o1", id, audit.StatusChange{To: audit.StatusProcessing})
	tr.move(t, "o1", id, audit.StatusChange{To: audit.StatusCompleted})
	tr.seal(t, signer)
	return tr
}

// local is a make run's archive directory and key file, in a temporary directory.
func local(t *testing.T) (tr *trail, env map[string]string) {
	t.Helper()
	dir := t.TempDir()
	key, err := archive.LoadOrCreateKey(filepath.Join(dir, "archive-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tr = made(t, archive.NewDir(filepath.Join(dir, "archive")), key)
	return tr, map[string]string{
		"ENGINE_ADDR": strings.TrimPrefix(tr.URL, "http://"), "ARCHIVE_DIR": filepath.Join(dir, "archive"),
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
	if !strings.Contains(out, " 6 changes (0 not yet sealed), 4 table items") {
		t.Errorf("summary: %s", out)
	}
}

func TestVerify_AProblemNamesTheRecord(t *testing.T) {
	t.Parallel()
	tr, env := local(t)
	_, err := tr.direct.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(tbl),
		Key:              item.Key("ORG#o1", "REC#20260326#000000001"),
		UpdateExpression: aws.String("SET #s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: "queued"}}})
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := verifyWith(env, "-settle", "100ms")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 2 || !strings.HasPrefix(lines[0], "rec-20260326-001: differs from the archive's last image of it in status") ||
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
	tr := made(t, s3bucket.New(testkit.S3Client(t, s3URL), "stage-archive"), kmskey.New(kmsc, keyARN))

	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_S3": s3URL, "AWS_ENDPOINT_URL_KMS": kmsURL, "AWS_ENDPOINT_URL_DYNAMODB": tr.URL,
		"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "eu-north-1",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"ARCHIVE_DIR": filepath.Join(dir, "no-archive"), "ENGINE_ADDR": "127.0.0.1:1",
	} {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"-bucket", "stage-archive", "-kms-key", keyARN, "-table", tbl, "-interval", "60s", "-grace", "5s"},
		os.Getenv, &out, &errOut)
	if code != 0 || !strings.HasPrefix(out.String(), "verify: no problems; ") || !strings.Contains(out.String(), " 6 changes") {
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
