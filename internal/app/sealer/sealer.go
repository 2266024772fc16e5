// Package sealer is the composition root of the seal-digest function: it reads the function's
// configuration (config.LoadSealDigest) and builds, once per container, the S3 client (package
// archiver's), the KMS client, the archive's bucket, the KMS signer and the sealer
// (archive.Sealer), its logger and its metrics. It links no DynamoDB client: the sealer reads
// the bucket, never the table.
package sealer

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/bufdir/export-audit/internal/app/archiver"
	"github.com/bufdir/export-audit/internal/app/boot"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/kmskey"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// New builds the sealer from cfg, logging through log and writing each run's metrics to
// metricsTo (nil: none).
func New(cfg config.ArchiveConfig, log *slog.Logger, metricsTo io.Writer) (*archive.Sealer, error) {
	bucket, err := archiver.NewBucket(cfg)
	if err != nil {
		return nil, err
	}
	kmsc, err := NewKMS(cfg)
	if err != nil {
		return nil, err
	}
	return NewOn(bucket, kmskey.New(kmsc, cfg.KMSKeyID), cfg, log, metricsTo)
}

// NewOn builds the sealer of bucket, signing with signer, as New builds it on cfg's S3 bucket
// and KMS key: make run's archive directory (archive.Dir) and key file (archive.LocalKey) get
// the function's own sealer this way.
func NewOn(bucket archive.Bucket, signer archive.Signer, cfg config.ArchiveConfig, log *slog.Logger, metricsTo io.Writer) (*archive.Sealer, error) {
	periods, err := archive.NewPeriods(cfg.SealInterval)
	if err != nil {
		return nil, err
	}
	o := archive.SealerOptions{
		Bucket: bucket, Signer: signer,
		Periods: periods, Grace: cfg.SealGrace, Log: log, Stage: cfg.Stage,
	}
	if metricsTo != nil {
		o.Metrics = metrics.NewEmitter(metricsTo)
	}
	return archive.NewSealer(o), nil
}

// NewKMS builds the KMS client from cfg and the environment's credentials; with KMS_ENDPOINT
// set, against that endpoint, where any credentials do. kms:Sign is one call per digest and
// KMS answers in milliseconds, so it gets boot.QuickRetries; past them the run fails and
// Lambda runs it again.
func NewKMS(cfg config.ArchiveConfig) (*kms.Client, error) {
	return boot.Client(kms.NewFromConfig, cfg.Region, cfg.KMSEndpoint, boot.QuickRetries)
}

// MustLoad reads the configuration and builds the sealer, once per container. A missing or
// malformed setting stops the process here with one clear log line.
func MustLoad(ctx context.Context) *archive.Sealer { return boot.Must(Load(ctx, os.Getenv, os.Stdout)) }

// Load reads the configuration through getenv and builds the sealer, with its log and metrics
// written to w (os.Stdout in Lambda). It logs one line (boot.Load): "init" with the
// configuration, or why it cannot start.
func Load(ctx context.Context, getenv func(string) string, w io.Writer) (*archive.Sealer, error) {
	return boot.Load(ctx, getenv, w, config.LoadSealDigest, New)
}
