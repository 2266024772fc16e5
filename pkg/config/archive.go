package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// The archive's functions (pkg/archive: the writer and the sealer). Neither is behind a route:
// archive-changes reads the table's stream, seal-digest runs on a schedule.
const (
	ArchiveFunction = "archive-changes"
	SealFunction    = "seal-digest"
)

// The archive's settings, as the functions, make run and make verify read them from the
// environment.
const (
	EnvArchiveDir     = "ARCHIVE_DIR"        // make run, make verify: the local archive's directory
	EnvArchiveKeyFile = "ARCHIVE_KEY_FILE"   // make run, make verify: the local signing key's PEM file
	EnvArchiveBucket  = "ARCHIVE_BUCKET"     // the functions, make verify in AWS: the archive's S3 bucket
	EnvArchiveKMSKey  = "ARCHIVE_KMS_KEY_ID" // seal-digest, make verify in AWS: the signing key's id, ARN or alias
	EnvSealInterval   = "SEAL_INTERVAL"      // the length of a sealing period, a Go duration (1h in AWS)
	EnvSealGrace      = "SEAL_GRACE"         // seal-digest: how long after a period's end its objects may still arrive
	EnvS3Endpoint     = "S3_ENDPOINT"        // the functions, local runs only: another S3 endpoint (path-style)
	EnvKMSEndpoint    = "KMS_ENDPOINT"       // seal-digest, local runs only: another KMS endpoint
)

// Local defaults. The key file lies outside the archive's directory: a copy of the archive
// handed to an auditor must not carry the key that signs it.
const (
	DefaultArchiveDir   = ".local/archive"
	DefaultKeyFile      = ".local/archive-key.pem"
	DefaultSealInterval = 60 * time.Second
	// DefaultLocalGrace covers a put to a local directory, which takes milliseconds, with room
	// for a machine busy compiling.
	DefaultLocalGrace = 5 * time.Second
)

// In AWS: hourly digests, as CloudTrail's. The grace is at least the archive function's longest
// run (its timeout), which the stack checks; AWSGrace is what the stack sets and make verify
// assumes without -grace.
const (
	AWSSealInterval = time.Hour
	AWSGrace        = 15 * time.Minute
)

// ArchiveChangesEnv is what archive-changes reads (LoadArchiveChanges).
var ArchiveChangesEnv = []string{EnvStage, EnvArchiveBucket, EnvSealInterval, EnvLogLevel}

// SealDigestEnv is what seal-digest reads (LoadSealDigest).
var SealDigestEnv = []string{EnvStage, EnvArchiveBucket, EnvArchiveKMSKey, EnvSealInterval, EnvSealGrace, EnvLogLevel}

// ArchiveFunctions are the archive's entries of Functions.
var ArchiveFunctions = []Function{
	{Name: ArchiveFunction, Env: ArchiveChangesEnv},
	{Name: SealFunction, Env: SealDigestEnv},
}

// ArchiveConfig is the configuration of the archive's functions, read from the environment.
// Neither needs the table: the writer gets the changes from the stream, the sealer reads the
// bucket.
type ArchiveConfig struct {
	Stage  string
	Region string
	Bucket string
	// KMSKeyID is the signing key (seal-digest only).
	KMSKeyID string
	// SealInterval is the length of a period; the writer names its objects by it, the sealer
	// seals by it, so both must have the same.
	SealInterval time.Duration
	// SealGrace is how long after a period's end its objects may still arrive (seal-digest
	// only): at least the writer's timeout.
	SealGrace   time.Duration
	S3Endpoint  string // empty in AWS
	KMSEndpoint string // empty in AWS
	LogLevel    slog.Level
}

// LoadArchiveChanges reads archive-changes' configuration through getenv and reports every
// missing or malformed setting at once.
func LoadArchiveChanges(getenv func(string) string) (ArchiveConfig, error) {
	return loadArchive(getenv, false)
}

// LoadSealDigest reads seal-digest's configuration through getenv and reports every missing
// or malformed setting at once.
func LoadSealDigest(getenv func(string) string) (ArchiveConfig, error) {
	return loadArchive(getenv, true)
}

func loadArchive(getenv func(string) string, sealer bool) (ArchiveConfig, error) {
	c := ArchiveConfig{
		Stage:      strings.TrimSpace(getenv(EnvStage)),
		Region:     strings.TrimSpace(getenv(EnvRegion)),
		S3Endpoint: strings.TrimSpace(getenv(EnvS3Endpoint)),
	}
	errs := checkCommon(c.Stage, c.Region, getenv, &c.LogLevel)
	required := func(name, why string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required (%s)", name, why))
		}
		return v
	}
	c.Bucket = required(EnvArchiveBucket, "the archive's S3 bucket")
	// Required rather than defaulted: the writer names its objects by the interval and the
	// sealer seals by it, and the stack gives both the same value.
	if v := required(EnvSealInterval, "the length of a sealing period, the same for archive-changes and seal-digest"); v != "" {
		c.SealInterval, errs = sealInterval(v, errs)
	}
	if sealer {
		c.KMSKeyID = required(EnvArchiveKMSKey, "the key the digests are signed with")
		c.KMSEndpoint = strings.TrimSpace(getenv(EnvKMSEndpoint))
		if v := required(EnvSealGrace, "how long after a period's end its objects may still arrive"); v != "" {
			c.SealGrace, errs = sealGrace(v, errs)
		}
	}
	return c, errors.Join(errs...)
}

