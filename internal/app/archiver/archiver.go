// Package archiver is the composition root of the archive-changes function: it reads the
// function's configuration (config.LoadArchiveChanges) and builds, once per container, the S3
// client, the archive's bucket on it, the writer (archive.Writer), its logger and its metrics.
// It also builds the bucket for seal-digest's root (package sealer, NewBucket). It is apart from
// package app, which builds the DynamoDB client for the routes, and from package sealer, which
// builds the KMS client: the writer reads the table's stream and writes the bucket, and links
// neither.
package archiver

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/bufdir/export-audit/internal/app/boot"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/s3bucket"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// New builds the writer from cfg, logging through log and writing each batch's metrics to
// metricsTo (nil: none).
func New(cfg config.ArchiveConfig, log *slog.Logger, metricsTo io.Writer) (*archive.Writer, error) {
	bucket, err := NewBucket(cfg)
	if err != nil {
		return nil, err
	}
	return NewOn(bucket, cfg, log, metricsTo)
}

// NewOn builds the writer into bucket, as New builds it into cfg's S3 bucket: make run's
// archive directory (archive.Dir) gets the function's own writer this way.
func NewOn(bucket archive.Bucket, cfg config.ArchiveConfig, log *slog.Logger, metricsTo io.Writer) (*archive.Writer, error) {
	periods, err := archive.NewPeriods(cfg.SealInterval)
	if err != nil {
		return nil, err
	}
	w := archive.NewWriter(bucket, periods, nil, log)
	if metricsTo != nil {
		w.Measure(metrics.NewEmitter(metricsTo), cfg.Stage)
	}
	return w, nil
}

// NewBucket is the archive's bucket in AWS, on the S3 client (NewS3): what both archive
// functions keep the archive in.
func NewBucket(cfg config.ArchiveConfig) (*s3bucket.Bucket, error) {
	client, err := NewS3(cfg)
	if err != nil {
		return nil, err
	}
	return s3bucket.New(client, cfg.Bucket), nil
}

// s3Retries are the S3 client's. A change object is one batch of the stream (at most 6 MB,
// Lambda's payload limit; a few kilobytes as a rule) and a digest a few kilobytes: S3 takes
// tens of milliseconds for either, so an attempt still going after 10 s is lost and better
// retried. Five attempts ride out a burst of 503 Slow Down or an internal error; in all they
// take at most 5 × 10 s and 4 × 2 s of backoff, 58 s, within archive-changes' timeout (the
// stack's ArchiveChangesTimeout), after which Lambda retries the batch.
var s3Retries = boot.Retries{
	MaxAttempts:    5,
	MaxBackoff:     2 * time.Second,
	AttemptTimeout: 10 * time.Second,
	ConnectTimeout: time.Second,
}

// NewS3 builds the S3 client from cfg and the environment's credentials. With S3_ENDPOINT set
// it speaks path-style to that endpoint, as local S3 servers want, and any credentials do.
func NewS3(cfg config.ArchiveConfig) (*s3.Client, error) {
	return boot.Client(s3.NewFromConfig, cfg.Region, cfg.S3Endpoint, s3Retries, func(o *s3.Options) {
		o.UsePathStyle = cfg.S3Endpoint != ""
	})
}

// MustLoad reads the configuration and builds the writer, once per container. A missing or
// malformed setting stops the process here with one clear log line.
func MustLoad(ctx context.Context) *archive.Writer { return boot.Must(Load(ctx, os.Getenv, os.Stdout)) }

// Load reads the configuration through getenv and builds the writer, with its log and metrics
// written to w (os.Stdout in Lambda). It logs one line (boot.Load): "init" with the
// configuration, or why it cannot start.
func Load(ctx context.Context, getenv func(string) string, w io.Writer) (*archive.Writer, error) {
	return boot.Load(ctx, getenv, w, config.LoadArchiveChanges, New)
}
