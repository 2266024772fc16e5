package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultSecret signs local tokens when LOCAL_JWT_SECRET is unset. It is public, like the
// local API it protects: never use it for anything deployed.
const DefaultSecret = "bufdir-local-development-secret"

// Sign makes an HS256 JWT of claims.
func Sign(secret string, claims map[string]any) (string, error) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("sign a token: %w", err)
	}
	return tok, nil
}

// Token makes a token for the local API, valid for ttl.
func Token(secret, org, sub string, scopes []string, ttl time.Duration, now time.Time) (string, error) {
	return Sign(secret, map[string]any{
		"sub": sub, "org_id": org, "scope": strings.Join(scopes, " "),
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), "iss": "bufdir-audit-local",
	})
}

// Authorizer checks tokens as API Gateway's JWT authorizer checks them, with an HS256 key in
// place of the identity provider's published keys.
type Authorizer struct {
	Secret string // the HS256 key
}

// Verify checks token at now: HS256 only, the signature, exp required and after now, nbf and
// iat, when present, not after now. It returns the token's claims, numbers as written in the
// token.
func (a Authorizer) Verify(token string, now time.Time) (map[string]any, error) {
	c := &claims{}
	p := jwt.NewParser(
		// Only HS256: "none" and every other algorithm are refused before the signature is
		// looked at, whatever key the header asks for.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	tok, err := p.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return []byte(a.Secret), nil })
	if err != nil {
		return nil, refusal(tok, c, err)
	}
	return c.MapClaims, nil
}

// refusal says in one sentence why a token was refused.
func refusal(tok *jwt.Token, c *claims, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errors.New("the token is not a well-formed JWT")
	case tok != nil && (tok.Method == nil || tok.Method.Alg() != jwt.SigningMethodHS256.Alg()):
		alg, _ := tok.Header["alg"].(string)
		return fmt.Errorf("the token's algorithm %q is not accepted", alg)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errors.New("the token's signature is not valid")
	case errors.Is(err, jwt.ErrInvalidType):
		return errors.New("the token's claims are malformed: " + err.Error())
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.MapClaims["exp"] == nil:
		return errors.New("the token has no exp")
	case errors.Is(err, jwt.ErrTokenExpired):
		return errors.New("the token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errors.New("the token is not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errors.New("the token's iat is in the future")
	}
	return errors.New("the token is not valid")
}

// claims are a token's claims, numbers kept as written (json.Number), so that they reach the
// handlers as the token has them.
type claims struct {
	jwt.MapClaims
}

// UnmarshalJSON keeps numbers as json.Number. The parser decodes the claims with
// json.Unmarshal, which refuses anything after the object before this is called.
func (c *claims) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(&c.MapClaims)
}

// GetExpirationTime, GetNotBefore and GetIssuedAt replace MapClaims' own, which convert a
// time past int64's range with a float-to-int conversion whose result Go leaves to the
// machine (an nbf of 1e19 came out as a time long past on amd64 and let a token in that was
// not valid yet), and which round a time down to the second (an nbf half a second ahead of now
// passed). A time outside years 1970 to 9999 is refused; a fraction of a second is kept.
func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.date("exp") }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.date("nbf") }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.date("iat") }

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

func (c *claims) date(name string) (*jwt.NumericDate, error) {
	v, ok := c.MapClaims[name]
	if !ok {
		return nil, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a number", jwt.ErrInvalidType, name)
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > maxNumericDate {
		return nil, fmt.Errorf("%w: %s %s is not a time between 1970 and 9999", jwt.ErrInvalidType, name, n)
	}
	sec, frac := math.Modf(f)
	// Rounded up, so that a time is never taken for earlier than it is.
	return &jwt.NumericDate{Time: time.Unix(int64(sec), int64(math.Ceil(frac*1e9)))}, nil
}

// flatten writes every claim as a string, as the authorizer hands claims to the function.
func flatten(claims map[string]any) map[string]string {
	flat := make(map[string]string, len(claims))
	for k, v := range claims {
		switch v := v.(type) {
		case string:
			flat[k] = v
		case json.Number:
			flat[k] = v.String()
		default:
			b, _ := json.Marshal(v)
			flat[k] = string(b)
		}
	}
	return flat
}
