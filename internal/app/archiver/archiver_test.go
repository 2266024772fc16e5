package archiver_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/bufdir/export-audit/internal/app/archiver"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
)

// The function as its root builds it: configured from the environment, its S3 client pointed
// at an S3-compatible server through S3_ENDPOINT, its log and metrics on one writer, as
// Lambda's stdout; fed the stream batch sam local invoke sends.
func TestLoad_WritesTheStreamsBatchIntoTheBucket(t *testing.T) {
	t.Parallel()
	url := testkit.S3(t)
	testkit.CreateBucket(t, url, "archive")
	var out testkit.Buffer
	ctx := t.Context()
	w, err := archiver.Load(ctx, testkit.Env(map[string]string{
		"STAGE": "dev", "AWS_REGION": "eu-north-1", "ARCHIVE_BUCKET": "archive", "SEAL_INTERVAL": "1h",
		"S3_ENDPOINT": url,
	}), &out)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	init := out.Lines(t)
	if len(init) != 1 || init[0]["msg"] != "init" || init[0]["bucket"] != "archive" || init[0]["seal_interval"] != "1h0m0s" {
		t.Fatalf("want one init line with the bucket and the interval, got %s", out.String())
	}
	out.Reset()
	ev := testkit.StreamEvent(t, "../../../events/archive-changes.json")
	start := time.Now()
	resp, err := w.Handle(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle: %v %v", resp, err)
	}
	list, err := testkit.S3Client(t, url).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("archive")})
	if err != nil {
		t.Fatal(err)
	}
	periods, _ := archive.NewPeriods(time.Hour)
	// The clock may have passed an hour's end while the batch was written.
	want := map[string]bool{archive.BatchKey(periods.Start(start), ev.Records): true, archive.BatchKey(periods.Start(time.Now()), ev.Records): true}
	if len(list.Contents) != 1 || !want[aws.ToString(list.Contents[0].Key)] {
		t.Fatalf("objects %v, want the batch's key under this hour", list.Contents)
	}
	records := json.Number(strconv.Itoa(len(ev.Records)))
	var archived, measured bool
	for _, l := range out.Lines(t) {
		archived = archived || l["msg"] == "archived" && l["records"] == records
		measured = measured || l["ChangesArchived"] == records && l["ArchiveObjectsWritten"] == json.Number("1") && l["Stage"] == "dev"
	}
	if !archived || !measured {
		t.Errorf("want an archived line and a metrics line of %d changes in stage dev, got %s", len(ev.Records), out.String())
	}
}
