package kmskey_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/kmskey"
)

var ctx = context.Background()

// newKMS starts local-kms, an implementation of KMS's API with real keys (the test kit's), and
// returns the sealer's client of it.
func newKMS(t *testing.T) *kms.Client {
	t.Helper()
	return testkit.KMSClient(t, testkit.KMS(t))
}

func createKey(t *testing.T, c *kms.Client, spec types.KeySpec, usage types.KeyUsageType) string {
	t.Helper()
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

func TestSigner_SignsDigestsThePublicKeyChecks(t *testing.T) {
	t.Parallel()
	c := newKMS(t)
	id := createKey(t, c, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	s := kmskey.New(c, id)
	pub, err := kmskey.PublicKey(ctx, c, id)
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	hash := sha256.Sum256([]byte("a digest body"))
	sig, err := s.Sign(ctx, hash[:])
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if !ecdsa.VerifyASN1(pub, hash[:], sig) {
		t.Fatal("KMS's signature does not verify with the key's public part")
	}
	// KMS signed the hash as given (MessageType DIGEST): KMS's own Verify of the message as a
	// digest agrees.
	v, err := c.Verify(ctx, &kms.VerifyInput{KeyId: aws.String(id), Message: hash[:], MessageType: types.MessageTypeDigest,
		Signature: sig, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil || !v.SignatureValid {
		t.Errorf("KMS does not take its signature of the digest: %v", err)
	}

	// A digest signed by the sealer's signer opens with the verifier's key.
	file, err := archive.SignDigest(ctx, archive.Digest{Version: 1, StartsChain: true, Files: []archive.File{},
		Period: archive.Period{Start: time.Unix(0, 0).UTC(), End: time.Unix(3600, 0).UTC()}}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, signed, err := archive.OpenDigest(file, pub); err != nil || signed.KeyID != id {
		t.Errorf("open a KMS-signed digest: key %q, %v", signed.KeyID, err)
	}
}

func TestPublicKey_OnlyOfAP256SigningKey(t *testing.T) {
	t.Parallel()
	c := newKMS(t)
	for _, k := range []struct {
		spec  types.KeySpec
		usage types.KeyUsageType
	}{
		{types.KeySpecEccNistP384, types.KeyUsageTypeSignVerify},
		{types.KeySpecRsa2048, types.KeyUsageTypeSignVerify},
		{types.KeySpecSymmetricDefault, types.KeyUsageTypeEncryptDecrypt},
	} {
		id := createKey(t, c, k.spec, k.usage)
		if _, err := kmskey.PublicKey(ctx, c, id); err == nil {
			t.Errorf("a %s key for %s was taken", k.spec, k.usage)
		}
	}
	if _, err := kmskey.PublicKey(ctx, c, "arn:aws:kms:eu-north-1:111122223333:key/no-such-key"); err == nil {
		t.Error("a key that does not exist was taken")
	}
}
