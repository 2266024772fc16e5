package contract

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/local"
)

// idpClaims are the claims of access tokens as four identity providers issue them, for org and
// sub, with the scopes of the token in each provider's own claim and form.
func idpClaims(provider, org, sub string, now time.Time, scopes ...string) map[string]any {
	iat, exp := now.Unix(), now.Add(time.Hour).Unix()
	list := make([]any, len(scopes))
	for i, s := range scopes {
		list[i] = s
	}
	joined := strings.Join(scopes, " ")
	var c map[string]any
	switch provider {
	case "okta": // scp, a JSON array
		c = map[string]any{"ver": 1, "jti": "AT.9mXyHT2Ku8wKXfd5RjxTxd6yWj5rF-cY0Mv2VxMkbC8",
			"iss": "https://bufdir.okta.com/oauth2/default", "aud": "api://export-audit", "cid": "0oa1x2y3z4AbCdEfG5d7",
			"uid": "00u1a2b3c4DeFgHiJ5d7", "scp": list, "auth_time": iat - 10}
	case "azure": // scp, a space-separated string
		c = map[string]any{"aud": "api://export-audit", "iss": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
			"nbf": iat, "azp": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "azpacr": "0", "name": "Kari Nordmann",
			"oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474", "preferred_username": "kari@bufdir.no", "scp": joined,
			"tid": "9188040d-6c67-4c5b-b112-36a304b66dad", "ver": "2.0", "roles": []any{"Exports.Admin"}}
	case "keycloak": // scope, a space-separated string; aud a list
		c = map[string]any{"jti": "0c4f5a1e-4be0-4c43-b6a4-7c1f3e3a9d21", "iss": "https://login.example.no/realms/bufdir",
			"aud": []any{"export-audit", "account"}, "typ": "Bearer", "azp": "export-service", "scope": "openid profile " + joined,
			"email_verified": false, "realm_access": map[string]any{"roles": []any{"offline_access", "uma_authorization"}}}
	case "cognito": // scope, a space-separated string; client_id and no aud
		c = map[string]any{"cognito:groups": []any{"org-admins"}, "iss": "https://cognito-idp.eu-north-1.amazonaws.com/eu-north-1_AbCdEfGhI",
			"version": 2, "client_id": "5kek0i61pgkokoob4fsm9fo9it", "origin_jti": "2c496ec9-8d59-4e03-913f-ca934fb3e078",
			"token_use": "access", "scope": joined, "auth_time": iat - 10, "username": "kari"}
	}
	c["sub"], c["org_id"], c["iat"], c["exp"] = sub, org, iat, exp
	return c
}

// TestIdentity_TokensOfRealIdentityProviders: over HTTP, tokens shaped as Okta, Azure AD,
// Keycloak and Cognito issue them are served by their scopes, wherever the provider puts them,
// and refused with 403 on a route whose scope they lack.
func TestIdentity_TokensOfRealIdentityProviders(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	for _, provider := range []string{"okta", "azure", "keycloak", "cognito"} {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			org, sub := "org-idp-"+provider, "usr-"+provider
			as := func(scopes ...string) caller {
				tok, err := local.Sign(testkit.Secret, idpClaims(provider, org, sub, time.Now(), scopes...))
				if err != nil {
					t.Fatal(err)
				}
				return caller{srv: s, org: org, sub: sub, token: tok}
			}
			writer, reader := as("audit:read", "audit:write"), as("audit:read")

			rec := writer.create(t, testkit.NewRecord(nil))
			if rec.OrgID != org || rec.TriggeredBy != sub {
				t.Errorf("want a record of %s triggered by %s, got %+v", org, sub, rec)
			}
			if got := reader.get(t, single+"/"+rec.RecordID); got.Status != http.StatusOK || got.Record(t).RecordID != rec.RecordID {
				t.Errorf("want the record read with audit:read, got %s", got)
			}
			testkit.WantProblem(t, reader.post(t, single, testkit.NewRecord(nil)), http.StatusForbidden, "insufficient_scope")
			testkit.WantProblem(t, as("audit:write", "audit:delete").get(t, single), http.StatusForbidden, "insufficient_scope")
			testkit.WantProblem(t, as().get(t, single), http.StatusForbidden, "insufficient_scope")
			reader.wantTotal(t, "", 1, "the one record created")
		})
	}
}

