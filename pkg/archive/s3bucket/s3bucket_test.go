package s3bucket_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/archivetest"
	"github.com/bufdir/export-audit/pkg/archive/s3bucket"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

var ctx = context.Background()

// server is gofakes3, an S3-compatible server that keeps S3's conditional writes, behind a
// recorder of the PUT requests' checksum headers.
type server struct {
	client *s3.Client
	mu     sync.Mutex
	sums   []string // x-amz-checksum-sha256 of each PUT of an object
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{}
	fake := gofakes3.New(s3mem.New()).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Get("x-id") == "PutObject" {
			s.mu.Lock()
			s.sums = append(s.sums, r.Header.Get("X-Amz-Checksum-Sha256"))
			s.mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.client = s3.New(s3.Options{
		Region: "eu-north-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "x", SecretAccessKey: "x"}, nil
		}),
	})
	return s
}

var buckets sync.Map

func (s *server) bucket(t *testing.T) *s3bucket.Bucket {
	t.Helper()
	n, _ := buckets.LoadOrStore(t.Name(), fmt.Sprintf("archive-%d", len(t.Name())))
	name := fmt.Sprintf("%s-%x", n, sha256.Sum256([]byte(t.Name())))[:40]
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return s3bucket.New(s.client, name)
}

func TestBucket_IsABucket(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	archivetest.Bucket(t, func(t *testing.T) archive.Bucket { return s.bucket(t) })
}

func TestBucket_PutsCarryTheirSHA256(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	b := s.bucket(t)
	body := []byte(`{"Records":[]}`)
	if err := b.Create(ctx, "changes/p/a.json", body); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	want := base64.StdEncoding.EncodeToString(sum[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sums) != 1 || s.sums[0] != want {
		t.Errorf("x-amz-checksum-sha256 of the puts: %q, want [%q]", s.sums, want)
	}
}

func TestBucket_AMissingBucketIsAnError(t *testing.T) {
	t.Parallel()
	b := s3bucket.New(newServer(t).client, "no-such-bucket")
	if _, err := b.List(ctx, "changes/", ""); err == nil {
		t.Error("list of a bucket that does not exist: no error")
	}
	if _, err := b.Get(ctx, "changes/a.json"); err == nil || err == archive.ErrNotFound {
		t.Errorf("get from a bucket that does not exist: %v, want an error other than ErrNotFound", err)
	}
}
