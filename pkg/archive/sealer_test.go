package archive_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/archivetest"
)

// sealFixture is a directory archive with a writer and a sealer on one clock: periods of a
// minute, a grace of ten seconds.
type sealFixture struct {
	dir    *archive.Dir
	clock  *testkit.Clock
	key    *archive.LocalKey
	writer *archive.Writer
	sealer *archive.Sealer
}

func newSealFixture(t *testing.T) *sealFixture {
	t.Helper()
	f := &sealFixture{dir: archive.NewDir(t.TempDir()), clock: testkit.NewClock(t0)}
	var err error
	if f.key, err = archive.LoadOrCreateKey(t.TempDir() + "/key.pem"); err != nil {
		t.Fatal(err)
	}
	f.writer = archive.NewWriter(f.dir, mustPeriods(t, time.Minute), f.clock.Now, quiet)
	f.sealer = f.newSealer(t, f.dir)
	return f
}

// firstSealed is a fixture whose minute 0 holds a's change, sealed once its grace has passed;
// it returns b's change, not written yet.
func firstSealed(t *testing.T) (*sealFixture, []events.DynamoDBEventRecord) {
	t.Helper()
	f := newSealFixture(t)
	recs := streamRecords(t, "a", "b")
	f.write(t, minute(0), recs[:1])
	f.seal(t, minute(1).Add(10*time.Second))
	return f, recs[1:]
}

func (f *sealFixture) newSealer(t *testing.T, b archive.Bucket) *archive.Sealer {
	return archive.NewSealer(archive.SealerOptions{Bucket: b, Signer: f.key, Periods: mustPeriods(t, time.Minute),
		Grace: 10 * time.Second, Now: f.clock.Now, Log: quiet})
}

func (f *sealFixture) write(t *testing.T, at time.Time, recs []events.DynamoDBEventRecord) string {
	t.Helper()
	f.clock.Set(at)
	if resp, err := f.writer.Handle(ctx, events.DynamoDBEvent{Records: recs}); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("write: %v %v", resp, err)
	}
	return archive.BatchKey(mustPeriods(t, time.Minute).Start(at), recs)
}

func (f *sealFixture) seal(t *testing.T, at time.Time) []string {
	t.Helper()
	f.clock.Set(at)
	keys, err := f.sealer.Seal(ctx)
	if err != nil {
		t.Fatalf("seal at %s: %v", at.Format(time.TimeOnly), err)
	}
	return keys
}

// chain reads every digest, checks its signature and its link to the one before, and returns
// them in order.
func (f *sealFixture) chain(t *testing.T) []archive.Digest {
	t.Helper()
	var out []archive.Digest
	var prevKey string
	var prevBody []byte
	for _, k := range archivetest.List(t, f.dir, archive.DigestsPrefix, "") {
		body := archivetest.Get(t, f.dir, k)
		d, _, err := archive.OpenDigest(body, f.key.Public())
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if want := archive.DigestKey(d.Period.Start); k != want {
			t.Errorf("%s seals the period of %s", k, want)
		}
		switch {
		case prevKey == "" && (!d.StartsChain || d.Previous != nil):
			t.Errorf("%s is first but does not start the chain: %+v", k, d.Previous)
		case prevKey != "" && (d.Previous == nil || d.Previous.Key != prevKey || d.Previous.SHA256 != archive.Sum(prevBody)):
			t.Errorf("%s does not chain to %s: %+v", k, prevKey, d.Previous)
		case prevKey != "" && !out[len(out)-1].Period.End.Equal(d.Period.Start):
			t.Errorf("%s does not follow the period before it", k)
		}
		out = append(out, d)
		prevKey, prevBody = k, body
	}
	return out
}

func minute(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

func TestSealer_NothingArchivedNothingSealed(t *testing.T) {
	t.Parallel()
	f := newSealFixture(t)
	if got := f.seal(t, minute(10)); len(got) != 0 {
		t.Errorf("sealed %q with nothing archived", got)
	}
}

func TestSealer_EveryPeriodGetsADigestIdleOrNot(t *testing.T) {
	t.Parallel()
	f := newSealFixture(t)
	recs := streamRecords(t, "a", "b", "c")
	k1 := f.write(t, minute(0).Add(5*time.Second), recs[:1])
	k2 := f.write(t, minute(0).Add(50*time.Second), recs[1:2])
	k3 := f.write(t, minute(3).Add(time.Second), recs[2:])

	// At 4:09 the grace after minute 3 has not passed: minutes 0 to 2 are sealed.
	got := f.seal(t, minute(4).Add(9*time.Second))
	want := []string{archive.DigestKey(minute(0)), archive.DigestKey(minute(1)), archive.DigestKey(minute(2))}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sealed %q, want %q", got, want)
	}
	if got := f.seal(t, minute(4).Add(10*time.Second)); !reflect.DeepEqual(got, []string{archive.DigestKey(minute(3))}) {
		t.Fatalf("at 4:10, sealed %q, want minute 3", got)
	}
	ch := f.chain(t)
	files := make([][]string, len(ch))
	for i, d := range ch {
		for _, fl := range d.Files {
			body := archivetest.Get(t, f.dir, fl.Key)
			if fl.SHA256 != archive.Sum(body) || fl.Size != int64(len(body)) {
				t.Errorf("%s: digest says %s/%d, the file is %s/%d", fl.Key, fl.SHA256, fl.Size, archive.Sum(body), len(body))
			}
			files[i] = append(files[i], fl.Key)
		}
	}
	wantFiles := [][]string{{k1, k2}, nil, nil, {k3}}
	if k2 < k1 {
		wantFiles[0] = []string{k2, k1}
	}
	if !reflect.DeepEqual(files, wantFiles) {
		t.Errorf("files per digest:\n got %q\nwant %q", files, wantFiles)
	}
	if got := f.seal(t, minute(4).Add(30*time.Second)); len(got) != 0 {
		t.Errorf("a run with nothing due sealed %q", got)
	}
}

