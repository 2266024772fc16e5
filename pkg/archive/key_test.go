package archive_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/bufdir/export-audit/pkg/archive"
)

func TestLocalKey_MadeOnceOwnerOnlyAndSignsForItsPublicPart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys", "archive-key.pem")
	if _, err := archive.ReadKey(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reading a key that is not there: got %v, want fs.ErrNotExist", err)
	}
	k, err := archive.LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("make key: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want -rw-------", st.Mode().Perm())
	}
	pemBytes, _ := os.ReadFile(path)
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("key file is not a PEM PRIVATE KEY: %q", pemBytes)
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Fatalf("key file is not PKCS#8: %v", err)
	}

	again, err := archive.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	read, err := archive.ReadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if again.KeyID() != k.KeyID() || read.KeyID() != k.KeyID() || !read.Public().Equal(k.Public()) {
		t.Errorf("the key changed between loads: %s, %s, %s", k.KeyID(), again.KeyID(), read.KeyID())
	}

	hash := sha256.Sum256([]byte("a digest body"))
	sig, err := k.Sign(ctx, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(read.Public(), hash[:], sig) {
		t.Error("the signature does not verify with the public part read from the file")
	}
	other := sha256.Sum256([]byte("another body"))
	if ecdsa.VerifyASN1(read.Public(), other[:], sig) {
		t.Error("the signature verifies for another body")
	}
}

func TestLocalKey_OnlyP256(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(p384)
	cases := map[string][]byte{
		"p384.pem":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"garbage.pem": []byte("not a key"),
		"sec1.pem":    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
	}
	for name, body := range cases {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := archive.LoadOrCreateKey(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if got, _ := os.ReadFile(path); string(got) != string(body) {
			t.Errorf("%s: a refused key file was rewritten", name)
		}
	}
}
