package archive

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DigestVersion is the version of the digest body this package writes.
const DigestVersion = 1

// Digest is the signed body of a digest file: what one period's seal says.
type Digest struct {
	Version int    `json:"version"`
	Period  Period `json:"period"`
	// StartsChain is true in the first digest only, which has no Previous.
	StartsChain bool `json:"starts_chain,omitempty"`
	// Previous is the digest before this one; null in the first.
	Previous *Link `json:"previous"`
	// Files are the period's change objects, in key order; an idle period has none.
	Files    []File    `json:"files"`
	SealedAt time.Time `json:"sealed_at"`
}

// Period is a sealing period, its start inclusive and its end exclusive.
type Period struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Link names the previous digest by key and by the SHA-256 of its bytes.
type Link struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
}

// File names a change object by key, SHA-256 of its bytes and size.
type File struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Signed is a digest file as it is stored: the body's exact bytes, and their signature.
type Signed struct {
	Body      json.RawMessage `json:"digest"`
	Signature []byte          `json:"signature"`
	Algorithm string          `json:"algorithm"`
	KeyID     string          `json:"key_id"`
}

// Sum is the SHA-256 of b, in hex, as digests write it.
func Sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// SignDigest marshals d, signs the bytes and returns the digest file.
func SignDigest(ctx context.Context, d Digest, s Signer) ([]byte, error) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("marshal digest: %w", err)
	}
	raw := bytes.TrimSuffix(body.Bytes(), []byte("\n"))
	hash := sha256.Sum256(raw)
	sig, err := s.Sign(ctx, hash[:])
	if err != nil {
		return nil, fmt.Errorf("sign digest: %w", err)
	}
	// The envelope is written by hand so that the body's bytes go in exactly as signed
	// (json.Marshal would re-encode a RawMessage).
	var out bytes.Buffer
	out.WriteString(`{"digest":`)
	out.Write(raw)
	for _, f := range []struct {
		name string
		v    any
	}{{"signature", sig}, {"algorithm", Algorithm}, {"key_id", s.KeyID()}} {
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, fmt.Errorf("marshal digest: %w", err)
		}
		fmt.Fprintf(&out, ",%q:%s", f.name, v)
	}
	out.WriteString("}\n")
	return out.Bytes(), nil
}

// ErrBadSignature means a digest's signature does not verify with the key.
var ErrBadSignature = errors.New("signature does not verify")

// OpenDigest reads a digest file and checks its signature with pub. It answers
// ErrBadSignature when the signature (or the body it covers) is not what the key signed, and
// another error when the file is not a digest at all; either way the body is not to be
// trusted.
func OpenDigest(file []byte, pub *ecdsa.PublicKey) (Digest, Signed, error) {
	var s Signed
	if err := json.Unmarshal(file, &s); err != nil {
		return Digest{}, s, fmt.Errorf("not a digest file: %w", err)
	}
	if len(s.Body) == 0 || s.Body[0] != '{' {
		return Digest{}, s, errors.New("not a digest file: no digest object")
	}
	if s.Algorithm != Algorithm {
		return Digest{}, s, fmt.Errorf("algorithm %q is not %s", s.Algorithm, Algorithm)
	}
	hash := sha256.Sum256(s.Body)
	if !ecdsa.VerifyASN1(pub, hash[:], s.Signature) {
		return Digest{}, s, ErrBadSignature
	}
	var d Digest
	if err := json.Unmarshal(s.Body, &d); err != nil {
		return Digest{}, s, fmt.Errorf("signed digest does not parse: %w", err)
	}
	return d, s, nil
}

// readDigest reads a digest's body without checking its signature: the sealer trusts the
// bucket it writes to, and needs only the period and the bytes to chain to.
func readDigest(file []byte) (Digest, error) {
	var s Signed
	if err := json.Unmarshal(file, &s); err != nil {
		return Digest{}, fmt.Errorf("not a digest file: %w", err)
	}
	var d Digest
	if err := json.Unmarshal(s.Body, &d); err != nil {
		return Digest{}, fmt.Errorf("not a digest file: %w", err)
	}
	return d, nil
}
