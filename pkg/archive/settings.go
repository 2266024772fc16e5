package archive

import "time"

// The archive's settings, as make run, make verify and the functions read them from the
// environment.
const (
	// EnvArchiveDir is the local archive's directory (make run, make verify).
	EnvArchiveDir = "ARCHIVE_DIR"
	// EnvKeyFile is the local signing key's PEM file (make run, make verify).
	EnvKeyFile = "ARCHIVE_KEY_FILE"
	// EnvBucket is the archive's S3 bucket (the functions, make verify in AWS).
	EnvBucket = "ARCHIVE_BUCKET"
	// EnvKMSKey is the KMS signing key's id, ARN or alias (seal-digest, make verify in AWS).
	EnvKMSKey = "ARCHIVE_KMS_KEY_ID"
	// EnvSealInterval is the length of a sealing period, a Go duration.
	EnvSealInterval = "SEAL_INTERVAL"
	// EnvSealGrace is how long after a period's end its objects may still arrive.
	EnvSealGrace = "SEAL_GRACE"
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

// In AWS: hourly digests, as CloudTrail's. The grace is the archive function's longest run
// (its timeout), which the stack sets; AWSGrace is what make verify assumes without -grace.
const (
	AWSSealInterval = time.Hour
	AWSGrace        = 15 * time.Minute
)
