package archive

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Algorithm is the digests' signing algorithm, as KMS names it: ECDSA on P-256 over SHA-256.
const Algorithm = "ECDSA_SHA_256"

// Signer signs digests.
type Signer interface {
	// Sign signs a SHA-256 hash and answers an ASN.1 DER ECDSA signature, which
	// ecdsa.VerifyASN1 checks with the key's public part.
	Sign(ctx context.Context, hash []byte) ([]byte, error)
	// KeyID names the key in each digest, for whoever looks for the key that checks it.
	KeyID() string
}

// LocalKey is a Signer with a P-256 private key from a PEM file (PKCS#8, "PRIVATE KEY"):
// the local stand-in for the KMS key.
type LocalKey struct {
	key *ecdsa.PrivateKey
	id  string
}

// LoadOrCreateKey reads the key file at path, or, when there is none, makes a new key and
// writes it there, readable by its owner only (0600). Two processes starting at once end up
// with the same key: the file is linked into place only if the name is free.
func LoadOrCreateKey(path string) (*LocalKey, error) {
	k, err := ReadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make a signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("make a signing key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("write signing key %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".key-*")
	if err != nil {
		return nil, fmt.Errorf("write signing key %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	// CreateTemp makes the file 0600 already; say so, whatever the umask.
	err = f.Chmod(0o600)
	if err == nil {
		err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.Name(), path)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("write signing key %s: %w", path, err)
	}
	return ReadKey(path)
}

// ReadKey reads the key file at path, and makes none: the verifier reads the public part
// from it. A missing file is an fs.ErrNotExist.
func ReadKey(path string) (*LocalKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("signing key %s: not a PEM PRIVATE KEY (PKCS#8)", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("signing key %s: not an ECDSA P-256 key", path)
	}
	id, err := Fingerprint(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return &LocalKey{key: priv, id: "local:" + id}, nil
}

// Fingerprint is the SHA-256 of a public key's DER SubjectPublicKeyInfo, in hex.
func Fingerprint(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// Sign signs hash with the private key.
func (k *LocalKey) Sign(_ context.Context, hash []byte) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, k.key, hash)
}

// KeyID is "local:" and the public key's fingerprint.
func (k *LocalKey) KeyID() string { return k.id }

// Public is the key's public part, which checks its signatures.
func (k *LocalKey) Public() *ecdsa.PublicKey { return &k.key.PublicKey }
