// Package kmskey signs the archive's digests with an asymmetric KMS key (key spec
// ECC_NIST_P256, usage SIGN_VERIFY) and reads its public part for the verifier. The private
// key never leaves KMS; only the seal-digest function's role may call kms:Sign with it, and
// the verifier needs only kms:GetPublicKey.
package kmskey

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/bufdir/export-audit/pkg/archive"
)

// Signer signs with one KMS key. Build it once per container.
type Signer struct {
	client *kms.Client
	keyID  string
}

var _ archive.Signer = (*Signer)(nil)

// New returns a Signer with the key keyID (an id, an ARN, or an alias).
func New(client *kms.Client, keyID string) *Signer { return &Signer{client: client, keyID: keyID} }

// Sign signs a SHA-256 hash: one kms:Sign call with MessageType DIGEST (KMS signs the hash as
// given, and the message never leaves the function), ECDSA_SHA_256. KMS answers a DER
// signature, which ecdsa.VerifyASN1 checks.
func (s *Signer) Sign(ctx context.Context, hash []byte) ([]byte, error) {
	out, err := s.client.Sign(ctx, &kms.SignInput{
		KeyId:            aws.String(s.keyID),
		Message:          hash,
		MessageType:      types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256,
	})
	if err != nil {
		return nil, fmt.Errorf("kms sign with %s: %w", s.keyID, err)
	}
	return out.Signature, nil
}

// KeyID is the key as it was given.
func (s *Signer) KeyID() string { return s.keyID }

// PublicKey reads the key's public part: one kms:GetPublicKey call. It refuses a key that is
// not a P-256 signing key, whose signatures the digests could not carry.
func PublicKey(ctx context.Context, client *kms.Client, keyID string) (*ecdsa.PublicKey, error) {
	out, err := client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return nil, fmt.Errorf("kms get public key %s: %w", keyID, err)
	}
	if out.KeySpec != types.KeySpecEccNistP256 || out.KeyUsage != types.KeyUsageTypeSignVerify {
		return nil, fmt.Errorf("kms key %s is %s for %s, not %s for %s", keyID, out.KeySpec, out.KeyUsage,
			types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("kms key %s: public key: %w", keyID, err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("kms key %s: public key is not ECDSA P-256", keyID)
	}
	return ec, nil
}
