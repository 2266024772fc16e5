package verify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/bufdir/export-audit/pkg/archive"
)

// Options say what to check and how.
type Options struct {
	Bucket archive.Bucket
	// Key is the public part of the key the digests are signed with.
	Key *ecdsa.PublicKey
	// DB reads Table: DescribeTable once, then Scan, and GetItem while differences settle.
	DB    *dynamodb.Client
	Table string
	// Periods is the seal interval, for an archive with no digest to take it from; a chain's
	// digests say their own.
	Periods archive.Periods
	// Overdue is how long after a period's end its digest must be there: the sealer's grace,
	// plus the time until its next run, plus that run's time. Zero means Grace plus two
	// periods.
	Overdue time.Duration
	// Grace is the sealer's grace, for the default of Overdue.
	Grace time.Duration
	// Settle is how long a difference between the table and the archive may take to go away
	// before it is a problem (see the package documentation); zero reports it at once.
	Settle time.Duration
	// Rules are the service's: which changes its API can make.
	Rules Rules
	// Now is the clock, for what is due; nil for time.Now.
	Now func() time.Time
	// Workers is how many objects are read at once; zero means 16.
	Workers int
}

// Problem is one thing found wrong, about one item or one file.
type Problem struct {
	// Subject is a record's record_id (through Rules.Name), an item's key, or a file's key.
	Subject string
	What    string
}

func (p Problem) String() string { return p.Subject + ": " + p.What }

// Report is what Run found.
type Report struct {
	Problems []Problem
	Digests  int // digest files read
	Files    int // change objects read
	Changes  int // distinct stream records in them
	Unsealed int // of those, the records no digest seals yet
	Items    int // items in the table
}

// Write prints one line per problem, then the summary line.
func (r *Report) Write(w io.Writer) error {
	var b bytes.Buffer
	for _, p := range r.Problems {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	verdict := "no problems"
	switch n := len(r.Problems); n {
	case 0:
	case 1:
		verdict = "1 problem"
	default:
		verdict = fmt.Sprintf("%d problems", n)
	}
	fmt.Fprintf(&b, "verify: %s; %d digests, %d archive files, %d changes (%d not yet sealed), %d table items\n",
		verdict, r.Digests, r.Files, r.Changes, r.Unsealed, r.Items)
	_, err := w.Write(b.Bytes())
	return err
}

// Run checks the archive against the table. An error means it could not check (a bucket or
// table it could not read); what it found wrong is in the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Bucket == nil || o.Key == nil || o.DB == nil || o.Table == "" {
		return nil, errors.New("verify needs a bucket, a public key, a DynamoDB client and a table")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	v := &run{o: o, now: o.Now(), rep: &Report{}, records: map[string]*record{}, items: map[string]*item{}}
	if err := v.digests(ctx); err != nil {
		return nil, err
	}
	if err := v.changes(ctx); err != nil {
		return nil, err
	}
	if err := v.table(ctx); err != nil {
		return nil, err
	}
	if err := v.settle(ctx); err != nil {
		return nil, err
	}
	v.judge()
	return v.rep, nil
}

// run is one Run under way.
type run struct {
	o   Options
	now time.Time
	rep *Report

	length   time.Duration
	chain    map[time.Time]*digest // by period start, the digests present
	lastSeal time.Time             // the end of the last digest's period; zero without one
	files    map[string]bool       // the change objects read
	records  map[string]*record    // by event ID
	items    map[string]*item      // by item key

	keyNames  []string // the table's key attributes
	tableRead map[string]Image
	diffs     []Problem

	itemProblems []Problem
}

func (v *run) problem(subject, format string, args ...any) {
	v.rep.Problems = append(v.rep.Problems, Problem{Subject: subject, What: fmt.Sprintf(format, args...)})
}

// digest is a digest file read.
type digest struct {
	key     string
	start   time.Time
	body    []byte
	d       archive.Digest
	trusted bool  // its signature verified
	err     error // why not
	files   map[string]archive.File
}

// fetched is an object read, or the reason it could not be.
type fetched struct {
	key  string
	body []byte
	gone bool // listed, then not found
}

