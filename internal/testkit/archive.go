package testkit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/bufdir/export-audit/internal/app/archiver"
	"github.com/bufdir/export-audit/internal/app/sealer"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	localkms "github.com/nsmithuk/local-kms/src"
	kmsconfig "github.com/nsmithuk/local-kms/src/config"
	"github.com/nsmithuk/local-kms/src/data"
)

// The archive's stand-ins in AWS's place: an S3-compatible server that keeps S3's conditional
// writes (gofakes3, in memory) and KMS's API with real keys (local-kms), each reached through
// the service's own clients, as the archive's functions build them with S3_ENDPOINT and
// KMS_ENDPOINT.

// S3 starts an S3-compatible server of t's own, in memory, and returns its URL; it stops when t
// ends.
func S3(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	return srv.URL
}

// S3Client is the archive functions' S3 client for the server at url.
func S3Client(t testing.TB, url string) *s3.Client {
	t.Helper()
	return client(t, archiver.NewS3, config.ArchiveConfig{Region: Region, S3Endpoint: url})
}

// client is what newClient, one of the archive functions' own, builds for cfg.
func client[C any](t testing.TB, newClient func(config.ArchiveConfig) (C, error), cfg config.ArchiveConfig) C {
	t.Helper()
	c, err := newClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// CreateBucket makes the bucket name on the S3 server at url.
func CreateBucket(t testing.TB, url, name string) {
	t.Helper()
	if _, err := S3Client(t, url).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// localKMSAccount is the account local-kms names its keys in; local-kms keeps it, and the
// region, in package variables, set once.
const localKMSAccount = "111122223333"

var configureKMS sync.Once

// KMS starts KMS's API of t's own (local-kms, its keys in t's temporary directory) and returns
// its URL; it stops when t ends. local-kms serves one request at a time.
func KMS(t testing.TB) string {
	t.Helper()
	configureKMS.Do(func() { kmsconfig.AWSRegion, kmsconfig.AWSAccountId = Region, localKMSAccount })
	db := data.NewDatabase(t.TempDir())
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		localkms.HandleRequest(w, r, db)
	}))
	t.Cleanup(func() { srv.Close(); db.Close() })
	return srv.URL
}

// KMSClient is seal-digest's KMS client for the server at url.
func KMSClient(t testing.TB, url string) *kms.Client {
	t.Helper()
	return client(t, sealer.NewKMS, config.ArchiveConfig{Region: Region, KMSEndpoint: url})
}

// CreateKey makes a key of spec and usage on the KMS server at url and returns its ARN.
func CreateKey(t testing.TB, url string, spec kmstypes.KeySpec, usage kmstypes.KeyUsageType) string {
	t.Helper()
	out, err := KMSClient(t, url).CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// SigningKey makes a key such as the stack's signing key (ECC_NIST_P256, SIGN_VERIFY) on the
// KMS server at url and returns its ARN.
func SigningKey(t testing.TB, url string) string {
	t.Helper()
	return CreateKey(t, url, kmstypes.KeySpecEccNistP256, kmstypes.KeyUsageTypeSignVerify)
}
