package contract

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/pkg/local"
)

// rsRoute is one route with a request that would succeed for the record's owner.
type rsRoute struct {
	name, method, path string
	body               map[string]any
	scope              string
}

func rsRoutes(prefix, id string) []rsRoute {
	return []rsRoute{
		{"list", "GET", prefix, nil, "audit:read"},
		{"get", "GET", prefix + "/" + id, nil, "audit:read"},
		{"create", "POST", prefix, rsBody("exp-iso-new"), "audit:write"},
		{"status", "PUT", prefix + "/" + id + "/status", map[string]any{"status": "processing"}, "audit:write"},
		{"file-url", "PUT", prefix + "/" + id + "/file-url", map[string]any{"file_url": "https://storage.example.no/iso.csv"}, "audit:write"},
		{"delete", "DELETE", prefix + "/" + id, nil, "audit:delete"},
	}
}

// rsForge makes a token from a raw header and claims, signed with secret ("" leaves the
// signature empty).
func rsForge(header string, claims map[string]any, secret string) string {
	b64 := base64.RawURLEncoding
	payload, _ := json.Marshal(claims)
	signing := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(payload)
	if secret == "" {
		return signing + "."
	}
	tok, _ := local.Sign(secret, claims)
	// Sign writes its own header; keep its signature only when the header is the standard one.
	if header == `{"alg":"HS256","typ":"JWT"}` {
		return tok
	}
	return signing + "." + tok[strings.LastIndex(tok, ".")+1:]
}

