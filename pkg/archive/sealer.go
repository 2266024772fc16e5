package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// Sealer is the seal-digest function: each run writes the digest of every period that is due.
// Build it once per container.
type Sealer struct {
	bucket  Bucket
	signer  Signer
	periods Periods
	grace   time.Duration
	now     func() time.Time
	log     *slog.Logger
	metrics *metrics.Emitter
	stage   string
}

// SealerOptions configure a Sealer.
type SealerOptions struct {
	Bucket  Bucket
	Signer  Signer
	Periods Periods
	// Grace is how long after a period's end its change objects may still be arriving: longer
	// than one put can take (in AWS, the archive function's timeout).
	Grace time.Duration
	// Now is the clock; nil for time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Metrics receives each Run's metrics as one EMF line; nil writes none.
	Metrics *metrics.Emitter
	// Stage is the metrics' Stage dimension; "" for config.LocalStage.
	Stage string
}

// NewSealer returns a Sealer.
func NewSealer(o SealerOptions) *Sealer {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Stage == "" {
		o.Stage = config.LocalStage
	}
	return &Sealer{bucket: o.Bucket, signer: o.Signer, periods: o.Periods, grace: o.Grace, now: o.Now, log: o.Log,
		metrics: o.Metrics, stage: o.Stage}
}

// Run is the seal-digest function's handler: it seals what is due (Seal), logs what it did in
// one line and writes its metrics. Its error fails the invocation, which Lambda counts and
// retries; the next run makes up whatever this one left.
func (s *Sealer) Run(ctx context.Context) error {
	start := s.now()
	r, err := s.seal(ctx)
	attrs := []slog.Attr{
		slog.Int("digests_written", len(r.written)), slog.Int("periods_sealed", r.periods),
		slog.Int("files_sealed", r.files), slog.Int("unsealed_periods", r.unsealed),
	}
	if len(r.written) > 0 {
		attrs = append(attrs, slog.String("last", r.written[len(r.written)-1]))
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "seal failed", append(attrs, slog.String("error", err.Error()))...)
	} else {
		s.log.LogAttrs(ctx, slog.LevelInfo, "seal", attrs...)
	}
	s.emit(ctx, start, r)
	return err
}

// sealReport is what one run did.
type sealReport struct {
	written  []string // digests this run wrote
	periods  int      // periods it found due and left sealed, its own digests and a concurrent run's
	files    int      // change objects its digests name
	unsealed int      // due periods it left without a digest; 1 when it could not tell
}

func (s *Sealer) emit(ctx context.Context, at time.Time, r sealReport) {
	measure(ctx, s.metrics, s.log, s.stage, at, count{config.MetricDigestsWritten, len(r.written)},
		count{config.MetricPeriodsSealed, r.periods}, count{config.MetricFilesSealed, r.files},
		count{config.MetricUnsealedPeriods, r.unsealed})
}

// Seal writes, in order, the digest of every period not yet sealed whose end plus the grace
// lies before now, and returns the keys it wrote. A period another run sealed first is taken
// as sealed, and this run goes on from that run's digest. On an error the digests written so
// far stand, and the next run goes on from the last of them.
func (s *Sealer) Seal(ctx context.Context) ([]string, error) {
	r, err := s.seal(ctx)
	return r.written, err
}

