package local_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/pkg/local"
)

// FuzzVerify: whatever the token, Verify never panics, and it accepts a token only when the
// token's own header says HS256, its signature is the HMAC-SHA256 of its first two parts
// under the secret (computed here on its own), and its claims carry an exp after now and no nbf
// after now. A token is never valid under two secrets.
func FuzzVerify(f *testing.F) {
	const secret = "fuzz-secret"
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	b64 := base64.RawURLEncoding
	valid, _ := local.Token(secret, "org-fuzz", "usr-fuzz", []string{"audit:read"}, time.Hour, now)
	expired, _ := local.Token(secret, "org-fuzz", "usr-fuzz", []string{"audit:read"}, -time.Hour, now)
	other, _ := local.Token("another-secret", "org-fuzz", "usr-fuzz", []string{"audit:read"}, time.Hour, now)
	parts := strings.Split(valid, ".")
	none := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	nbf, _ := local.Sign(secret, map[string]any{"sub": "u", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(time.Minute).Unix()})
	// Times past int64's range once wrapped around: an nbf of 1e19 let the token in.
	farNbf, _ := local.Sign(secret, map[string]any{"sub": "u", "exp": now.Add(time.Hour).Unix(), "nbf": 1e19})
	farExp, _ := local.Sign(secret, map[string]any{"sub": "u", "exp": 1e19})
	weird, _ := local.Sign(secret, map[string]any{"sub": []any{1, "x"}, "exp": 1e300, "org_id": nil, "scope": map[string]any{"a": true}})
	for _, s := range []string{valid, expired, other, none, nbf, farNbf, farExp, weird, parts[0] + "." + parts[1], valid + ".", "", "..", "a.b.c",
		parts[0] + "." + parts[1] + "." + parts[2] + "=", strings.ToUpper(valid)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := local.Verify(secret, token, now)
		if _, err2 := local.Verify("another-secret", token, now); err == nil && err2 == nil {
			t.Fatalf("%q is valid under two secrets", token)
		}
		if err != nil {
			if claims != nil {
				t.Fatalf("%q: claims returned with the error %v", token, err)
			}
			return
		}
		p := strings.Split(token, ".")
		if len(p) != 3 {
			t.Fatalf("%q accepted without three parts", token)
		}
		var header struct {
			Alg string `json:"alg"`
		}
		hb, herr := b64.DecodeString(p[0])
		if herr != nil || json.Unmarshal(hb, &header) != nil || header.Alg != "HS256" {
			t.Fatalf("%q accepted with header %q", token, hb)
		}
		sig, serr := b64.DecodeString(p[2])
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(p[0] + "." + p[1]))
		if serr != nil || !bytes.Equal(sig, m.Sum(nil)) {
			t.Fatalf("%q accepted with a signature that is not the HMAC of its parts", token)
		}
		var raw map[string]any
		cb, _ := b64.DecodeString(p[1])
		if err := json.Unmarshal(cb, &raw); err != nil {
			t.Fatalf("%q accepted with claims that are no JSON object", token)
		}
		exp, ok := raw["exp"].(float64)
		if !ok || float64(now.Unix()) >= exp {
			t.Fatalf("%q accepted with exp %v at %v", token, raw["exp"], now)
		}
		if n, ok := raw["nbf"].(float64); ok && float64(now.Unix()) < n {
			t.Fatalf("%q accepted before its nbf %v", token, n)
		}
		if len(claims) != len(raw) {
			t.Fatalf("%q: flattened %d claims of %d", token, len(claims), len(raw))
		}
	})
}
