package local_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/pkg/local"
)

// FuzzVerify: whatever the token, Verify never panics, and it accepts a token only when the
// token's own header says HS256, its signature is the HMAC-SHA256 of its first two parts
// under the secret (computed here on its own), and its claims carry an exp after now and no nbf
// or iat after now. A token is never valid under two secrets.
func FuzzVerify(f *testing.F) {
	const secret, another = "fuzz-verify-secret-of-32-bytes-or-more", "another-fuzz-secret-of-32-bytes-or-more"
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	b64 := base64.RawURLEncoding
	valid, _ := local.Token(secret, "org-fuzz", "usr-fuzz", []string{"audit:read"}, time.Hour, now)
	expired, _ := local.Token(secret, "org-fuzz", "usr-fuzz", []string{"audit:read"}, -time.Hour, now)
	other, _ := local.Token(another, "org-fuzz", "usr-fuzz", []string{"audit:read"}, time.Hour, now)
	parts := strings.Split(valid, ".")
	none := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	sign := func(c map[string]any) string {
		tok, _ := local.Sign(secret, c)
		return tok
	}
	exp := now.Add(time.Hour).Unix()
	nbf := sign(map[string]any{"sub": "u", "exp": exp, "nbf": now.Add(time.Minute).Unix()})
	// Times past int64's range once wrapped around: an nbf of 1e19 let the token in.
	farNbf := sign(map[string]any{"sub": "u", "exp": exp, "nbf": 1e19})
	farExp := sign(map[string]any{"sub": "u", "exp": 1e19})
	farIat := sign(map[string]any{"sub": "u", "exp": exp, "iat": 1e19})
	// Half a second ahead of now: a time rounded down to the second would let it in.
	halfNbf := sign(map[string]any{"sub": "u", "exp": exp, "nbf": float64(now.Unix()) + 0.5})
	futureIat := sign(map[string]any{"sub": "u", "exp": exp, "iat": now.Add(time.Minute).Unix()})
	weird := sign(map[string]any{"sub": []any{1, "x"}, "exp": 1e300, "org_id": nil, "scope": map[string]any{"a": true}})
	// Signed, but with more than one JSON value in the claims, and a header naming two algorithms.
	signAs := func(header, payload string) string {
		signing := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(signing))
		return signing + "." + b64.EncodeToString(m.Sum(nil))
	}
	trailing := signAs(`{"alg":"HS256"}`, fmt.Sprintf(`{"sub":"u","exp":%d} {}`, exp))
	twoAlgs := signAs(`{"alg":"HS256","Alg":"none"}`, fmt.Sprintf(`{"sub":"u","exp":%d}`, exp))
	hugeNumber := signAs(`{"alg":"HS256"}`, fmt.Sprintf(`{"sub":"u","exp":%d,"n":1e400}`, exp))
	for _, s := range []string{valid, expired, other, none, nbf, farNbf, farExp, farIat, halfNbf, futureIat, weird, trailing, twoAlgs, hugeNumber,
		parts[0] + "." + parts[1], valid + ".", "", "..", "a.b.c",
		parts[0] + "." + parts[1] + "." + parts[2] + "=", strings.ToUpper(valid)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		v, err := local.Authorizer{Secret: secret}.Verify(token, now)
		if _, err2 := (local.Authorizer{Secret: another}).Verify(token, now); err == nil && err2 == nil {
			t.Fatalf("%q is valid under two secrets", token)
		}
		if err != nil {
			if v != nil {
				t.Fatalf("%q: claims returned with the error %v", token, err)
			}
			return
		}
		p := strings.Split(token, ".")
		if len(p) != 3 {
			t.Fatalf("%q accepted without three parts", token)
		}
		// Header parameter names are case-sensitive (RFC 7515): the one named alg counts.
		var header map[string]any
		hb, herr := b64.DecodeString(p[0])
		if herr != nil || json.Unmarshal(hb, &header) != nil || header["alg"] != "HS256" {
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
		dec := json.NewDecoder(bytes.NewReader(cb))
		dec.UseNumber()
		if !json.Valid(cb) || dec.Decode(&raw) != nil || raw == nil {
			t.Fatalf("%q accepted with claims that are no JSON object", token)
		}
		at := func(name string) (float64, bool) {
			n, ok := raw[name].(json.Number)
			if !ok {
				return 0, false
			}
			f, err := n.Float64()
			return f, err == nil
		}
		if exp, ok := at("exp"); !ok || float64(now.Unix()) >= exp {
			t.Fatalf("%q accepted with exp %v at %v", token, raw["exp"], now)
		}
		for _, name := range []string{"nbf", "iat"} {
			if _, present := raw[name]; !present {
				continue
			}
			if v, ok := at(name); !ok || float64(now.Unix()) < v {
				t.Fatalf("%q accepted with %s %v at %v", token, name, raw[name], now)
			}
		}
		// Every claim reaches the handler as a string but those whose value is null.
		want := 0
		for _, x := range raw {
			if x != nil {
				want++
			}
		}
		if len(v.Claims) != want {
			t.Fatalf("%q: flattened %d claims of %d", token, len(v.Claims), want)
		}
	})
}
