package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/bufdir/export-audit/internal/app/archiver"
	"github.com/bufdir/export-audit/internal/app/sealer"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/kmskey"
	"github.com/bufdir/export-audit/pkg/archive/s3bucket"
	"github.com/bufdir/export-audit/pkg/config"
)

// The archive's buckets on the S3 stand-in, one per function, so that neither's objects change
// the other's work: seal-digest's period holds exactly the one change object put there for it.
const (
	changesBucket = "bench-archive"
	sealBucket    = "bench-sealed"
)

// archiveRig is what the archive's two functions run against in the cold starts: the S3
// stand-in (gofakes3) and KMS's (local-kms), started beside the engine as the functions'
// S3_ENDPOINT and KMS_ENDPOINT, a signing key, and a bucket for each function.
type archiveRig struct {
	s3URL, kmsURL string
	stopS3        func()
	stopKMS       func()
	keyARN        string
	periods       archive.Periods
	s3            *s3.Client
	changes       *s3bucket.Bucket // archive-changes'
	sealed        *s3bucket.Bucket // seal-digest's
	signer        *kmskey.Signer
	batch         events.DynamoDBEvent // events/archive-changes.json
	written       int                  // the change objects archive-changes has written
	due           time.Time            // the period seal-digest's next invoke must seal
}

// startArchiveRig starts the stand-ins in a directory of work's and makes the key and the buckets.
func startArchiveRig(ctx context.Context, work string) (*archiveRig, error) {
	batch, err := os.ReadFile(filepath.Join("events", config.ArchiveFunction+".json"))
	if err != nil {
		return nil, err
	}
	a := &archiveRig{}
	if err := json.Unmarshal(batch, &a.batch); err != nil || len(a.batch.Records) == 0 {
		return nil, fmt.Errorf("events/%s.json is not a stream batch: %v", config.ArchiveFunction, err)
	}
	a.periods, _ = archive.NewPeriods(config.AWSSealInterval)
	srv := testkit.StartS3()
	a.s3URL, a.stopS3 = srv.URL, srv.Close
	dir := filepath.Join(work, "local-kms")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		a.close()
		return nil, err
	}
	a.kmsURL, a.stopKMS = testkit.StartKMS(dir)
	if a.keyARN, err = testkit.MakeSigningKey(ctx, a.kmsURL); err != nil {
		a.close()
		return nil, err
	}
	cfg := config.ArchiveConfig{Region: testkit.Region, S3Endpoint: a.s3URL, KMSEndpoint: a.kmsURL}
	if a.s3, err = archiver.NewS3(cfg); err != nil {
		a.close()
		return nil, err
	}
	kmsc, err := sealer.NewKMS(cfg)
	if err != nil {
		a.close()
		return nil, err
	}
	a.signer = kmskey.New(kmsc, a.keyARN)
	for _, b := range []string{changesBucket, sealBucket} {
		if err := testkit.MakeBucket(ctx, a.s3URL, b); err != nil {
			a.close()
			return nil, err
		}
	}
	a.changes, a.sealed = s3bucket.New(a.s3, changesBucket), s3bucket.New(a.s3, sealBucket)
	return a, nil
}

func (a *archiveRig) close() {
	if a.stopS3 != nil {
		a.stopS3()
	}
	if a.stopKMS != nil {
		a.stopKMS()
	}
}

// env is an archive function's environment, as the stack sets it (with no grace: the bench
// makes a period due by its clock, not by waiting), with the stand-ins as its endpoints and
// bucket as its ARCHIVE_BUCKET: changesBucket for archive-changes, sealBucket for seal-digest.
func (a *archiveRig) env(bucket string) []string {
	return []string{
		config.EnvArchiveBucket + "=" + bucket,
		config.EnvArchiveKMSKey + "=" + a.keyARN,
		config.EnvSealInterval + "=" + config.AWSSealInterval.String(),
		config.EnvSealGrace + "=0s",
		config.EnvS3Endpoint + "=" + a.s3URL,
		config.EnvKMSEndpoint + "=" + a.kmsURL,
	}
}