// TestIdentity_IssuerAndAudienceCheckedAsAPIGatewayDoes: a local API started with an issuer and
// audiences (LOCAL_JWT_ISSUER, LOCAL_JWT_AUDIENCE) serves the tokens API Gateway's authorizer
// would accept with the same settings and refuses the others with 401, writing nothing.
func TestIdentity_IssuerAndAudienceCheckedAsAPIGatewayDoes(t *testing.T) {
	t.Parallel()
	const iss, clientID = "https://login.example.no/realms/bufdir", "5kek0i61pgkokoob4fsm9fo9it"
	auth := local.Authorizer{Secret: testkit.Secret, Issuer: iss, Audiences: []string{"export-audit", clientID}}
	s := startServerWith(t, localrun.Options{Auth: auth})
	const org = "org-idp-checked"
	sign := func(provider string, change map[string]any) caller {
		c := idpClaims(provider, org, "usr-checked", time.Now(), "audit:read", "audit:write")
		for k, v := range change {
			if v == nil {
				delete(c, k)
				continue
			}
			c[k] = v
		}
		tok, err := local.Sign(testkit.Secret, c)
		if err != nil {
			t.Fatal(err)
		}
		return caller{srv: s, org: org, sub: "usr-checked", token: tok}
	}
	minted, err := auth.Token(org, "usr-checked", testkit.AllScopes, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := local.Token(testkit.Secret, org, "usr-checked", testkit.AllScopes, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	accepted := map[string]caller{
		"Keycloak, aud a list naming the API": sign("keycloak", nil),
		"Cognito, client_id and no aud":       sign("cognito", map[string]any{"iss": iss}),
		"minted with the same settings":       {srv: s, org: org, sub: "usr-checked", token: minted},
	}
	for name, c := range accepted {
		if r := c.post(t, single, testkit.NewRecord(nil)); r.Status != http.StatusCreated {
			t.Errorf("%s: want 201, got %s", name, r)
		}
	}
	refused := map[string]caller{
		"another issuer (Okta's), for the API": sign("okta", map[string]any{"aud": "export-audit"}),
		"no issuer":                            sign("keycloak", map[string]any{"iss": nil}),
		"aud naming another API":               sign("keycloak", map[string]any{"aud": []any{"account"}}),
		"aud another, client_id the API's":     sign("keycloak", map[string]any{"aud": "account", "client_id": clientID}),
		"no aud, client_id another":            sign("cognito", map[string]any{"iss": iss, "client_id": "someone-else"}),
		"made without issuer and audience":     {srv: s, org: org, sub: "usr-checked", token: plain},
		"the issuer's, for another audience":   {srv: s, org: org, sub: "usr-checked", token: sign("azure", map[string]any{"iss": iss}).token},
	}
	for name, c := range refused {
		r := c.post(t, single, testkit.NewRecord(nil))
		if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), `"unauthorized"`) {
			t.Errorf("%s: want 401 unauthorized, got %s", name, r)
		}
	}
	sign("keycloak", nil).wantTotal(t, "", len(accepted), "only the accepted creates stored")
}

// TestStart_RefusesAShortKey: the local API does not start with a key shorter than 32 bytes.
func TestStart_RefusesAShortKey(t *testing.T) {
	t.Parallel()
	run, err := localrun.Start(context.Background(), testkit.WithDefaults(localrun.Options{
		Auth: local.Authorizer{Secret: "bufdir-local-development-secret"},
	}))
	if err == nil {
		run.Close()
		t.Fatal("want the local API refused with a 31-byte key, it started")
	}
	if run != nil || !strings.Contains(err.Error(), "LOCAL_JWT_SECRET") {
		t.Errorf("want no API and an error naming LOCAL_JWT_SECRET, got %v %v", run, err)
	}
}
