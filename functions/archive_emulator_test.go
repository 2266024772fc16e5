package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/kmskey"
	"github.com/bufdir/export-audit/pkg/archive/s3bucket"
	"github.com/bufdir/export-audit/pkg/config"
)

// invokeRaw posts an event to the emulator's invocation endpoint and returns the function's
// answer as it is.
func (e *emulator) invokeRaw(t *testing.T, event []byte) []byte {
	t.Helper()
	resp, err := http.Post("http://"+e.addr+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke answered %d %s\nemulator log:\n%s", resp.StatusCode, b, e.logs())
	}
	return b
}

// The archive's shipped binaries under the emulator, against an S3-compatible server and KMS's
// API (local-kms) through S3_ENDPOINT and KMS_ENDPOINT: archive-changes writes the stream batch
// of events/ as a change object, seal-digest, invoked with the schedule's event, seals it with
// the KMS key, and the digest opens with the key's public part.
func TestShippedArchiveBinariesUnderEmulator(t *testing.T) {
	dir := t.TempDir()
	rie := build(t, dir, "aws-lambda-rie", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie", false)
	ctx := context.Background()
	s3URL, kmsURL := testkit.S3(t), testkit.KMS(t)
	testkit.CreateBucket(t, s3URL, "archive")
	keyARN := testkit.SigningKey(t, kmsURL)

	// Periods of a second, no grace: the batch written now is due a second later.
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		config.EnvRegion + "=eu-north-1",
		config.EnvStage + "=" + config.LocalStage,
		config.EnvArchiveBucket + "=archive",
		config.EnvSealInterval + "=1s",
		config.EnvSealGrace + "=0s",
		config.EnvArchiveKMSKey + "=" + keyARN,
		config.EnvS3Endpoint + "=" + s3URL,
		config.EnvKMSEndpoint + "=" + kmsURL,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30",
	}
	emulators := map[string]*emulator{}
	for _, fn := range []string{config.ArchiveFunction, config.SealFunction} {
		bin := build(t, filepath.Join(dir, fn), "bootstrap", "github.com/bufdir/export-audit/functions/"+fn, true)
		emulators[fn] = start(t, rie, bin, env)
	}

	batch, err := os.ReadFile(filepath.Join("..", "events", config.ArchiveFunction+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		BatchItemFailures []any `json:"batchItemFailures"`
	}
	if out := emulators[config.ArchiveFunction].invokeRaw(t, batch); json.Unmarshal(out, &resp) != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("archive-changes answered %s, want no item failures\n%s", out, emulators[config.ArchiveFunction].logs())
	}
	bucket := s3bucket.New(testkit.S3Client(t, s3URL), "archive")
	changes, err := bucket.List(ctx, archive.ChangesPrefix, "")
	if err != nil || len(changes) != 1 {
		t.Fatalf("change objects %v (%v), want the batch's one", changes, err)
	}
	period, ok := archive.ParseChangeKey(changes[0].Key)
	if !ok {
		t.Fatalf("%s is not a change object's key", changes[0].Key)
	}
	// The clock decides what is due, not a guess at how long the write took.
	time.Sleep(time.Until(period.Add(1100 * time.Millisecond)))

	schedule, err := os.ReadFile(filepath.Join("..", "events", config.SealFunction+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if out := emulators[config.SealFunction].invokeRaw(t, schedule); strings.TrimSpace(string(out)) != "null" {
		t.Fatalf("seal-digest answered %s, want null (no error)\n%s", out, emulators[config.SealFunction].logs())
	}
	pub, err := kmskey.PublicKey(ctx, testkit.KMSClient(t, kmsURL), keyARN)
	if err != nil {
		t.Fatal(err)
	}
	first, err := bucket.Get(ctx, archive.DigestKey(period))
	if err != nil {
		t.Fatalf("the digest of the batch's period: %v\n%s", err, emulators[config.SealFunction].logs())
	}
	d, signed, err := archive.OpenDigest(first, pub)
	if err != nil || !d.StartsChain || len(d.Files) != 1 || d.Files[0].Key != changes[0].Key || signed.KeyID != keyARN {
		t.Errorf("digest %+v signed by %q: %v; want the chain's first, naming the batch, signed with the KMS key", d, signed.KeyID, err)
	}
	for name, e := range emulators {
		if !strings.Contains(e.logs(), "Init Duration") {
			t.Errorf("%s: the emulator reported no init, so the binary never ran:\n%s", name, e.logs())
		}
	}
}
