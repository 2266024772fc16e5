package verify_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/verify"
)

func TestVerify_AnUntouchedTrailHasNoProblem(t *testing.T) {
	t.Parallel()
	f := history(t)
	rep := f.verify(t)
	testkit.NoProblems(t, "an untouched trail", rep)
	// 3 creates of 2 items, 4 moves, a file, a tombstone of 2 items, the TTL's removal, and a
	// create of 2 after the seal; 6 digests for minutes 0 to 5; the table holds 3 records and
	// their guards.
	if rep.Changes != 16 || rep.Unsealed != 2 || rep.Digests != 6 || rep.Items != 6 {
		t.Errorf("counted %d changes (%d unsealed), %d digests, %d items; want 16 (2), 6, 6:\n%s",
			rep.Changes, rep.Unsealed, rep.Digests, rep.Items, testkit.Report(rep))
	}
	if got := testkit.Report(rep); !strings.HasPrefix(got, "verify: no problems; 6 digests, ") || strings.Count(got, "\n") != 1 {
		t.Errorf("output %q, want only the summary line", got)
	}
}

func TestVerify_ABatchArchivedTwiceCountsOnce(t *testing.T) {
	t.Parallel()
	f := history(t)
	// Lambda retried a batch that had in fact been written, in a later period: a second object.
	recs := f.Layer.Records(tbl)[:3]
	if _, err := f.writer.Handle(ctx, events.DynamoDBEvent{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t); len(rep.Problems) != 0 || rep.Changes != 16 {
		t.Errorf("%d changes, problems:\n%s", rep.Changes, testkit.Report(rep))
	}
}

// sealedFile is the first change object of minute 1, which a digest seals.
func sealedFile(t *testing.T, f *fixture) string {
	t.Helper()
	objs, err := f.dir.List(ctx, archive.ChangesDir(minute(1)), "")
	if err != nil || len(objs) == 0 {
		t.Fatalf("no change object in minute 1: %v", err)
	}
	return objs[0].Key
}

func path(f *fixture, key string) string { return filepath.Join(f.dir.Root(), filepath.FromSlash(key)) }

// rewrite changes a file of the archive as its owner can.
func rewrite(t *testing.T, f *fixture, key string, change func([]byte) []byte) {
	t.Helper()
	p := path(f, key)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	nb := change(b)
	if bytes.Equal(nb, b) {
		t.Fatalf("%s: the tampering changed nothing", key)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nb, 0o644); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, f *fixture, key string) {
	t.Helper()
	if err := os.Remove(path(f, key)); err != nil {
		t.Fatal(err)
	}
}

func TestVerify_TamperMatrix(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		tamper        func(t *testing.T, f *fixture) (subject string)
		later         time.Duration // verify this much after the trail was built
		what          string
		otherSubjects bool // other lines are expected too (the consequences of the tampering)
	}{
		{"an archive file's bytes changed", func(t *testing.T, f *fixture) string {
			k := sealedFile(t, f)
			rewrite(t, f, k, func(b []byte) []byte { return bytes.Replace(b, []byte(`"processing"`), []byte(`"completed!"`), 1) })
			return k
		}, 0, "altered: its SHA-256 is not the one digests/20260326T140100Z.json records", true},
		{"an archive file removed", func(t *testing.T, f *fixture) string {
			k := sealedFile(t, f)
			remove(t, f, k)
			return k
		}, 0, "missing: digests/20260326T140100Z.json seals it", true},
		{"an archive file added to a sealed period", func(t *testing.T, f *fixture) string {
			k := archive.ChangesDir(minute(2)) + "0000-added.json"
			if err := os.MkdirAll(filepath.Dir(path(f, k)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path(f, k), []byte(`{"Records":[]}`), 0o444); err != nil {
				t.Fatal(err)
			}
			return k
		}, 0, "not in its period's digest digests/20260326T140200Z.json", false},
		{"a record archived again with other content", func(t *testing.T, f *fixture) string {
			// A copy of an unsealed object, one value changed: the same event ID, other content.
			objs, err := f.dir.List(ctx, archive.ChangesDir(minute(6)), "")
			if err != nil || len(objs) == 0 {
				t.Fatalf("no unsealed object: %v", err)
			}
			body := bytes.Replace(mustRead(t, path(f, objs[0].Key)), []byte(`"queued"`), []byte(`"failed"`), 1)
			k := archive.ChangesDir(minute(6)) + "zzzz-copy.json"
			if err := f.dir.Create(ctx, k, body); err != nil {
				t.Fatal(err)
			}
			return k
		}, 0, "which " + archive.ChangesDir(minute(6)), false},
		{"a digest in the middle removed", func(t *testing.T, f *fixture) string {
			remove(t, f, archive.DigestKey(minute(2)))
			return archive.DigestKey(minute(2))
		}, 0, "missing: the period 20260326T140200Z has no digest", false},
		{"the last digest removed", func(t *testing.T, f *fixture) string {
			remove(t, f, archive.DigestKey(minute(5)))
			return archive.DigestKey(minute(5))
		}, 2 * time.Minute, "missing: the period 20260326T140500Z has no digest", false},
		{"every digest removed", func(t *testing.T, f *fixture) string {
			for m := range 6 {
				remove(t, f, archive.DigestKey(minute(m)))
			}
			return archive.DigestKey(minute(0))
		}, 0, "missing, with the digests of the 3 periods after it up to digests/20260326T140300Z.json", false},
		{"a digest's signature changed", func(t *testing.T, f *fixture) string {
			k := archive.DigestKey(minute(3))
			rewrite(t, f, k, func(b []byte) []byte {
				i := bytes.Index(b, []byte(`"signature":"`)) + len(`"signature":"`) + 10
				c := bytes.Clone(b)
				c[i] ^= 'A' ^ 'B'
				if c[i] == b[i] || !isBase64(c[i]) {
					c[i] = 'A'
				}
				return c
			})
			return k
		}, 0, "altered or not signed by the key", false},
		{"a digest's previous-digest hash changed", func(t *testing.T, f *fixture) string {
			k := archive.DigestKey(minute(4))
			rewrite(t, f, k, func(b []byte) []byte {
				i := bytes.Index(b, []byte(`"sha256":"`)) + len(`"sha256":"`)
				c := bytes.Clone(b)
				c[i] = map[bool]byte{true: '1', false: '0'}[c[i] == '0']
				return c
			})
			return k
		}, 0, "altered or not signed by the key: signature does not verify", false},
		{"a digest replaced by one signed with another key", func(t *testing.T, f *fixture) string {
			k := archive.DigestKey(minute(1))
			other, err := archive.LoadOrCreateKey(t.TempDir() + "/other.pem")
			if err != nil {
				t.Fatal(err)
			}
			d, _, err := archive.OpenDigest(mustRead(t, path(f, k)), f.key.Public())
			if err != nil {
				t.Fatal(err)
			}
			d.Files = nil
			forged, err := archive.SignDigest(ctx, d, other)
			if err != nil {
				t.Fatal(err)
			}
			rewrite(t, f, k, func([]byte) []byte { return forged })
			return k
		}, 0, "altered or not signed by the key", true},
		{"a digest replaced by another one signed with the key itself", func(t *testing.T, f *fixture) string {
			// Whoever could use the signing key rewrote minute 1's digest without one file: the
			// next digest still holds the old digest's hash.
			k := archive.DigestKey(minute(1))
			d, _, err := archive.OpenDigest(mustRead(t, path(f, k)), f.key.Public())
			if err != nil {
				t.Fatal(err)
			}
			d.Files = d.Files[1:]
			forged, err := archive.SignDigest(ctx, d, f.key)
			if err != nil {
				t.Fatal(err)
			}
			rewrite(t, f, k, func([]byte) []byte { return forged })
			return k
		}, 0, "altered: its SHA-256 is not the one digests/20260326T140200Z.json records", true},
		{"an item changed in the table behind the archive's back", func(t *testing.T, f *fixture) string {
			f.update(t, f.direct, "rec-2", "SET export_id = :e", map[string]types.AttributeValue{":e": s("exp-other")})
			return "rec-2"
		}, 0, "differs from the archive's last image of it in export_id: changed behind the archive's back", false},
		{"an item added to the table behind the archive's back", func(t *testing.T, f *fixture) string {
			f.create(t, f.direct, "rec-9")
			return "rec-9"
		}, 0, "in the table, but the archive shows no change of it", true},
		{"an item removed from the table behind the archive's back", func(t *testing.T, f *fixture) string {
			if _, err := f.direct.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tbl), Key: recordKey("rec-1")}); err != nil {
				t.Fatal(err)
			}
			return "rec-1"
		}, 0, "not in the table, but the archive shows no removal", false},
		{"a change behind the archive's back, then one through it", func(t *testing.T, f *fixture) string {
			f.update(t, f.direct, "rec-4", "SET export_id = :e", map[string]types.AttributeValue{":e": s("exp-other")})
			f.move(t, f.db, "rec-4", "processing")
			return "rec-4"
		}, 0, "changed behind the archive's back before this change", true},
		{"an immutable field changed, archived", func(t *testing.T, f *fixture) string {
			f.update(t, f.db, "rec-1", "SET export_id = :e", map[string]types.AttributeValue{":e": s("exp-other")})
			return "rec-1"
		}, 0, `export_id changed from "exp-rec-1" to "exp-other"`, true},
		{"a status moved backwards, archived", func(t *testing.T, f *fixture) string {
			f.move(t, f.db, "rec-1", "queued")
			return "rec-1"
		}, 0, "status moved from completed to queued, which the API never does", false},
		{"a record removed outright, archived", func(t *testing.T, f *fixture) string {
			if _, err := f.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tbl), Key: recordKey("rec-2")}); err != nil {
				t.Fatal(err)
			}
			return "rec-2"
		}, 0, "removed, by someone other than the TTL", false},
		{"a guard removed, archived", func(t *testing.T, f *fixture) string {
			if _, err := f.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tbl), Key: guardKey("exp-rec-2")}); err != nil {
				t.Fatal(err)
			}
			return "rec-2"
		}, 0, "a live record without its export_id guard", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := history(t)
			subject := c.tamper(t, f)
			f.at(t, f.clock.Now().Add(c.later))
			rep := f.verify(t)
			if !has(rep, subject, c.what) {
				t.Fatalf("no problem %q about %s; got:\n%s", c.what, subject, testkit.Report(rep))
			}
			if !c.otherSubjects {
				for _, p := range rep.Problems {
					if p.Subject != subject {
						t.Errorf("a problem about another subject: %s", p)
					}
				}
			}
			t.Logf("\n%s", testkit.Report(rep))
		})
	}
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerify_WaitsForChangesInFlight(t *testing.T) {
	t.Parallel()
	f := history(t)
	// The archive function is held: the table has a change the archive does not have yet.
	f.hold.Lock()
	f.move(t, f.db, "rec-4", "processing")
	o := f.options()
	rep, err := verify.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !has(rep, "rec-4", "changed behind the archive's back") {
		t.Fatalf("without settling, the change in flight is not seen as a difference:\n%s", testkit.Report(rep))
	}
	// With time to settle, the change reaches the archive while verify waits.
	go func() {
		time.Sleep(300 * time.Millisecond)
		f.hold.Unlock()
	}()
	o.Settle = 20 * time.Second
	start := time.Now()
	if rep, err = verify.Run(ctx, o); err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("after settling:\n%s", testkit.Report(rep))
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("verify waited %s: it should stop once the difference is gone", time.Since(start))
	}
}