func (s *Sealer) seal(ctx context.Context) (sealReport, error) {
	now := s.now()
	// Until the chain's end is known, whether anything is due is not.
	r := sealReport{unsealed: 1}
	last, lastBody, err := s.lastDigest(ctx)
	if err != nil {
		return r, err
	}
	var next time.Time
	if last != "" {
		d, err := readDigest(lastBody)
		if err != nil {
			return r, fmt.Errorf("read %s: %w", last, err)
		}
		if d.Period.End.Sub(d.Period.Start) != s.periods.Length() || !s.periods.Aligned(d.Period.End) {
			return r, fmt.Errorf("the chain's last digest %s seals %s to %s, which are not periods of %s: the seal interval has changed",
				last, Stamp(d.Period.Start), Stamp(d.Period.End), s.periods.Length())
		}
		next = d.Period.End
	} else {
		first, err := s.bucket.List(ctx, ChangesPrefix, "")
		if err != nil {
			return r, fmt.Errorf("list changes: %w", err)
		}
		for _, o := range first {
			if start, ok := ParseChangeKey(o.Key); ok {
				next = start
				break
			}
		}
		if next.IsZero() {
			return sealReport{}, nil // nothing archived yet: nothing to seal
		}
	}
	r.unsealed = s.due(next, now)
	for ; r.unsealed > 0; r.unsealed-- {
		key := DigestKey(next)
		body, files, err := s.digest(ctx, next, now, last, lastBody)
		if err != nil {
			return r, err
		}
		switch err := s.bucket.Create(ctx, key, body); {
		case err == nil:
			r.written = append(r.written, key)
			r.files += files
			s.log.LogAttrs(ctx, slog.LevelInfo, "sealed", slog.String("digest", key))
		case errors.Is(err, ErrExists):
			// Another run sealed this period; chain on to its digest, not to ours.
			if body, err = s.bucket.Get(ctx, key); err != nil {
				return r, fmt.Errorf("read %s, sealed by another run: %w", key, err)
			}
			s.log.LogAttrs(ctx, slog.LevelInfo, "sealed by another run", slog.String("digest", key))
		default:
			return r, fmt.Errorf("write %s: %w", key, err)
		}
		r.periods++
		last, lastBody = key, body
		next = next.Add(s.periods.Length())
	}
	return r, nil
}

// due counts the periods from the one that starts at next whose end plus the grace lies
// before now: those a run at now must seal.
func (s *Sealer) due(next, now time.Time) int {
	n := 0
	for ; !next.Add(s.periods.Length() + s.grace).After(now); next = next.Add(s.periods.Length()) {
		n++
	}
	return n
}

// lastDigest is the chain's last digest, by key order, and its bytes; "" when there is none.
// Listing every digest costs one call per thousand (a year of hourly digests is nine calls);
// a shortcut from the clock could miss a chain whose last digest is older than it guessed, and
// start a second one.
func (s *Sealer) lastDigest(ctx context.Context) (string, []byte, error) {
	objs, err := s.bucket.List(ctx, DigestsPrefix, "")
	if err != nil {
		return "", nil, fmt.Errorf("list digests: %w", err)
	}
	for i := len(objs) - 1; i >= 0; i-- {
		if _, ok := ParseDigestKey(objs[i].Key); !ok {
			continue
		}
		body, err := s.bucket.Get(ctx, objs[i].Key)
		if err != nil {
			return "", nil, fmt.Errorf("read %s: %w", objs[i].Key, err)
		}
		return objs[i].Key, body, nil
	}
	return "", nil, nil
}

// digest makes and signs the digest of the period that starts at start, and counts the change
// objects it names.
func (s *Sealer) digest(ctx context.Context, start, now time.Time, prevKey string, prevBody []byte) ([]byte, int, error) {
	objs, err := s.bucket.List(ctx, ChangesDir(start), "")
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", ChangesDir(start), err)
	}
	d := Digest{
		Version:  DigestVersion,
		Period:   Period{Start: start, End: start.Add(s.periods.Length())},
		Files:    []File{},
		SealedAt: now.UTC().Truncate(time.Millisecond),
	}
	if prevKey == "" {
		d.StartsChain = true
	} else {
		d.Previous = &Link{Key: prevKey, SHA256: Sum(prevBody)}
	}
	for _, o := range objs {
		// Hashed from the bytes read, not from the size or checksum the listing tells.
		b, err := s.bucket.Get(ctx, o.Key)
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: %w", o.Key, err)
		}
		d.Files = append(d.Files, File{Key: o.Key, SHA256: Sum(b), Size: int64(len(b))})
	}
	body, err := SignDigest(ctx, d, s.signer)
	return body, len(d.Files), err
}
