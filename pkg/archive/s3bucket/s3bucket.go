// Package s3bucket is the archive's Bucket in S3: the bucket with Object Lock that the
// archive-changes and seal-digest functions write and `make verify` reads.
//
// Create is a conditional PutObject (If-None-Match: *), which S3 refuses with 412
// PreconditionFailed when the key exists, whatever the bucket's versioning; that answer is
// archive.ErrExists. Two conditional writes of one key at the same moment may instead get 409
// ConditionalRequestConflict, which is an error: the writer's batch is retried by Lambda and
// then finds the object, the sealer's next run goes on from the digest that won. Every put
// carries the body's SHA-256 (x-amz-checksum-sha256), which S3 checks and keeps with the
// object, and which a bucket with Object Lock requires of a put (an integrity header).
package s3bucket

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/bufdir/export-audit/pkg/archive"
)

// Bucket is one S3 bucket. Build it once per container; it is safe for concurrent use.
type Bucket struct {
	client *s3.Client
	name   string
}

// New returns the bucket called name, reached through client.
func New(client *s3.Client, name string) *Bucket { return &Bucket{client: client, name: name} }

// Create puts body under key unless an object has that key: one PutObject.
func (b *Bucket) Create(ctx context.Context, key string, body []byte) error {
	sum := sha256.Sum256(body)
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String(b.name),
		Key:               aws.String(key),
		Body:              bytes.NewReader(body),
		ContentLength:     aws.Int64(int64(len(body))),
		ContentType:       aws.String("application/json"),
		IfNoneMatch:       aws.String("*"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed {
		return archive.ErrExists
	}
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", b.name, key, err)
	}
	return nil
}

// Get reads the object under key: one GetObject.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, archive.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", b.name, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", b.name, key, err)
	}
	return body, nil
}

// List returns the objects under prefix after startAfter: one ListObjectsV2 per 1,000 keys.
func (b *Bucket) List(ctx context.Context, prefix, startAfter string) ([]archive.Object, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(b.name), Prefix: aws.String(prefix)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	var out []archive.Object
	pages := s3.NewListObjectsV2Paginator(b.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", b.name, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, archive.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)})
		}
	}
	return out, nil
}