func TestVerify_CouldNotCheck(t *testing.T) {
	t.Parallel()
	f := history(t)
	cases := map[string]func(o *verify.Options){
		"the table is unreachable": func(o *verify.Options) { o.DB = client("http://127.0.0.1:1") },
		"the table does not exist": func(o *verify.Options) { o.Table = "nothing" },
		"the archive is missing":   func(o *verify.Options) { o.Bucket = archive.NewDir(filepath.Join(t.TempDir(), "none")) },
		"no key":                   func(o *verify.Options) { o.Key = nil },
	}
	for name, change := range cases {
		o := f.options()
		change(&o)
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		rep, err := verify.Run(c, o)
		cancel()
		if err == nil {
			t.Errorf("%s: verify checked and found %d problems; want that it could not check", name, len(rep.Problems))
		}
	}
}

func TestVerify_ARuleThatPanicsIsAProblemNotACrash(t *testing.T) {
	t.Parallel()
	f := history(t)
	o := f.options()
	o.Rules.Change = append(o.Rules.Change, func(c verify.Change) error {
		_ = c.New["status"].Number() // status is a string: Number panics
		return nil
	})
	o.Rules.State = append(o.Rules.State, func(items []verify.Item) []verify.Problem {
		_ = items[0].Image["record_id"].Boolean()
		return nil
	})
	f.Wait(t)
	rep, err := verify.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !has(rep, "rec-1", "not a change the rules know") || !has(rep, "the table", "a rule across items met an item it does not know") {
		t.Errorf("problems:\n%s", testkit.Report(rep))
	}
}
