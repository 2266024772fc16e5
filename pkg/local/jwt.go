package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultSecret signs local tokens when LOCAL_JWT_SECRET is unset. It is public, like the
// local API it protects: never use it for anything deployed.
const DefaultSecret = "bufdir-export-audit-local-development-key"

// MinSecretLen is the shortest HS256 key accepted, in bytes: RFC 7518 (3.2) asks for a key at
// least as long as the hash, 256 bits.
const MinSecretLen = 32

// Sign makes an HS256 JWT of claims.
func Sign(secret string, claims map[string]any) (string, error) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("sign a token: %w", err)
	}
	return tok, nil
}

// Token makes a token for the local API, valid for ttl, with no audience.
func Token(secret, org, sub string, scopes []string, ttl time.Duration, now time.Time) (string, error) {
	return Authorizer{Secret: secret}.Token(org, sub, scopes, ttl, now)
}

// The variables make run and make token read the authorizer's settings from.
const (
	EnvSecret   = "LOCAL_JWT_SECRET"
	EnvIssuer   = "LOCAL_JWT_ISSUER"
	EnvAudience = "LOCAL_JWT_AUDIENCE"
)

// defaultIssuer is the iss of local tokens when no issuer is configured.
const defaultIssuer = "bufdir-audit-local"

// Authorizer checks tokens as API Gateway's JWT authorizer checks them, with an HS256 key in
// place of the identity provider's published keys.
type Authorizer struct {
	Secret string // the HS256 key
	// Issuer, when set, is the only iss accepted, compared exactly (the authorizer's issuer).
	Issuer string
	// Audiences, when set, are the audiences accepted (the authorizer's audience list): a
	// token's aud, a string or a list, must name one of them; a token without aud is judged by
	// its client_id instead, as Cognito's access tokens have none.
	Audiences []string
}

// AuthorizerFromEnv reads the authorizer's settings as make run and make token share them:
// LOCAL_JWT_SECRET (DefaultSecret when unset), LOCAL_JWT_ISSUER and LOCAL_JWT_AUDIENCE
// (comma-separated), each unset by default.
func AuthorizerFromEnv(getenv func(string) string) (Authorizer, error) {
	a := Authorizer{Secret: getenv(EnvSecret), Issuer: strings.TrimSpace(getenv(EnvIssuer))}
	if a.Secret == "" {
		a.Secret = DefaultSecret
	}
	for _, aud := range strings.Split(getenv(EnvAudience), ",") {
		if aud = strings.TrimSpace(aud); aud != "" {
			a.Audiences = append(a.Audiences, aud)
		}
	}
	return a, a.CheckKey()
}

// CheckKey refuses a key shorter than MinSecretLen, naming the variable it comes from.
func (a Authorizer) CheckKey() error {
	if len(a.Secret) < MinSecretLen {
		return fmt.Errorf("%s must be at least %d bytes (HS256 needs a key as long as its hash); it has %d", EnvSecret, MinSecretLen, len(a.Secret))
	}
	return nil
}

// Token makes a token the authorizer accepts, valid for ttl: issued by its issuer and for the
// first of its audiences, when it has them.
func (a Authorizer) Token(org, sub string, scopes []string, ttl time.Duration, now time.Time) (string, error) {
	c := map[string]any{
		"sub": sub, "org_id": org, "scope": strings.Join(scopes, " "),
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), "iss": defaultIssuer,
	}
	if a.Issuer != "" {
		c["iss"] = a.Issuer
	}
	if len(a.Audiences) > 0 {
		c["aud"] = a.Audiences[0]
	}
	return Sign(a.Secret, c)
}

// Verified is what API Gateway's JWT authorizer hands a payload 2.0 function for an accepted
// token, in requestContext.authorizer.jwt.
type Verified struct {
	// Claims holds every claim of the token as a string, as the authorizer writes it: a
	// string as it is, a number as written in the token, true and false as words, an array
	// as its items between brackets, space-separated ("[a b]"), an object as JSON. A claim
	// whose value is null is left out.
	Claims map[string]string
	// Scopes are the token's scopes, from scope or scp, a space-separated string or an
	// array. The authorizer hands them over on routes with authorization scopes, and every
	// route here has one.
	Scopes []string
}