func TestSealer_AMissedRunIsMadeUpInOrder(t *testing.T) {
	t.Parallel()
	f, next := firstSealed(t)
	f.write(t, minute(2), next)
	// No run for an hour: the next seals all 60 periods, one digest each.
	got := f.seal(t, minute(61).Add(30*time.Second))
	if len(got) != 60 || got[0] != archive.DigestKey(minute(1)) || got[59] != archive.DigestKey(minute(60)) {
		t.Fatalf("sealed %d digests, %q to %q; want minutes 1 to 60", len(got), got[0], got[len(got)-1])
	}
	if ch := f.chain(t); len(ch) != 61 || len(ch[2].Files) != 1 {
		t.Errorf("chain of %d digests, minute 2 with %d files; want 61 and 1", len(ch), len(ch[2].Files))
	}
}

// raceBucket lets a test run something just before a Create of a digest key.
type raceBucket struct {
	archive.Bucket
	once   sync.Once
	before func()
}

func (b *raceBucket) Create(ctx context.Context, key string, body []byte) error {
	b.once.Do(b.before)
	return b.Bucket.Create(ctx, key, body)
}

func TestSealer_ConcurrentRunsDoNotFork(t *testing.T) {
	t.Parallel()
	f, next := firstSealed(t)
	f.write(t, minute(1), next)
	f.clock.Set(minute(5))

	// Run A has made its digest of minute 1 when run B seals minutes 1 to 3; A's write of
	// minute 1 then finds B's, and A goes on from B's chain.
	var bSealed []string
	other := f.newSealer(t, f.dir)
	rb := &raceBucket{Bucket: f.dir, before: func() {
		var err error
		if bSealed, err = other.Seal(ctx); err != nil {
			t.Errorf("run B: %v", err)
		}
	}}
	aSealed, err := f.newSealer(t, rb).Seal(ctx)
	if err != nil {
		t.Fatalf("run A: %v", err)
	}
	if want := []string{archive.DigestKey(minute(1)), archive.DigestKey(minute(2)), archive.DigestKey(minute(3))}; !reflect.DeepEqual(bSealed, want) || len(aSealed) != 0 {
		t.Errorf("B sealed %q, A %q; want B all of %q and A none", bSealed, aSealed, want)
	}
	if ch := f.chain(t); len(ch) != 4 {
		t.Errorf("chain of %d digests, want 4", len(ch))
	}

	// And many at once, for real.
	f.clock.Set(minute(30))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := f.newSealer(t, f.dir).Seal(ctx); err != nil {
				t.Errorf("concurrent run: %v", err)
			}
		})
	}
	wg.Wait()
	if ch := f.chain(t); len(ch) != 29 {
		t.Errorf("after eight runs at once, a chain of %d digests, want 29", len(ch))
	}
}

func TestSealer_RefusesAChangedInterval(t *testing.T) {
	t.Parallel()
	f := newSealFixture(t)
	f.write(t, minute(0), streamRecords(t, "a"))
	f.seal(t, minute(2))
	hourly := archive.NewSealer(archive.SealerOptions{Bucket: f.dir, Signer: f.key, Periods: mustPeriods(t, 2*time.Minute),
		Now: func() time.Time { return minute(20) }, Log: quiet})
	if got, err := hourly.Seal(ctx); err == nil {
		t.Errorf("a sealer of 2-minute periods went on from a chain of 1-minute ones: %q", got)
	}
}

func TestPeriods_WholeSecondsFromTheEpoch(t *testing.T) {
	t.Parallel()
	for _, bad := range []time.Duration{0, -time.Second, 500 * time.Millisecond, 1500 * time.Millisecond} {
		if _, err := archive.NewPeriods(bad); err == nil {
			t.Errorf("NewPeriods(%s) accepted", bad)
		}
	}
	p := mustPeriods(t, 7*time.Second)
	at := time.Unix(1_000_000_005, 999).UTC()
	if got := p.Start(at); got.Unix()%7 != 0 || at.Sub(got) >= 7*time.Second || got.After(at) {
		t.Errorf("Start(%v) = %v", at, got)
	}
	if got := p.Start(time.Unix(-3, 0)); got.Unix() != -7 {
		t.Errorf("before the epoch: Start(-3s) = %d, want -7", got.Unix())
	}
	if s := archive.Stamp(t0); s != "20260326T140000Z" {
		t.Errorf("stamp %s", s)
	}
}
