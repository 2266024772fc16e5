package sealer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/bufdir/export-audit/internal/app/archiver"
	"github.com/bufdir/export-audit/internal/app/sealer"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/kmskey"
	"github.com/bufdir/export-audit/pkg/archive/s3bucket"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	localkms "github.com/nsmithuk/local-kms/src"
	kmsconfig "github.com/nsmithuk/local-kms/src/config"
	"github.com/nsmithuk/local-kms/src/data"
)

var ctx = context.Background()

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func lines(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var ls []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("want every line a JSON object, got %q: %v", l, err)
		}
		ls = append(ls, m)
	}
	return ls
}

func TestLoad_MissingSettingsLogOneErrorLine(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	// The writer's settings are not enough: the sealer needs the key and the grace too.
	_, err := sealer.Load(ctx, env(map[string]string{"AWS_REGION": "eu-north-1", "STAGE": "dev", "ARCHIVE_BUCKET": "b", "SEAL_INTERVAL": "1h"}), &out)
	if err == nil {
		t.Fatal("want an error without ARCHIVE_KMS_KEY_ID and SEAL_GRACE")
	}
	ls := lines(t, out.Bytes())
	if len(ls) != 1 || ls[0]["level"] != "ERROR" {
		t.Fatalf("want one ERROR line, got %s", out.Bytes())
	}
	for _, want := range []string{"ARCHIVE_KMS_KEY_ID", "SEAL_GRACE"} {
		if msg, _ := ls[0]["error"].(string); !strings.Contains(msg, want) {
			t.Errorf("the line does not name %s: %s", want, out.Bytes())
		}
	}
}

// newKMS starts local-kms, KMS's API with real keys, and returns its URL and a P-256 signing
// key's ARN.
func newKMS(t *testing.T) (string, string) {
	t.Helper()
	kmsconfig.AWSRegion, kmsconfig.AWSAccountId = "eu-north-1", "111122223333"
	db := data.NewDatabase(t.TempDir())
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		localkms.HandleRequest(w, r, db)
	}))
	t.Cleanup(func() { srv.Close(); db.Close() })
	c, err := sealer.NewKMS(config.ArchiveConfig{Region: "eu-north-1", KMSEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, aws.ToString(k.KeyMetadata.Arn)
}

// The function as its root builds it: configured from the environment, its S3 and KMS clients
// pointed at local stand-ins through S3_ENDPOINT and KMS_ENDPOINT, sealing what the writer
// archived three hours ago: the digests it signs open with the key's public part from KMS.
func TestLoad_SealsWithTheKMSKey(t *testing.T) {
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(s3srv.Close)
	kmsURL, keyARN := newKMS(t)
	cfg := config.ArchiveConfig{Region: "eu-north-1", S3Endpoint: s3srv.URL, Bucket: "archive"}
	s3c, err := archiver.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("archive")}); err != nil {
		t.Fatal(err)
	}
	periods, _ := archive.NewPeriods(time.Hour)
	first := periods.Start(time.Now().Add(-3 * time.Hour))
	change := archive.ChangesDir(first) + "0001-test.json"
	if err := s3bucket.New(s3c, "archive").Create(ctx, change, []byte(`{"Records":[]}`)); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	s, err := sealer.Load(ctx, env(map[string]string{
		"STAGE": "dev", "AWS_REGION": "eu-north-1", "ARCHIVE_BUCKET": "archive", "SEAL_INTERVAL": "1h", "SEAL_GRACE": "0s",
		"ARCHIVE_KMS_KEY_ID": keyARN, "S3_ENDPOINT": s3srv.URL, "KMS_ENDPOINT": kmsURL,
	}), &out)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if init := lines(t, out.Bytes()); len(init) != 1 || init[0]["msg"] != "init" || init[0]["kms_key"] != keyARN {
		t.Fatalf("want one init line naming the key, got %s", out.Bytes())
	}
	out.Reset()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("run: %v\n%s", err, out.Bytes())
	}

	kmsc, err := sealer.NewKMS(config.ArchiveConfig{Region: "eu-north-1", KMSEndpoint: kmsURL})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kmskey.PublicKey(ctx, kmsc, keyARN)
	if err != nil {
		t.Fatal(err)
	}
	b := s3bucket.New(s3c, "archive")
	digests, err := b.List(ctx, archive.DigestsPrefix, "")
	if err != nil {
		t.Fatal(err)
	}
	// The period of the change and the two after it have ended; this hour has not.
	if len(digests) != 3 || digests[0].Key != archive.DigestKey(first) {
		t.Fatalf("digests %v, want three from %s", digests, archive.DigestKey(first))
	}
	body, err := b.Get(ctx, digests[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	d, signed, err := archive.OpenDigest(body, pub)
	if err != nil || signed.KeyID != keyARN || len(d.Files) != 1 || d.Files[0].Key != change {
		t.Errorf("the first digest: %+v signed by %q: %v", d, signed.KeyID, err)
	}
	var measured bool
	for _, l := range lines(t, out.Bytes()) {
		measured = measured || l["DigestsWritten"] == float64(3) && l["FilesSealed"] == float64(1) && l["UnsealedPeriods"] == float64(0) && l["Stage"] == "dev"
	}
	if !measured {
		t.Errorf("want a metrics line of three digests, one file, nothing left unsealed, in stage dev; got %s", out.Bytes())
	}
}
