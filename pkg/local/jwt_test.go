package local_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/pkg/local"
	"github.com/golang-jwt/jwt/v5"
)

// jwtSecret is the key of the tokens of these tests.
const jwtSecret = "jwt-test-secret-of-at-least-32-bytes"

// forge signs header and payload, both as written, by HMAC-SHA256 with key, whatever algorithm
// the header names.
func forge(header, payload, key string) string {
	b64 := base64.RawURLEncoding.EncodeToString
	signing := b64([]byte(header)) + "." + b64([]byte(payload))
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(signing))
	return signing + "." + b64(m.Sum(nil))
}

// TestAuthorizer_VerifyRefusesWhatAPIGatewayRefuses: a token is accepted only when it is
// HS256, signed with the key, has an exp after now and no nbf or iat after now. Each refusal
// says why.
func TestAuthorizer_VerifyRefusesWhatAPIGatewayRefuses(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	sec := now.Unix()
	hs256 := `{"alg":"HS256","typ":"JWT"}`
	claims := func(extra string) string {
		return fmt.Sprintf(`{"sub":"usr-0042","org_id":"org-bufdir-042","scope":"audit:read"%s}`, extra)
	}
	exp := fmt.Sprintf(`,"exp":%d`, sec+3600)
	valid := forge(hs256, claims(exp), jwtSecret)
	parts := strings.Split(valid, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"sub": "usr-0042", "exp": sec + 3600}).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, token string
		refused     string // part of the reason; empty when the token is accepted
	}{
		{"valid", valid, ""},
		{"nbf and iat now", forge(hs256, claims(exp+fmt.Sprintf(`,"nbf":%d,"iat":%d`, sec, sec)), jwtSecret), ""},
		{"exp with a fraction of a second to go", forge(hs256, claims(fmt.Sprintf(`,"exp":%d.25`, sec)), jwtSecret), ""},

		{"another key", forge(hs256, claims(exp), "another-key-of-at-least-32-bytes!!"), "signature"},
		{"payload changed after signing", parts[0] + "." + b64([]byte(claims(exp+`,"admin":true`))) + "." + parts[2], "signature"},
		{"signature cut short", valid[:len(valid)-3], "signature"},
		{"alg none, unsigned", b64([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", "algorithm"},
		{"alg none, signed with the key", forge(`{"alg":"none"}`, claims(exp), jwtSecret), "algorithm"},
		{"alg None, signed with the key", forge(`{"alg":"None"}`, claims(exp), jwtSecret), "algorithm"},
		{"alg HS512 over an HS256 signature", forge(`{"alg":"HS512"}`, claims(exp), jwtSecret), "algorithm"},
		{"alg HS512, signed as HS512 with the key", hs512, "algorithm"},
		{"alg RS256", forge(`{"alg":"RS256"}`, claims(exp), jwtSecret), "algorithm"},
		{"no alg", forge(`{"typ":"JWT"}`, claims(exp), jwtSecret), "algorithm"},

		{"expired", forge(hs256, claims(fmt.Sprintf(`,"exp":%d`, sec-1)), jwtSecret), "expired"},
		{"exp now", forge(hs256, claims(fmt.Sprintf(`,"exp":%d`, sec)), jwtSecret), "expired"},
		{"no exp", forge(hs256, claims(""), jwtSecret), "no exp"},
		{"exp a string", forge(hs256, claims(fmt.Sprintf(`,"exp":"%d"`, sec+3600)), jwtSecret), "malformed"},
		{"exp past int64's range", forge(hs256, claims(`,"exp":1e19`), jwtSecret), "malformed"},
		{"exp beyond float64", forge(hs256, claims(`,"exp":1e400`), jwtSecret), "malformed"},
		{"exp before 1970", forge(hs256, claims(`,"exp":-1`), jwtSecret), "malformed"},
		{"nbf a minute ahead", forge(hs256, claims(exp+fmt.Sprintf(`,"nbf":%d`, sec+60)), jwtSecret), "not valid yet"},
		{"nbf half a second ahead", forge(hs256, claims(exp+fmt.Sprintf(`,"nbf":%d.5`, sec)), jwtSecret), "not valid yet"},
		{"nbf past int64's range", forge(hs256, claims(exp+`,"nbf":1e19`), jwtSecret), "malformed"},
		{"iat a minute ahead", forge(hs256, claims(exp+fmt.Sprintf(`,"iat":%d`, sec+60)), jwtSecret), "iat"},
		{"iat past int64's range", forge(hs256, claims(exp+`,"iat":1e19`), jwtSecret), "malformed"},

		{"empty", "", "well-formed"},
		{"two parts", parts[0] + "." + parts[1], "well-formed"},
		{"four parts", valid + ".", "well-formed"},
		{"padded signature", valid + "=", "well-formed"},
		{"header not base64url", "eyJ!." + parts[1] + "." + parts[2], "well-formed"},
		{"header not JSON", b64([]byte("HS256")) + "." + parts[1] + "." + parts[2], "well-formed"},
		{"claims not JSON", forge(hs256, "not json", jwtSecret), "well-formed"},
		{"claims a JSON array", forge(hs256, `["exp"]`, jwtSecret), "well-formed"},
		{"claims followed by more JSON", forge(hs256, claims(exp)+" {}", jwtSecret), "well-formed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := local.Authorizer{Secret: jwtSecret}.Verify(c.token, now)
			switch {
			case c.refused == "" && err != nil:
				t.Fatalf("want the token accepted, got %v", err)
			case c.refused == "" && got.Claims["sub"] != "usr-0042":
				t.Fatalf("want the token's claims, got %v", got)
			case c.refused != "" && err == nil:
				t.Fatalf("want the token refused (%s), got it accepted with %v", c.refused, got)
			case c.refused != "" && !strings.Contains(err.Error(), c.refused):
				t.Fatalf("want a refusal that says %q, got %q", c.refused, err)
			}
		})
	}
}

// TestAuthorizer_HandsClaimsAsAPIGatewayDoes: the claims of an accepted token reach the handler
// as API Gateway's authorizer writes them into requestContext.authorizer.jwt.claims (a Cognito
// access token here, as in the events API Gateway hands functions), and its scopes come from
// scope or scp, a string or an array, as real identity providers send them.
func TestAuthorizer_HandsClaimsAsAPIGatewayDoes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	cognito := `{"sub":"6418b458-d091-705e-122e-04bf2945fcdf","cognito:groups":["admin","poweruser"],
		"iss":"https://cognito-idp.eu-north-1.amazonaws.com/eu-north-1_HblcSIjTD","version":2,
		"client_id":"5kek0i61pgkokoob4fsm9fo9it","origin_jti":"2c496ec9-8d59-4e03-913f-ca934fb3e078",
		"token_use":"access","scope":"audit:read audit:write","auth_time":1772348400,"exp":1772355600,
		"iat":1772348400,"jti":"afa8fe33-607e-4fdb-99ac-81c27d1ddc73","username":"google_115112",
		"email_verified":true,"nickname":null,"address":{"country":"NO"},"org_id":"org-bufdir-042"}`
	v, err := local.Authorizer{Secret: jwtSecret}.Verify(forge(`{"alg":"HS256","typ":"JWT"}`, cognito, jwtSecret), now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"sub":            "6418b458-d091-705e-122e-04bf2945fcdf",
		"cognito:groups": "[admin poweruser]",
		"iss":            "https://cognito-idp.eu-north-1.amazonaws.com/eu-north-1_HblcSIjTD",
		"version":        "2",
		"client_id":      "5kek0i61pgkokoob4fsm9fo9it",
		"origin_jti":     "2c496ec9-8d59-4e03-913f-ca934fb3e078",
		"token_use":      "access",
		"scope":          "audit:read audit:write",
		"auth_time":      "1772348400",
		"exp":            "1772355600",
		"iat":            "1772348400",
		"jti":            "afa8fe33-607e-4fdb-99ac-81c27d1ddc73",
		"username":       "google_115112",
		"email_verified": "true",
		"address":        `{"country":"NO"}`,
		"org_id":         "org-bufdir-042",
	}
	if fmt.Sprint(v.Claims) != fmt.Sprint(want) {
		t.Errorf("want the claims as API Gateway hands them\nwant %v\ngot  %v", want, v.Claims)
	}

	exp := fmt.Sprintf(`"exp":%d`, now.Unix()+3600)
	scopes := []struct {
		name, claims string
		want         []string
	}{
		{"Keycloak, Cognito: scope, a string", `{"scope":"openid profile audit:read",` + exp + `}`, []string{"openid", "profile", "audit:read"}},
		{"Okta: scp, an array", `{"scp":["audit:read","audit:write"],` + exp + `}`, []string{"audit:read", "audit:write"}},
		{"Azure AD: scp, a string", `{"scp":"audit:read audit:delete",` + exp + `}`, []string{"audit:read", "audit:delete"}},
		{"scope an array", `{"scope":["audit:write"],` + exp + `}`, []string{"audit:write"}},
		{"both", `{"scope":"openid audit:read","scp":["audit:read","audit:write"],` + exp + `}`, []string{"openid", "audit:read", "audit:write"}},
		{"none", `{` + exp + `}`, nil},
		{"neither a string nor an array", `{"scope":{"audit:read":true},"scp":7,` + exp + `}`, nil},
	}
	for _, c := range scopes {
		v, err := local.Authorizer{Secret: jwtSecret}.Verify(forge(`{"alg":"HS256"}`, c.claims, jwtSecret), now)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if fmt.Sprint(v.Scopes) != fmt.Sprint(c.want) {
			t.Errorf("%s: want scopes %v, got %v", c.name, c.want, v.Scopes)
		}
	}
}