// Verify checks token at now: HS256 only, the signature, exp required and after now, nbf and
// iat, when present, not after now, and the issuer and audience when they are configured.
func (a Authorizer) Verify(token string, now time.Time) (*Verified, error) {
	c := &claims{audiences: a.Audiences}
	opts := []jwt.ParserOption{
		// Only HS256: "none" and every other algorithm are refused before the signature is
		// looked at, whatever key the header asks for.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	}
	if a.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(a.Issuer))
	}
	tok, err := jwt.NewParser(opts...).ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return []byte(a.Secret), nil })
	if err != nil {
		return nil, refusal(tok, c, err)
	}
	return &Verified{Claims: flatten(c.MapClaims), Scopes: scopes(c.MapClaims)}, nil
}

// refusal says in one sentence why a token was refused.
func refusal(tok *jwt.Token, c *claims, err error) error {
	var te timeClaimError
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errors.New("the token is not a well-formed JWT")
	case tok != nil && (tok.Method == nil || tok.Method.Alg() != jwt.SigningMethodHS256.Alg()):
		alg, _ := tok.Header["alg"].(string)
		return fmt.Errorf("the token's algorithm %q is not accepted", alg)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errors.New("the token's signature is not valid")
	case errors.As(err, &te):
		return fmt.Errorf("the token's claims are malformed: %s", te)
	case errors.Is(err, jwt.ErrInvalidType):
		return errors.New("the token's claims are malformed")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.MapClaims["exp"] == nil:
		return errors.New("the token has no exp")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.MapClaims["iss"] == nil:
		return errors.New("the token has no iss")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errors.New("the token's issuer is not accepted")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errors.New("the token's audience is not accepted")
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
	audiences []string // the audiences accepted; none: any
}

// Validate applies API Gateway's audience rule, which the library's WithAudience does not have:
// the token's aud, a string or a list, must name an accepted audience; only a token without
// aud is judged by its client_id.
func (c *claims) Validate() error {
	if len(c.audiences) == 0 {
		return nil
	}
	if _, ok := c.MapClaims["aud"]; ok {
		aud, err := c.GetAudience()
		if err != nil {
			return err
		}
		if slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(c.audiences, a) }) {
			return nil
		}
		return jwt.ErrTokenInvalidAudience
	}
	if id, ok := c.MapClaims["client_id"].(string); ok && slices.Contains(c.audiences, id) {
		return nil
	}
	return jwt.ErrTokenInvalidAudience
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
		return nil, timeClaimError(name + " is not a number")
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > maxNumericDate {
		return nil, timeClaimError(fmt.Sprintf("%s %s is not a time between 1970 and 9999", name, n))
	}
	sec, frac := math.Modf(f)
	// Rounded up, so that a time is never taken for earlier than it is.
	return &jwt.NumericDate{Time: time.Unix(int64(sec), int64(math.Ceil(frac*1e9)))}, nil
}

// flatten writes every claim as a string, as the authorizer does: observed in the events
// API Gateway hands functions, numbers come as written ("exp": "1787996002"), booleans as
// words, null-valued claims not at all, and a list of strings as "[admin poweruser]". Items
// of other kinds in a list, and objects, are written as JSON.
func flatten(claims map[string]any) map[string]string {
	flat := make(map[string]string, len(claims))
	for k, v := range claims {
		if v != nil {
			flat[k] = claimString(v)
		}
	}
	return flat
}

func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case []any:
		items := make([]string, len(v))
		for i, item := range v {
			if s, ok := item.(string); ok {
				items[i] = s
				continue
			}
			b, _ := json.Marshal(item)
			items[i] = string(b)
		}
		return "[" + strings.Join(items, " ") + "]"
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// scopes reads the token's scopes as the authorizer does, from scope or scp, each either a
// space-separated string (Keycloak, Cognito, Azure AD's scp) or an array of strings (Okta's
// scp). A token that has both counts the scopes of both.
func scopes(claims map[string]any) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, name := range []string{"scope", "scp"} {
		switch v := claims[name].(type) {
		case string:
			for _, s := range strings.Fields(v) {
				add(s)
			}
		case []any:
			for _, item := range v {
				if s, ok := item.(string); ok && s != "" {
					add(s)
				}
			}
		}
	}
	return out
}

// timeClaimError says what is wrong with a time claim; to the library it is ErrInvalidType.
type timeClaimError string

func (e timeClaimError) Error() string        { return string(e) }
func (e timeClaimError) Is(target error) bool { return target == jwt.ErrInvalidType }
