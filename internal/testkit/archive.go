package testkit

import (
	"context"
	"fmt"
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

// StartS3 serves an S3-compatible server, in memory, until it is closed.
func StartS3() *httptest.Server {
	return httptest.NewServer(gofakes3.New(s3mem.New()).Server())
}

// S3 starts an S3-compatible server of t's own, in memory, and returns its URL; it stops when t
// ends.
func S3(t testing.TB) string {
	t.Helper()
	srv := StartS3()
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
	if err := MakeBucket(context.Background(), url, name); err != nil {
		t.Fatal(err)
	}
}

// MakeBucket is CreateBucket for a caller without a t (make bench).
func MakeBucket(ctx context.Context, url, name string) error {
	c, err := archiver.NewS3(config.ArchiveConfig{Region: Region, S3Endpoint: url})
	if err != nil {
		return err
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// localKMSAccount is the account local-kms names its keys in; local-kms keeps it, and the
// region, in package variables, set once.
const localKMSAccount = "111122223333"

var configureKMS sync.Once

// StartKMS serves KMS's API (local-kms, its keys in dir) until stop is called; url is where.
// local-kms serves one request at a time.
func StartKMS(dir string) (url string, stop func()) {
	configureKMS.Do(func() { kmsconfig.AWSRegion, kmsconfig.AWSAccountId = Region, localKMSAccount })
	db := data.NewDatabase(dir)
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		localkms.HandleRequest(w, r, db)
	}))
	return srv.URL, func() { srv.Close(); db.Close() }
}

// KMS starts KMS's API of t's own (local-kms, its keys in t's temporary directory) and returns
// its URL; it stops when t ends.
func KMS(t testing.TB) string {
	t.Helper()
	url, stop := StartKMS(t.TempDir())
	t.Cleanup(stop)
	return url
}

// KMSClient is seal-digest's KMS client for the server at url.
func KMSClient(t testing.TB, url string) *kms.Client {
	t.Helper()
	return client(t, sealer.NewKMS, config.ArchiveConfig{Region: Region, KMSEndpoint: url})
}

// CreateKey makes a key of spec and usage on the KMS server at url and returns its ARN.
func CreateKey(t testing.TB, url string, spec kmstypes.KeySpec, usage kmstypes.KeyUsageType) string {
	t.Helper()
	arn, err := makeKey(context.Background(), url, spec, usage)
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

// SigningKey makes a key such as the stack's signing key (ECC_NIST_P256, SIGN_VERIFY) on the
// KMS server at url and returns its ARN.
func SigningKey(t testing.TB, url string) string {
	t.Helper()
	return CreateKey(t, url, kmstypes.KeySpecEccNistP256, kmstypes.KeyUsageTypeSignVerify)
}

// MakeSigningKey is SigningKey for a caller without a t (make bench).
func MakeSigningKey(ctx context.Context, url string) (string, error) {
	return makeKey(ctx, url, kmstypes.KeySpecEccNistP256, kmstypes.KeyUsageTypeSignVerify)
}

func makeKey(ctx context.Context, url string, spec kmstypes.KeySpec, usage kmstypes.KeyUsageType) (string, error) {
	c, err := sealer.NewKMS(config.ArchiveConfig{Region: Region, KMSEndpoint: url})
	if err != nil {
		return "", err
	}
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
	if err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}