// TestAuthorizer_ChecksIssuerAndAudienceAsAPIGatewayDoes: with an issuer configured, iss must
// be exactly it; with audiences configured, aud (a string or a list) must name one of them,
// and only a token without aud is judged by its client_id. Without either configured, any
// issuer and audience pass.
func TestAuthorizer_ChecksIssuerAndAudienceAsAPIGatewayDoes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	const iss = "https://login.example.no/realms/bufdir"
	configured := local.Authorizer{Secret: jwtSecret, Issuer: iss, Audiences: []string{"export-audit", "5kek0i61pgkokoob4fsm9fo9it"}}
	token := func(extra string) string {
		return forge(`{"alg":"HS256"}`, fmt.Sprintf(`{"sub":"usr-0042","exp":%d%s}`, now.Unix()+3600, extra), jwtSecret)
	}
	cases := []struct {
		name, token string
		refused     string // part of the reason; empty when the token is accepted
	}{
		{"aud a string", token(`,"iss":"` + iss + `","aud":"export-audit"`), ""},
		{"aud a list naming one", token(`,"iss":"` + iss + `","aud":["account","export-audit"]`), ""},
		{"no aud, client_id an audience (Cognito)", token(`,"iss":"` + iss + `","client_id":"5kek0i61pgkokoob4fsm9fo9it"`), ""},
		{"aud another", token(`,"iss":"` + iss + `","aud":"account"`), "audience"},
		{"aud a list naming none", token(`,"iss":"` + iss + `","aud":["account","broker"]`), "audience"},
		{"aud an empty list", token(`,"iss":"` + iss + `","aud":[],"client_id":"5kek0i61pgkokoob4fsm9fo9it"`), "audience"},
		{"aud another beside a client_id that is an audience", token(`,"iss":"` + iss + `","aud":"account","client_id":"5kek0i61pgkokoob4fsm9fo9it"`), "audience"},
		{"no aud, client_id another", token(`,"iss":"` + iss + `","client_id":"someone-else"`), "audience"},
		{"neither aud nor client_id", token(`,"iss":"` + iss + `"`), "audience"},
		{"aud a number", token(`,"iss":"` + iss + `","aud":7`), "audience"},
		{"aud a list with a number", token(`,"iss":"` + iss + `","aud":["export-audit",7]`), "malformed"},
		{"iss another", token(`,"iss":"https://login.example.no/realms/other","aud":"export-audit"`), "issuer"},
		{"iss with a trailing slash", token(`,"iss":"` + iss + `/","aud":"export-audit"`), "issuer"},
		{"no iss", token(`,"aud":"export-audit"`), "no iss"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := configured.Verify(c.token, now)
			switch {
			case c.refused == "" && err != nil:
				t.Fatalf("want the token accepted, got %v", err)
			case c.refused != "" && err == nil:
				t.Fatalf("want the token refused (%s), got it accepted", c.refused)
			case c.refused != "" && !strings.Contains(err.Error(), c.refused):
				t.Fatalf("want a refusal that says %q, got %q", c.refused, err)
			}
			if _, err := (local.Authorizer{Secret: jwtSecret}).Verify(c.token, now); c.refused != "malformed" && err != nil {
				t.Errorf("want any issuer and audience accepted when none is configured, got %v", err)
			}
		})
	}

	minted, err := configured.Token("org-bufdir-042", "usr-0042", []string{"audit:read"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := configured.Verify(minted, now)
	if err != nil || v.Claims["iss"] != iss || v.Claims["aud"] != "export-audit" {
		t.Errorf("want a token the authorizer accepts, issued by %s for export-audit, got %v %v", iss, v, err)
	}
	if _, err := (local.Authorizer{Secret: jwtSecret, Issuer: "https://login.example.no/realms/other"}).Verify(minted, now); err == nil {
		t.Error("want the minted token refused by another issuer")
	}
	if _, err := (local.Authorizer{Secret: jwtSecret, Audiences: []string{"another-api"}}).Verify(minted, now); err == nil {
		t.Error("want the minted token refused for another audience")
	}
}

// TestAuthorizerFromEnv reads the variables make run and make token share.
func TestAuthorizerFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	a, err := local.AuthorizerFromEnv(env(nil))
	if err != nil || a.Secret != local.DefaultSecret || a.Issuer != "" || a.Audiences != nil {
		t.Errorf("want the development key and no issuer or audience when nothing is set, got %+v %v", a, err)
	}
	a, err = local.AuthorizerFromEnv(env(map[string]string{
		"LOCAL_JWT_SECRET":   jwtSecret,
		"LOCAL_JWT_ISSUER":   " https://login.example.no/realms/bufdir ",
		"LOCAL_JWT_AUDIENCE": "export-audit, 5kek0i61pgkokoob4fsm9fo9it,,",
	}))
	if err != nil || a.Secret != jwtSecret || a.Issuer != "https://login.example.no/realms/bufdir" ||
		fmt.Sprint(a.Audiences) != "[export-audit 5kek0i61pgkokoob4fsm9fo9it]" {
		t.Errorf("want the key, the issuer and two audiences, got %+v %v", a, err)
	}
	if _, err := local.AuthorizerFromEnv(env(map[string]string{"LOCAL_JWT_SECRET": strings.Repeat("k", 32)})); err != nil {
		t.Errorf("want a key of 32 bytes accepted, got %v", err)
	}
	for _, short := range []string{strings.Repeat("k", 31), "changeme", " "} {
		_, err := local.AuthorizerFromEnv(env(map[string]string{"LOCAL_JWT_SECRET": short}))
		if err == nil {
			t.Errorf("want a key of %d bytes refused, got it accepted", len(short))
			continue
		}
		msg := err.Error()
		leaks := len(short) > 1 && strings.Contains(msg, short)
		if !strings.Contains(msg, "LOCAL_JWT_SECRET") || !strings.Contains(msg, "32 bytes") || strings.Contains(msg, "\n") || leaks {
			t.Errorf("want a key of %d bytes refused in one line that names LOCAL_JWT_SECRET and not the key, got %v", len(short), err)
		}
	}
}
