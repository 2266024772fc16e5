package sealer_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/app/sealer"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/kmskey"
	"github.com/bufdir/export-audit/pkg/archive/s3bucket"
)

// The function as its root builds it: configured from the environment, its S3 and KMS clients
// pointed at local stand-ins through S3_ENDPOINT and KMS_ENDPOINT, sealing what the writer
// archived three hours ago: the digests it signs open with the key's public part from KMS.
func TestLoad_SealsWithTheKMSKey(t *testing.T) {
	t.Parallel()
	s3URL, kmsURL := testkit.S3(t), testkit.KMS(t)
	testkit.CreateBucket(t, s3URL, "archive")
	keyARN := testkit.SigningKey(t, kmsURL)
	b := s3bucket.New(testkit.S3Client(t, s3URL), "archive")
	periods, _ := archive.NewPeriods(time.Hour)
	first := periods.Start(time.Now().Add(-3 * time.Hour))
	change := archive.ChangesDir(first) + "0001-test.json"
	ctx := t.Context()
	if err := b.Create(ctx, change, []byte(`{"Records":[]}`)); err != nil {
		t.Fatal(err)
	}

	var out testkit.Buffer
	s, err := sealer.Load(ctx, testkit.Env(map[string]string{
		"STAGE": "dev", "AWS_REGION": "eu-north-1", "ARCHIVE_BUCKET": "archive", "SEAL_INTERVAL": "1h", "SEAL_GRACE": "0s",
		"ARCHIVE_KMS_KEY_ID": keyARN, "S3_ENDPOINT": s3URL, "KMS_ENDPOINT": kmsURL,
	}), &out)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if init := out.Lines(t); len(init) != 1 || init[0]["msg"] != "init" || init[0]["kms_key"] != keyARN {
		t.Fatalf("want one init line naming the key, got %s", out.String())
	}
	out.Reset()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}

	pub, err := kmskey.PublicKey(ctx, testkit.KMSClient(t, kmsURL), keyARN)
	if err != nil {
		t.Fatal(err)
	}
	digests, err := b.List(ctx, archive.DigestsPrefix, "")
	if err != nil {
		t.Fatal(err)
	}
	// The period of the change and the two after it have ended; this hour has not.
	if len(digests) != 3 || digests[0].Key != archive.DigestKey(first) {
		t.Fatalf("digests %v, want three from %s", digests, archive.DigestKey(first))
	}
	body, err := b.Get(ctx, digests[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	d, signed, err := archive.OpenDigest(body, pub)
	if err != nil || signed.KeyID != keyARN || len(d.Files) != 1 || d.Files[0].Key != change {
		t.Errorf("the first digest: %+v signed by %q: %v", d, signed.KeyID, err)
	}
	var measured bool
	for _, l := range out.Lines(t) {
		measured = measured || l["DigestsWritten"] == json.Number("3") && l["FilesSealed"] == json.Number("1") &&
			l["UnsealedPeriods"] == json.Number("0") && l["Stage"] == "dev"
	}
	if !measured {
		t.Errorf("want a metrics line of three digests, one file, nothing left unsealed, in stage dev; got %s", out.String())
	}
}
