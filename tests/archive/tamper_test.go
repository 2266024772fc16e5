package archive

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/config"
)

// tamper is one case of the matrix: what is done to the run once its history is archived and
// sealed, and what make verify must say of it.
type tamper struct {
	name string
	// sealGrace is the run's sealer's grace; zero is the matrix's grace.
	sealGrace time.Duration
	// digests is how many digests the case waits for before it tampers, all the change files
	// sealed; 0 tampers at once, with the changes not yet sealed, which make verify checks
	// against the table all the same.
	digests int
	// do tampers with the run and returns what a problem line must name: a record_id or an
	// archive file's key; "" when make verify must find nothing.
	do func(t *testing.T, r *run, recs records) string
}

// TestVerify_TamperMatrix runs make verify's binary against a local run after each tampering
// the contract names: exit 0 with no problem line when nothing was tampered with (the TTL's
// removal of a tombstone included), else exit 1 and a problem line that names the record or
// the file.
//
// The five cases that write straight to the engine are archived like any other write (the
// engine's port is behind the table's stream), so the archive and the table agree: only the
// service's rules for point 3 (cmd/verify/rules.go: the status machine, the fields that never
// change, the items a create writes together) tell such a write from one the API makes.
func TestVerify_TamperMatrix(t *testing.T) {
	t.Parallel()
	for _, c := range []tamper{
		{name: "nothing tampered", digests: 1, do: func(*testing.T, *run, records) string { return "" }},
		{name: "a tombstone removed by the TTL", digests: 1, do: func(t *testing.T, r *run, _ records) string {
			// DELETED_RETENTION_DAYS is a year: two years on, both tombstones are due.
			n, err := r.Stream.Expire(context.Background(), r.Table, config.TableTTLAttribute, time.Now().AddDate(2, 0, 0))
			if err != nil || n != 2 {
				t.Fatalf("the TTL removed %d items (%v), want the 2 tombstones", n, err)
			}
			r.settle(t)
			r.sealed(t, 1)
			return ""
		}},

		{name: "an immutable field changed in the engine", do: func(t *testing.T, r *run, recs records) string {
			r.update(t, recs.completed, "SET #f = :v", map[string]string{"#f": "format"},
				map[string]types.AttributeValue{":v": str("xlsx")})
			return recs.completed
		}},
		{name: "an earlier history entry changed in the engine", do: func(t *testing.T, r *run, recs records) string {
			r.update(t, recs.completed, "SET history[0].#by = :v", map[string]string{"#by": "by"},
				map[string]types.AttributeValue{":v": str("usr-0666")})
			return recs.completed
		}},
		{name: "a status moved backwards in the engine", do: func(t *testing.T, r *run, recs records) string {
			now := str(time.Now().UTC().Format(time.RFC3339))
			entry := &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"status": str("processing"), "at": now, "by": str(user)}}
			r.update(t, recs.completed, "SET #s = :s, updated_at = :at, history = list_append(history, :e)", map[string]string{"#s": "status"},
				map[string]types.AttributeValue{":s": str("processing"), ":at": now, ":e": &types.AttributeValueMemberL{Value: []types.AttributeValue{entry}}})
			return recs.completed
		}},
		{name: "an item removed in the engine", do: func(t *testing.T, r *run, recs records) string {
			_, err := r.DB.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(r.Table), Key: r.recordKey(t, recs.running)})
			if err != nil {
				t.Fatal(err)
			}
			r.settle(t)
			return recs.running
		}},
		{name: "an item added in the engine", do: func(t *testing.T, r *run, recs records) string {
			// A copy of a live record under a record_id the API never handed out.
			out, err := r.DB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(r.Table), Key: r.recordKey(t, recs.running), ConsistentRead: aws.Bool(true)})
			if err != nil || out.Item == nil {
				t.Fatalf("read %s: %v", recs.running, err)
			}
			const forged = "rec-20991231-001"
			out.Item["sk"], out.Item["record_id"], out.Item["export_id"] = str("REC#20991231#000000001"), str(forged), str("exp-forged")
			if _, err := r.DB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(r.Table), Item: out.Item}); err != nil {
				t.Fatal(err)
			}
			r.settle(t)
			return forged
		}},

		{name: "an archive file's bytes changed", digests: 1, do: func(t *testing.T, r *run, recs records) string {
			key := r.changeFile(t, `"status":{"S":"completed"}`)
			r.rewrite(t, key, func(b []byte) []byte {
				return bytes.ReplaceAll(b, []byte(`"status":{"S":"completed"}`), []byte(`"status":{"S":"failed"}`))
			})
			return key
		}},
		{name: "an archive file removed", digests: 1, do: func(t *testing.T, r *run, recs records) string {
			key := r.changeFile(t, `"status":{"S":"completed"}`)
			r.remove(t, key)
			return key
		}},
		{name: "an archive file not yet sealed removed", sealGrace: time.Hour, do: func(t *testing.T, r *run, recs records) string {
			// Nothing is sealed within the hour's grace: the table shows the last delete, which
			// the remaining files do not.
			if ds := r.list(t, archive.DigestsPrefix); len(ds) != 0 {
				t.Fatalf("sealed already, within the hour's grace: %v", ds)
			}
			changes := r.list(t, archive.ChangesPrefix)
			r.remove(t, changes[len(changes)-1])
			return recs.deleted
		}},
		{name: "a digest removed", digests: 3, do: func(t *testing.T, r *run, _ records) string {
			key := r.list(t, archive.DigestsPrefix)[1] // one that later digests chain past
			r.remove(t, key)
			return key
		}},
		{name: "a digest's signature changed", digests: 1, do: func(t *testing.T, r *run, _ records) string {
			key := r.list(t, archive.DigestsPrefix)[0]
			r.rewrite(t, key, func(b []byte) []byte {
				var s archive.Signed
				if err := json.Unmarshal(b, &s); err != nil {
					t.Fatalf("read %s: %v", key, err)
				}
				s.Signature[len(s.Signature)/2] ^= 0x01
				out, err := json.Marshal(s)
				if err != nil {
					t.Fatal(err)
				}
				return out
			})
			return key
		}},
		{name: "a digest's previous-digest hash changed", digests: 2, do: func(t *testing.T, r *run, _ records) string {
			key := r.list(t, archive.DigestsPrefix)[1]
			r.rewrite(t, key, func(b []byte) []byte {
				var s archive.Signed
				var d archive.Digest
				if err := json.Unmarshal(b, &s); err != nil || json.Unmarshal(s.Body, &d) != nil || d.Previous == nil {
					t.Fatalf("%s is not a digest with a previous one: %s", key, b)
				}
				other := strings.Repeat("0", len(d.Previous.SHA256))
				return bytes.Replace(b, []byte(d.Previous.SHA256), []byte(other), 1)
			})
			return key
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := start(t, cmp.Or(c.sealGrace, grace))
			recs := r.history(t)
			if c.digests > 0 {
				r.sealed(t, c.digests)
			}
			want := c.do(t, r, recs)
			v := r.verify(t)
			switch {
			case want == "" && (v.code != 0 || len(v.problems()) > 0):
				t.Errorf("want exit 0 and no problem line, got %s", v)
			case want != "" && (v.code != 1 || !v.names(want)):
				t.Errorf("want exit 1 and a problem line naming %s, got %s", want, v)
			}
			if !strings.HasPrefix(lastLine(v.stdout), "verify: ") {
				t.Errorf("want a summary line last, got %s", v)
			}
		})
	}
}

// update runs an UpdateItem on a record's item straight in the engine, as anyone with the
// table's write permission could, and waits until the archive has it. It counts the record's
// version on, as the API does for each change, so that only the change itself gives it away.
func (r *run) update(t *testing.T, id, expr string, names map[string]string, values map[string]types.AttributeValue) {
	t.Helper()
	names["#version"], values[":one"] = "version", &types.AttributeValueMemberN{Value: "1"}
	_, err := r.DB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(r.Table), Key: r.recordKey(t, id), UpdateExpression: aws.String(expr + " ADD #version :one"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if err != nil {
		t.Fatalf("update %s: %v", id, err)
	}
	r.settle(t)
}

// changeFile is the key of the first change file that holds s.
func (r *run) changeFile(t *testing.T, s string) string {
	t.Helper()
	for _, key := range r.list(t, archive.ChangesPrefix) {
		b, err := archive.NewDir(r.archive.Dir).Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return key
		}
	}
	t.Fatalf("no change file holds %s", s)
	return ""
}

func str(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}