// archiveInvocations are archive-changes' two invokes of a start: the batch of events/, its
// event IDs made the i-th's own so that each invoke writes a change object of its own (the
// same batch again would be a redelivery, which writes nothing).
func (a *archiveRig) archiveInvocations(ctx context.Context, i ...int) ([]invocation, error) {
	var out []invocation
	for _, n := range i {
		ev := a.batch
		ev.Records = append([]events.DynamoDBEventRecord(nil), a.batch.Records...)
		for k := range ev.Records {
			ev.Records[k].EventID += "-" + strconv.Itoa(n)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, invocation{event: b, check: a.archived(ctx)})
	}
	return out, nil
}

// archived checks that archive-changes took the whole batch and wrote one change object more.
func (a *archiveRig) archived(ctx context.Context) func([]byte) (string, error) {
	return func(out []byte) (string, error) {
		if _, err := batchDone(out); err != nil {
			return "", err
		}
		objs, err := a.changes.List(ctx, archive.ChangesPrefix, "")
		if err != nil {
			return "", err
		}
		if len(objs) != a.written+1 {
			return "", fmt.Errorf("the bucket holds %d change objects after the invoke, want %d", len(objs), a.written+1)
		}
		a.written++
		return "", nil
	}
}

// sealInvocations are seal-digest's two invokes of a start: the schedule's event, each on a
// bucket made ready to seal one period (unseal), as an hourly run finds it: the chain sealed
// up to the hour before last, and that hour's change object not yet sealed.
func (a *archiveRig) sealInvocations(ctx context.Context) ([]invocation, error) {
	schedule, err := os.ReadFile(filepath.Join("events", config.SealFunction+".json"))
	if err != nil {
		return nil, err
	}
	inv := invocation{event: schedule, prepare: a.unseal, check: a.sealedDue(ctx)}
	return []invocation{inv, inv}, nil
}

// unseal makes the period before now's due and unsealed, its change object in place, on a
// chain sealed up to it: it removes the digests seal-digest wrote, from that period on, and
// seals what lies before it in-process with the clock at its start. An hour that turns during
// the run moves the period on, and the in-process sealer catches up.
func (a *archiveRig) unseal(ctx context.Context) error {
	a.due = a.periods.Start(time.Now()).Add(-config.AWSSealInterval)
	before := a.due.Add(-config.AWSSealInterval)
	written, err := a.sealed.List(ctx, archive.DigestsPrefix, archive.DigestKey(before))
	if err != nil {
		return err
	}
	for _, o := range written {
		if _, err := a.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(sealBucket), Key: aws.String(o.Key)}); err != nil {
			return fmt.Errorf("remove %s: %w", o.Key, err)
		}
	}
	// The hour before gets a change object too, so that the chain has a start before the due one.
	for _, start := range []time.Time{before, a.due} {
		body, err := json.Marshal(a.batch)
		if err != nil {
			return err
		}
		if err := a.sealed.Create(ctx, archive.BatchKey(start, a.batch.Records), body); err != nil && !errors.Is(err, archive.ErrExists) {
			return err
		}
	}
	s := archive.NewSealer(archive.SealerOptions{
		Bucket: a.sealed, Signer: a.signer, Periods: a.periods,
		Now: func() time.Time { return a.due }, Log: slog.New(slog.DiscardHandler),
	})
	_, err = s.Seal(ctx)
	return err
}

// sealedDue checks that seal-digest answered without an error and sealed the due period.
func (a *archiveRig) sealedDue(ctx context.Context) func([]byte) (string, error) {
	return func(out []byte) (string, error) {
		if !bytes.Equal(bytes.TrimSpace(out), []byte("null")) {
			return "", fmt.Errorf("answered %s, want null (no error)", out)
		}
		if _, err := a.sealed.Get(ctx, archive.DigestKey(a.due)); err != nil {
			return "", fmt.Errorf("no digest of %s: %w", archive.Stamp(a.due), err)
		}
		return "", nil
	}
}
