package local

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultSecret signs local tokens when LOCAL_JWT_SECRET is unset. It is public, like the
// local API it protects: never use it for anything deployed.
const DefaultSecret = "bufdir-local-development-secret"

var b64 = base64.RawURLEncoding

// Sign makes an HS256 JWT of claims.
func Sign(secret string, claims map[string]any) (string, error) {
	header := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	signing := header + "." + b64.EncodeToString(payload)
	return signing + "." + b64.EncodeToString(mac(secret, signing)), nil
}

// Token makes a token for the local API, valid for ttl.
func Token(secret, org, sub string, scopes []string, ttl time.Duration, now time.Time) (string, error) {
	return Sign(secret, map[string]any{
		"sub": sub, "org_id": org, "scope": strings.Join(scopes, " "),
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), "iss": "bufdir-audit-local",
	})
}

func mac(secret, signing string) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(signing))
	return h.Sum(nil)
}

// Verify checks an HS256 token the way API Gateway's JWT authorizer checks its tokens (the
// signature, the algorithm, exp required and not passed, nbf if present) and returns its claims
// flattened to strings, as the authorizer hands them to the function.
func Verify(secret, token string, now time.Time) (map[string]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("the token is not a JWT")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodePart(parts[0], &header); err != nil {
		return nil, errors.New("the token's header is malformed")
	}
	// Only HS256: "none" and every other algorithm are refused before the signature is looked at.
	if header.Alg != "HS256" {
		return nil, fmt.Errorf("the token's algorithm %q is not accepted", header.Alg)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac(secret, parts[0]+"."+parts[1])) {
		return nil, errors.New("the token's signature is not valid")
	}
	var claims map[string]any
	if err := decodePart(parts[1], &claims); err != nil {
		return nil, errors.New("the token's claims are malformed")
	}
	// Compared as numbers, not converted to int64: a time past int64's range (nbf 1e19) would
	// wrap around and let a token in that is not valid yet.
	exp, ok := claims["exp"].(float64)
	if !ok {
		return nil, errors.New("the token has no exp")
	}
	if float64(now.Unix()) >= exp {
		return nil, errors.New("the token has expired")
	}
	if nbf, ok := claims["nbf"].(float64); ok && float64(now.Unix()) < nbf {
		return nil, errors.New("the token is not valid yet")
	}
	flat := make(map[string]string, len(claims))
	for k, v := range claims {
		switch v := v.(type) {
		case string:
			flat[k] = v
		case float64:
			flat[k] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			b, _ := json.Marshal(v)
			flat[k] = string(b)
		}
	}
	return flat, nil
}

func decodePart(part string, v any) error {
	b, err := b64.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