// TestIsolation_Matrix: every route on both prefixes, for a record of org alpha, called with
// no token, an expired one, a bad signature, alg none, a token of org beta, a token missing the
// route's scope, and an org_id in the query or body that is not the token's. Each answers
// 401, 403 or 404 as the contract says (beta's list and create work on beta's own data), and
// no answer ever carries alpha's organisation, record ids or export ids. Alpha's record is
// unchanged afterwards.
func TestIsolation_Matrix(t *testing.T) {
	t.Parallel()
	e := rsStart(t, nil)
	const alpha, beta = "org-iso-alpha", "org-iso-beta"
	alphaTok := rsToken(t, alpha, "usr-alpha")
	rec := rsOneRecord(t, e, alphaTok, "exp-iso-alpha-secret")
	e.rsMust(t, "PUT", rsBase+"/"+rec.RecordID+"/status", alphaTok, map[string]any{"status": "processing"})
	betaRec := rsOneRecord(t, e, rsToken(t, beta, "usr-beta"), "exp-iso-beta-1")
	before := e.rsScan(t)
	secrets := []string{alpha, rec.RecordID, rec.ExportID, "usr-alpha"}

	now := time.Now()
	claims := func(org string, scopes []string, exp time.Time) map[string]any {
		return map[string]any{"sub": "usr-beta", "org_id": org, "scope": strings.Join(scopes, " "), "exp": exp.Unix(), "iat": now.Unix()}
	}
	std := `{"alg":"HS256","typ":"JWT"}`
	badTokens := map[string]string{
		"no token":         "",
		"expired":          rsForge(std, claims(alpha, rsAllScopes, now.Add(-time.Minute)), rsSecret),
		"bad signature":    rsForge(std, claims(alpha, rsAllScopes, now.Add(time.Hour)), "another-secret"),
		"alg none":         rsForge(`{"alg":"none","typ":"JWT"}`, claims(alpha, rsAllScopes, now.Add(time.Hour)), ""),
		"alg None, signed": rsForge(`{"alg":"None","typ":"JWT"}`, claims(alpha, rsAllScopes, now.Add(time.Hour)), rsSecret),
		"alg HS512":        rsForge(`{"alg":"HS512","typ":"JWT"}`, claims(alpha, rsAllScopes, now.Add(time.Hour)), rsSecret),
		"no exp":           rsForge(std, map[string]any{"sub": "usr-beta", "org_id": alpha, "scope": strings.Join(rsAllScopes, " ")}, rsSecret),
		"not a JWT":        "not-a-token",
		"claims of alpha, re-signed payload": func() string {
			good := rsToken(t, beta, "usr-beta")
			parts := strings.Split(good, ".")
			forged, _ := json.Marshal(claims(alpha, rsAllScopes, now.Add(time.Hour)))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
		}(),
	}

	type check struct {
		name   string
		method string
		path   string
		token  string
		body   any
		status int
		code   string
	}
	var checks []check
	for _, p := range []string{rsBase, rsBase + rsBase} {
		for _, rt := range rsRoutes(p, rec.RecordID) {
			for name, tok := range badTokens {
				checks = append(checks, check{rt.name + "/" + name, rt.method, rt.path, tok, rt.body, 401, "unauthorized"})
			}
			// Beta's token: alpha's record does not exist for beta.
			betaTok := rsToken(t, beta, "usr-beta")
			switch rt.name {
			case "list", "create":
				checks = append(checks, check{rt.name + "/other organisation", rt.method, rt.path, betaTok, rt.body, 0, ""})
			default:
				checks = append(checks, check{rt.name + "/other organisation", rt.method, rt.path, betaTok, rt.body, 404, "not_found"})
			}
			// Alpha's own token without the route's scope, and with no scope at all.
			var others []string
			for _, s := range rsAllScopes {
				if s != rt.scope {
					others = append(others, s)
				}
			}
			checks = append(checks,
				check{rt.name + "/missing " + rt.scope, rt.method, rt.path, rsToken(t, alpha, "usr-alpha", others...), rt.body, 403, "insufficient_scope"},
				check{rt.name + "/no scope", rt.method, rt.path, rsToken(t, alpha, "usr-alpha", "openid"), rt.body, 403, "insufficient_scope"},
			)
			// Alpha's own token naming beta's organisation in the query, and in the body.
			checks = append(checks, check{rt.name + "/org_id query", rt.method, rt.path + "?org_id=" + beta, alphaTok, rt.body, 403, "forbidden_organisation"})
			if rt.body != nil {
				b := map[string]any{"org_id": beta}
				for k, v := range rt.body {
					b[k] = v
				}
				checks = append(checks, check{rt.name + "/org_id body", rt.method, rt.path, alphaTok, b, 403, "forbidden_organisation"})
			}
			// Beta's token naming alpha's organisation.
			checks = append(checks, check{rt.name + "/beta names alpha", rt.method, rt.path + "?org_id=" + alpha, betaTok, rt.body, 403, "forbidden_organisation"})
		}
	}
	for _, c := range checks {
		r, err := e.rsSend(c.method, c.path, c.token, c.body)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for _, s := range secrets {
			if strings.Contains(string(r.body), s) || strings.Contains(fmt.Sprint(r.header), s) {
				t.Errorf("%s: the answer carries alpha's %q: %s", c.name, s, r)
			}
		}
		if c.status == 0 {
			// Beta's list and create see beta's own data only.
			if r.status != http.StatusOK && r.status != http.StatusCreated {
				t.Errorf("%s: want beta's own list or create to work, got %s", c.name, r)
			}
			if c.method == "GET" && !strings.Contains(string(r.body), betaRec.RecordID) {
				t.Errorf("%s: want beta's list to hold beta's record %s, got %s", c.name, betaRec.RecordID, r)
			}
			continue
		}
		code, err := rsProblem(r, c.status)
		if err != nil {
			t.Errorf("%s %s %s: %v", c.name, c.method, c.path, err)
			continue
		}
		if code != c.code {
			t.Errorf("%s: want code %s, got %s", c.name, c.code, r)
		}
		if c.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: want a WWW-Authenticate challenge with a 401, got %v", c.name, r.header)
		}
	}
	after := e.rsScan(t)
	if a, b := after.records[alpha+"|"+rec.RecordID], before.records[alpha+"|"+rec.RecordID]; fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("want alpha's record unchanged:\n%+v\n%+v", b, a)
	}
	if after.stats[alpha] != 1 {
		t.Errorf("want alpha to have 1 live record, got %d", after.stats[alpha])
	}
	for k, r := range after.records {
		if strings.HasPrefix(k, beta+"|") && r.RecordID == rec.RecordID {
			t.Errorf("beta has a record with alpha's id %s", rec.RecordID)
		}
	}
	e.rsCheck(t)
	t.Logf("%d isolation checks on %d routes × 2 prefixes", len(checks), len(rsRoutes("", "")))
}