func sealInterval(v string, errs []error) (time.Duration, []error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second || d%time.Second != 0 {
		errs = append(errs, fmt.Errorf("%s must be a whole number of seconds, at least 1s, such as 1h, not %q", EnvSealInterval, v))
	}
	return d, errs
}

func sealGrace(v string, errs []error) (time.Duration, []error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		errs = append(errs, fmt.Errorf("%s must be a duration such as 15m, not %q", EnvSealGrace, v))
	}
	return d, errs
}

// LocalArchive is make run's archive: a directory, a key file and the sealer's timing, each
// with its local default.
type LocalArchive struct {
	Dir          string        // ARCHIVE_DIR
	KeyFile      string        // ARCHIVE_KEY_FILE
	SealInterval time.Duration // SEAL_INTERVAL
	SealGrace    time.Duration // SEAL_GRACE
}

// LoadLocalArchive reads make run's archive settings through getenv, the defaults for those
// unset, and reports every malformed one at once.
func LoadLocalArchive(getenv func(string) string) (LocalArchive, error) {
	a := LocalArchive{Dir: DefaultArchiveDir, KeyFile: DefaultKeyFile, SealInterval: DefaultSealInterval, SealGrace: DefaultLocalGrace}
	if v := strings.TrimSpace(getenv(EnvArchiveDir)); v != "" {
		a.Dir = v
	}
	if v := strings.TrimSpace(getenv(EnvArchiveKeyFile)); v != "" {
		a.KeyFile = v
	}
	var errs []error
	if v := strings.TrimSpace(getenv(EnvSealInterval)); v != "" {
		a.SealInterval, errs = sealInterval(v, errs)
	}
	if v := strings.TrimSpace(getenv(EnvSealGrace)); v != "" {
		a.SealGrace, errs = sealGrace(v, errs)
	}
	return a, errors.Join(errs...)
}

// Level is the configured log level.
func (c ArchiveConfig) Level() slog.Level { return c.LogLevel }

// Attrs describes the configuration for the start-up log line; it holds no secret.
func (c ArchiveConfig) Attrs() []slog.Attr {
	attrs := []slog.Attr{
		slog.String("stage", c.Stage),
		slog.String("region", c.Region),
		slog.String("bucket", c.Bucket),
		slog.String("seal_interval", c.SealInterval.String()),
		slog.String("s3_endpoint", c.S3Endpoint),
	}
	if c.KMSKeyID != "" {
		attrs = append(attrs,
			slog.String("kms_key", c.KMSKeyID),
			slog.String("seal_grace", c.SealGrace.String()),
			slog.String("kms_endpoint", c.KMSEndpoint))
	}
	return append(attrs, slog.String("log_level", c.LogLevel.String()))
}

// The archive's metrics, one EMF document per invocation under [Stage]; infra's alarms and
// dashboard read them by these names.
const (
	// archive-changes, per batch.
	MetricArchiveObjectsWritten = "ArchiveObjectsWritten" // Count: 1 when the batch's change object was written, else 0
	MetricChangesArchived       = "ChangesArchived"       // Count: stream records in the change object written
	MetricArchiveFailures       = "ArchiveFailures"       // Count: 1 when the batch could not be written (every record reported for retry)
	// seal-digest, per run.
	MetricDigestsWritten = "DigestsWritten" // Count: digests the run wrote
	MetricPeriodsSealed  = "PeriodsSealed"  // Count: periods the run found due and left sealed, by its digests or a concurrent run's
	MetricFilesSealed    = "FilesSealed"    // Count: change objects named by the digests the run wrote
	// MetricUnsealedPeriods is what the missed-seal alarm reads: the due periods (ended more
	// than the grace ago) the run left without a digest; 0 when the chain is current or nothing
	// is archived yet, 1 when the run failed before it could tell.
	MetricUnsealedPeriods = "UnsealedPeriods"
)

// ArchiveMapping is archive-changes' mapping: the publisher's failure handling. A batch whose
// object cannot be written is reported failed whole (the writer takes a batch whole or not at
// all) and retried; a batch that failed the function as a whole is bisected first. After the
// retries, or once its records are an hour old, its place in the stream goes to the
// dead-letter queue, which leaves 23 of the stream's 24 hours to read it again from there.
var ArchiveMapping = StreamMapping{
	// A batch is one object, a few kilobytes as a rule; Lambda keeps a batch within its 6 MB
	// invocation payload whatever the batch size.
	BatchSize:                  100,
	MaximumRetryAttempts:       10,
	MaximumRecordAge:           time.Hour,
	ReportBatchItemFailures:    true,
	BisectBatchOnFunctionError: true,
}
