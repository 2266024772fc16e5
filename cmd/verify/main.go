// Command verify checks the audit trail (make verify): the archive's digests, chain and files,
// each archived change, and the table against the archive. It changes nothing. It prints one
// line per problem and a summary line, and exits 0 when it found no problem, 1 when it found
// any, and 2 when it could not check.
//
// With no arguments it checks the running `make run`: the engine at ENGINE_ADDR
// (127.0.0.1:8000), the table TABLE_NAME (bufdir-export-audit-local), the archive in
// ARCHIVE_DIR (.local/archive) and the key file ARCHIVE_KEY_FILE (.local/archive-key.pem). With
// -bucket it checks a deployed stage: the bucket, the KMS key's public part and the table, with
// the AWS SDK's default credential chain and read-only calls.
package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/kmskey"
	"github.com/bufdir/export-audit/pkg/archive/s3bucket"
	"github.com/bufdir/export-audit/pkg/archive/verify"
	"github.com/bufdir/export-audit/pkg/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const (
	exitOK       = 0
	exitProblems = 1
	exitUnable   = 2
)

// settings are what the command was told, by flag or environment.
type settings struct {
	table, region                    string
	engine                           string // local: the engine's address
	dir, keyFile                     string // local
	bucket, kmsKey                   string // AWS
	interval, grace, settle, overdue time.Duration
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	s, err := parse(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return exitUnable
	}
	o, err := s.options(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "verify: could not check: %v\n", err)
		return exitUnable
	}
	rep, err := verify.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "verify: could not check: %v\n", err)
		if s.bucket == "" {
			fmt.Fprintf(stderr, "verify: is make run running, with this ENGINE_ADDR, TABLE_NAME and ARCHIVE_DIR?\n")
		}
		return exitUnable
	}
	if err := rep.Write(stdout); err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return exitUnable
	}
	if len(rep.Problems) > 0 {
		return exitProblems
	}
	return exitOK
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (settings, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	fs.StringVar(&s.bucket, "bucket", getenv(config.EnvArchiveBucket), "the archive's S3 bucket; unset: the local archive (env "+config.EnvArchiveBucket+")")
	fs.StringVar(&s.kmsKey, "kms-key", getenv(config.EnvArchiveKMSKey), "with -bucket: the KMS signing key's id, ARN or alias (env "+config.EnvArchiveKMSKey+")")
	fs.StringVar(&s.region, "region", env("AWS_REGION", "eu-north-1"), "with -bucket: the region (env AWS_REGION)")
	fs.StringVar(&s.table, "table", env("TABLE_NAME", "bufdir-export-audit-local"), "the DynamoDB table (env TABLE_NAME)")
	fs.StringVar(&s.engine, "engine", env("ENGINE_ADDR", "127.0.0.1:8000"), "local: the engine's address, as make run's (env ENGINE_ADDR)")
	fs.StringVar(&s.dir, "archive-dir", env(config.EnvArchiveDir, config.DefaultArchiveDir), "local: the archive's directory (env "+config.EnvArchiveDir+")")
	fs.StringVar(&s.keyFile, "key-file", env(config.EnvArchiveKeyFile, config.DefaultKeyFile), "local: the signing key file (env "+config.EnvArchiveKeyFile+")")
	interval := fs.String("interval", getenv(config.EnvSealInterval), "the seal interval, for an archive without digests (env "+config.EnvSealInterval+"; default 60s, with -bucket 1h)")
	grace := fs.String("grace", getenv(config.EnvSealGrace), "the sealer's grace (env "+config.EnvSealGrace+"; default 5s, with -bucket 15m)")
	fs.DurationVar(&s.settle, "settle", 30*time.Second, "how long a difference between table and archive may take to go away")
	fs.DurationVar(&s.overdue, "overdue", 0, "how long after a period's end its digest must be there (default: grace plus two intervals)")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	s.interval, s.grace = config.DefaultSealInterval, config.DefaultLocalGrace
	if s.bucket != "" {
		s.interval, s.grace = config.AWSSealInterval, config.AWSGrace
		if s.kmsKey == "" {
			return s, errors.New("with -bucket, -kms-key (or " + config.EnvArchiveKMSKey + ") names the key the digests are signed with")
		}
	}
	for _, d := range []struct {
		name, v string
		to      *time.Duration
	}{{"interval", *interval, &s.interval}, {"grace", *grace, &s.grace}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v < 0 {
			return s, fmt.Errorf("-%s %q is not a duration such as 60s or 1h", d.name, d.v)
		}
		*d.to = v
	}
	return s, nil
}

// options builds the clients: the local engine and directory, or the SDK's for AWS.
func (s settings) options(ctx context.Context) (verify.Options, error) {
	periods, err := archive.NewPeriods(s.interval)
	if err != nil {
		return verify.Options{}, err
	}
	o := verify.Options{Table: s.table, Periods: periods, Grace: s.grace, Settle: s.settle, Overdue: s.overdue, Rules: serviceRules()}
	if s.bucket == "" {
		k, err := archive.ReadKey(s.keyFile)
		if errors.Is(err, fs.ErrNotExist) {
			return o, fmt.Errorf("no signing key at %s: make run makes it at its first start", s.keyFile)
		}
		if err != nil {
			return o, err
		}
		o.Key, o.Bucket = k.Public(), archive.NewDir(s.dir)
		endpoint := s.engine
		if !strings.Contains(endpoint, "://") {
			endpoint = "http://" + endpoint
		}
		// The local engine checks no signature; the SDK still wants credentials to sign with.
		o.DB = dynamodb.New(dynamodb.Options{
			Region: "eu-north-1", BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 2,
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "local"}, nil
			}),
		})
		return o, nil
	}
	// An operator's tool, not a Lambda: the default chain (environment, profiles, SSO) is
	// what an auditor's shell has.
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(s.region))
	if err != nil {
		return o, fmt.Errorf("AWS configuration: %w", err)
	}
	o.DB = dynamodb.NewFromConfig(cfg)
	o.Bucket = s3bucket.New(s3.NewFromConfig(cfg), s.bucket)
	var pub *ecdsa.PublicKey
	if pub, err = kmskey.PublicKey(ctx, kms.NewFromConfig(cfg), s.kmsKey); err != nil {
		return o, err
	}
	o.Key = pub
	return o, nil
}