// fetch reads objects o.Workers at a time, in the order given.
func (v *run) fetch(ctx context.Context, keys []string, each func(f fetched) error) error {
	out := make([]fetched, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(v.o.Workers, len(keys)) {
		wg.Go(func() {
			for i := range next {
				b, err := v.o.Bucket.Get(ctx, keys[i])
				out[i] = fetched{key: keys[i], body: b, gone: errors.Is(err, archive.ErrNotFound)}
				if err != nil && !out[i].gone {
					errs[i] = fmt.Errorf("read %s: %w", keys[i], err)
				}
				if each != nil && errs[i] == nil {
					errs[i] = each(out[i])
				}
			}
		})
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

func (v *run) digests(ctx context.Context) error {
	objs, err := v.o.Bucket.List(ctx, archive.DigestsPrefix, "")
	if err != nil {
		return fmt.Errorf("list digests: %w", err)
	}
	keys := make([]string, len(objs))
	index := make(map[string]int, len(objs))
	for i, o := range objs {
		keys[i], index[o.Key] = o.Key, i
	}
	ds := make([]*digest, len(keys))
	err = v.fetch(ctx, keys, func(f fetched) error {
		i := index[f.key]
		start, _ := archive.ParseDigestKey(f.key)
		d := &digest{key: f.key, start: start, body: f.body}
		if !f.gone {
			d.d, _, d.err = archive.OpenDigest(f.body, v.o.Key)
			d.trusted = d.err == nil
			if !d.trusted {
				d.d = archive.Digest{}
			}
		}
		ds[i] = d
		return nil
	})
	if err != nil {
		return err
	}
	v.chain = map[time.Time]*digest{}
	v.length = v.o.Periods.Length()
	for _, d := range ds {
		if d.trusted {
			v.length = d.d.Period.End.Sub(d.d.Period.Start)
			break
		}
	}
	if v.length <= 0 {
		return errors.New("verify needs the seal interval for an archive without digests")
	}
	var present []*digest
	for _, d := range ds {
		v.rep.Digests++
		if _, ok := archive.ParseDigestKey(d.key); !ok {
			v.problem(d.key, "not a digest's name: nothing but digests belongs under %s", archive.DigestsPrefix)
			continue
		}
		if d.body == nil {
			continue // removed while read: it shows as missing below
		}
		if !d.trusted {
			v.problem(d.key, "altered or not signed by the key: %v", d.err)
		} else {
			p := d.d.Period
			switch {
			case !p.Start.Equal(d.start):
				v.problem(d.key, "seals the period %s, not the one its name says", archive.Stamp(p.Start))
				continue
			case p.End.Sub(p.Start) != v.length || !aligned(p.Start, v.length):
				v.problem(d.key, "seals %s to %s, not a period of the chain's %s", archive.Stamp(p.Start), archive.Stamp(p.End), v.length)
				continue
			}
			d.files = make(map[string]archive.File, len(d.d.Files))
			for _, f := range d.d.Files {
				d.files[f.Key] = f
			}
		}
		v.chain[d.start] = d
		present = append(present, d)
	}
	v.links(present)
	return nil
}

func aligned(t time.Time, length time.Duration) bool {
	return t.Nanosecond() == 0 && t.Unix()%int64(length/time.Second) == 0
}

// links checks each digest's link to the one before it. Missing digests are found from the
// periods (missing); here only what the present ones say of each other.
func (v *run) links(present []*digest) {
	for i, d := range present {
		if !d.trusted {
			continue
		}
		var prev *digest
		if i > 0 {
			prev = present[i-1]
		}
		link := d.d.Previous
		switch {
		case link == nil && !d.d.StartsChain:
			v.problem(d.key, "names no previous digest and does not start the chain")
		case link == nil && prev != nil:
			v.problem(d.key, "starts a second chain after %s", prev.key)
		case link == nil:
		case d.d.StartsChain:
			v.problem(d.key, "says it starts the chain and names a previous digest")
		case prev == nil || link.Key != prev.key:
			start, ok := archive.ParseDigestKey(link.Key)
			if _, there := v.chain[start]; ok && there {
				v.problem(d.key, "chains to %s, not to the digest before it: out of order", link.Key)
			}
			// Otherwise the digest it names is missing, which missing() reports by period.
		case link.SHA256 != archive.Sum(prev.body):
			if prev.trusted {
				v.problem(prev.key, "altered: its SHA-256 is not the one %s records", d.key)
			}
		}
	}
}

// due is the start of the first period whose digest is not due yet.
func (v *run) due() time.Time {
	overdue := v.o.Overdue
	if overdue <= 0 {
		overdue = v.o.Grace + 2*v.length
	}
	// A period [s, s+L) is due once s+L+overdue <= now, so the first one not due starts
	// where the period of now-overdue starts.
	p, _ := archive.NewPeriods(v.length)
	return p.Start(v.now.Add(-overdue))
}

// missing reports the periods from first on that have no digest though one is due, or though
// a later period has one, one line for each run of them.
func (v *run) missing(first time.Time) {
	end := v.due()
	for start := range v.chain {
		if !start.Before(end) {
			end = start.Add(v.length)
		}
	}
	var from time.Time
	n := 0
	flush := func() {
		switch n {
		case 0:
		case 1:
			v.problem(archive.DigestKey(from), "missing: the period %s has no digest", archive.Stamp(from))
		default:
			last := from.Add(time.Duration(n-1) * v.length)
			v.problem(archive.DigestKey(from), "missing, with the digests of the %d periods after it up to %s", n-1, archive.DigestKey(last))
		}
		n = 0
	}
	for p := first; p.Before(end); p = p.Add(v.length) {
		if _, ok := v.chain[p]; ok {
			flush()
			continue
		}
		if n == 0 {
			from = p
		}
		n++
	}
	flush()
}
