package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/api"
)

// TestIdentify_ReadsScopesAsAPIGatewayHandsThem reads one record of fzOrg with the claims API
// Gateway's JWT authorizer hands a payload 2.0 function for tokens of real identity providers.
// The authorizer hands every claim as a string: numbers and booleans as text, a JSON array as
// its items between brackets ("[a b]"), an object as JSON. jwt.scopes is null where the route
// has no authorization scopes, so the claims alone must do.
func TestIdentify_ReadsScopesAsAPIGatewayHandsThem(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		claims map[string]string
		scopes []string // requestContext.authorizer.jwt.scopes
		status int
		code   string // of the problem, when status is not 200
	}{
		{"Keycloak: scope, a space-separated string; aud a list", map[string]string{
			"exp": "1772359200", "iat": "1772355600", "jti": "0c4f5a1e-4be0-4c43-b6a4-7c1f3e3a9d21",
			"iss": "https://login.example.no/realms/bufdir", "aud": "[export-audit account]", "sub": "usr-fuzz",
			"typ": "Bearer", "azp": "export-service", "scope": "openid profile audit:read", "email_verified": "false",
			"realm_access": `{"roles":["offline_access","uma_authorization"]}`, "org_id": fzOrg,
		}, nil, 200, ""},
		{"Okta: scp, a JSON array, flattened", map[string]string{
			"ver": "1", "jti": "AT.9mXyHT2Ku8wKXfd5RjxTxd6yWj5rF-cY0Mv2VxMkbC8", "iss": "https://bufdir.okta.com/oauth2/default",
			"aud": "api://export-audit", "iat": "1772355600", "exp": "1772359200", "cid": "0oa1x2y3z4AbCdEfG5d7",
			"uid": "00u1a2b3c4DeFgHiJ5d7", "scp": "[audit:read audit:write]", "auth_time": "1772355590", "sub": "usr-fuzz",
			"org_id": fzOrg,
		}, nil, 200, ""},
		{"Okta: scp with one item", map[string]string{"sub": "usr-fuzz", "org_id": fzOrg, "scp": "[audit:read]", "exp": "1772359200"}, nil, 200, ""},
		{"Azure AD: scp, a space-separated string", map[string]string{
			"aud": "api://export-audit", "iss": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
			"iat": "1772355600", "nbf": "1772355600", "exp": "1772359200", "azp": "6e74172b-be56-4843-9ff4-e66a39bb12e3",
			"azpacr": "0", "name": "Kari Nordmann", "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
			"preferred_username": "kari@bufdir.no", "scp": "audit:read audit:write", "sub": "usr-fuzz",
			"tid": "9188040d-6c67-4c5b-b112-36a304b66dad", "ver": "2.0", "org_id": fzOrg,
		}, nil, 200, ""},
		{"Cognito access token: scope, client_id and no aud", map[string]string{
			"sub": "usr-fuzz", "cognito:groups": "[org-admins]", "iss": "https://cognito-idp.eu-north-1.amazonaws.com/eu-north-1_AbCdEfGhI",
			"version": "2", "client_id": "5kek0i61pgkokoob4fsm9fo9it", "origin_jti": "2c496ec9-8d59-4e03-913f-ca934fb3e078",
			"token_use": "access", "scope": "audit:read", "auth_time": "1772355590", "exp": "1772359200", "iat": "1772355600",
			"jti": "afa8fe33-607e-4fdb-99ac-81c27d1ddc73", "username": "kari", "org_id": fzOrg,
		}, nil, 200, ""},
		{"only the authorizer's scopes", map[string]string{"sub": "usr-fuzz", "org_id": fzOrg}, []string{"audit:read"}, 200, ""},
		{"the authorizer's scopes beside the claim", map[string]string{"sub": "usr-fuzz", "org_id": fzOrg, "scp": "[audit:read audit:write]"},
			[]string{"audit:read", "audit:write"}, 200, ""},

		{"scp list without the route's scope", map[string]string{"sub": "usr-fuzz", "org_id": fzOrg, "scp": "[audit:write audit:delete]"}, nil, 403, "insufficient_scope"},
		{"scope string without the route's scope", map[string]string{"sub": "usr-fuzz", "org_id": fzOrg, "scope": "openid audit:write"}, nil, 403, "insufficient_scope"},
		{"a scope that only starts like the route's", map[string]string{"sub": "usr-fuzz", "org_id": fzOrg, "scp": "[audit:readonly]", "scope": "audit:read-all"}, nil, 403, "insufficient_scope"},
		{"brackets inside a scope string are not a list", map[string]string{"sub": "usr-fuzz", "org_id": fzOrg, "scope": "x [audit:read]"}, nil, 403, "insufficient_scope"},
		{"an organisation claim that is a list names no organisation", map[string]string{
			"sub": "usr-fuzz", "org_id": "[" + fzOrg + " org-other]", "scope": "audit:read"}, nil, 403, "no_organisation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ev := fzEvent(api.GetRecord, "rec-20260301-001", "", "", "", false)
			ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: c.claims, Scopes: c.scopes},
			}
			resp := fzServe(t, api.GetRecord, ev)
			if resp.StatusCode != c.status {
				t.Fatalf("want %d, got %d %s", c.status, resp.StatusCode, resp.Body)
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
				t.Fatal(err)
			}
			if c.status == http.StatusOK {
				if body["record_id"] != "rec-20260301-001" || body["org_id"] != fzOrg {
					t.Errorf("want the record of %s, got %s", fzOrg, resp.Body)
				}
				return
			}
			if body["code"] != c.code {
				t.Errorf("want code %s, got %s", c.code, resp.Body)
			}
		})
	}
}
