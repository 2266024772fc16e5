package contract

// Tokens and scopes, as API Gateway's JWT authorizer checks them, and the organisation a token
// names.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/local"
)

// TestAuth_RefusesMissingBadAndExpiredTokens sends every route, under both prefixes, tokens
// API Gateway's JWT authorizer refuses, and checks that nothing was written.
func TestAuth_RefusesMissingBadAndExpiredTokens(t *testing.T) {
	t.Parallel()
	owner := newOwner(t)
	rec := owner.create(t, testkit.NewRecord(nil))
	before := owner.get(t, single+"/"+rec.RecordID)

	now := time.Now()
	valid := owner.token
	parts := strings.Split(valid, ".")
	claims := map[string]any{"sub": "usr-0042", "org_id": "org-bufdir-042", "scope": strings.Join(testkit.AllScopes, " "), "exp": now.Add(time.Hour).Unix()}
	payload, _ := json.Marshal(claims)
	otherOrg, _ := json.Marshal(map[string]any{"sub": "usr-0042", "org_id": "org-other", "scope": "audit:read", "exp": now.Add(time.Hour).Unix()})
	b64 := base64.RawURLEncoding.EncodeToString
	sign := func(c map[string]any) string {
		tok, err := local.Sign(testkit.Secret, c)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return tok
	}
	otherSecret, _ := local.Token("not-the-secret", "org-bufdir-042", "usr-0042", testkit.AllScopes, time.Hour, now)
	expired, _ := local.Token(testkit.Secret, "org-bufdir-042", "usr-0042", testkit.AllScopes, time.Hour, now.Add(-2*time.Hour))

	tokens := []struct {
		name, header string
	}{
		{"no token", ""},
		{"empty bearer", "Bearer "},
		{"basic scheme", "Basic dXNyLTAwNDI6cGFzc3dvcmQ="},
		{"token without scheme", valid},
		{"not a JWT", "Bearer not-a-jwt"},
		{"bad signature", "Bearer " + otherSecret},
		{"payload changed after signing", "Bearer " + parts[0] + "." + b64(otherOrg) + "." + parts[2]},
		{"expired", "Bearer " + expired},
		{"not valid yet", "Bearer " + sign(map[string]any{"sub": "usr-0042", "org_id": "org-bufdir-042", "scope": "audit:read audit:write audit:delete", "exp": now.Add(2 * time.Hour).Unix(), "nbf": now.Add(time.Hour).Unix()})},
		{"no exp", "Bearer " + sign(map[string]any{"sub": "usr-0042", "org_id": "org-bufdir-042", "scope": "audit:read audit:write audit:delete"})},
		{"alg none unsigned", "Bearer " + b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + "."},
		{"alg none with the HS256 signature", "Bearer " + b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]},
		{"alg HS512", "Bearer " + b64([]byte(`{"alg":"HS512","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]},
		// Signed with the right key, so that only the algorithm check can refuse them.
		{"alg none signed with the secret", "Bearer " + signAs(`{"alg":"none","typ":"JWT"}`, parts[1])},
		{"alg HS512 signed with the secret", "Bearer " + signAs(`{"alg":"HS512","typ":"JWT"}`, parts[1])},
	}
	t.Run("refused", func(t *testing.T) {
		for _, p := range prefixes {
			for _, rt := range routesOf(p.path, rec.RecordID) {
				for _, tok := range tokens {
					t.Run(p.name+"/"+rt.name+"/"+tok.name, func(t *testing.T) {
						t.Parallel()
						r := owner.srv.MustDo(t, testkit.Request{Method: rt.method, Path: rt.path, Auth: tok.header, Body: rt.body})
						testkit.WantProblem(t, r, http.StatusUnauthorized, "unauthorized")
						testkit.WantNotContain(t, r, rec.ExportID)
					})
				}
			}
		}
	})
	owner.wantUnchanged(t, rec.RecordID, before, "refused calls to change nothing")
	owner.wantTotal(t, "", 1, "refused creates to write nothing")
}

// TestAuth_EachRouteNeedsItsScope: a token with every scope but the route's is refused with 403;
// a token with only the route's scope is served.
func TestAuth_EachRouteNeedsItsScope(t *testing.T) {
	t.Parallel()
	owner := newOwner(t)
	for _, p := range prefixes {
		for _, rt := range routesOf(p.path, "") {
			t.Run(p.name+"/"+rt.name, func(t *testing.T) {
				t.Parallel()
				rec := owner.create(t, testkit.NewRecord(nil))
				rt := routesOf(p.path, rec.RecordID)[indexOf(rt.name)]
				var others []string
				for _, sc := range testkit.AllScopes {
					if sc != rt.scope {
						others = append(others, sc)
					}
				}
				refused := owner.srv.as(t, owner.org, owner.sub, others...).do(t, rt.method, rt.path, rt.body)
				testkit.WantProblem(t, refused, http.StatusForbidden, "insufficient_scope")

				if got := owner.get(t, single+"/"+rec.RecordID); got.Status != http.StatusOK || got.Record(t).Status != "queued" {
					t.Errorf("want the refused call to change nothing, got %s", got)
				}

				served := owner.srv.as(t, owner.org, owner.sub, rt.scope).do(t, rt.method, rt.path, rt.body)
				testkit.WantStatus(t, served, rt.success)
			})
		}
	}
}

// signAs signs a token of header and payload (base64url) with the test secret by HMAC-SHA256,
// whatever algorithm the header names.
func signAs(header, payload string) string {
	signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + payload
	h := hmac.New(sha256.New, []byte(testkit.Secret))
	h.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func TestAuth_OrgIDMustBeTheTokens(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	for _, p := range prefixes {
		t.Run(p.name, func(t *testing.T) {
			testkit.WantProblem(t, c.post(t, p.path, testkit.NewRecord(testkit.Fields{"org_id": "org-bufdir-043"})), http.StatusForbidden, "forbidden_organisation")
			testkit.WantProblem(t, c.get(t, p.path+"?org_id=org-bufdir-043"), http.StatusForbidden, "forbidden_organisation")
			// An empty org_id names no organisation, so it is not the token's either.
			testkit.WantProblem(t, c.post(t, p.path, testkit.NewRecord(testkit.Fields{"org_id": ""})), http.StatusForbidden, "forbidden_organisation")
			testkit.WantProblem(t, c.get(t, p.path+"?org_id="), http.StatusForbidden, "forbidden_organisation")

			own := c.post(t, p.path, testkit.NewRecord(testkit.Fields{"org_id": "org-bufdir-042"}))
			testkit.WantStatus(t, own, http.StatusCreated)
			if rec := own.Record(t); rec.OrgID != "org-bufdir-042" {
				t.Errorf("want org_id org-bufdir-042, got %s", own)
			}
			testkit.WantStatus(t, c.get(t, p.path+"?org_id=org-bufdir-042"), http.StatusOK)
		})
	}
	c.wantTotal(t, "", 2, "only the two creates for the token's own organisation stored")
}
