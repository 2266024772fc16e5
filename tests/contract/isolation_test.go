package contract

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/local"
)

// forge makes a token from a raw header and claims, signed with secret ("" leaves the
// signature empty).
func forge(header string, claims map[string]any, secret string) string {
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
	e := startServer(t)
	const alpha, beta = "org-iso-alpha", "org-iso-beta"
	owner := e.as(t, alpha, "usr-alpha")
	alphaTok := owner.token
	rec := owner.create(t, testkit.NewRecord(testkit.Fields{"export_id": "exp-iso-alpha-secret"}))
	owner.move(t, rec.RecordID, "processing", rec.CreatedAt)
	betaRec := e.as(t, beta, "usr-beta").create(t, testkit.NewRecord(testkit.Fields{"export_id": "exp-iso-beta-1"}))
	before := e.Scan(t)
	secrets := []string{alpha, rec.RecordID, rec.ExportID, "usr-alpha"}

	now := time.Now()
	claims := func(org string, scopes []string, exp time.Time) map[string]any {
		return map[string]any{"sub": "usr-beta", "org_id": org, "scope": strings.Join(scopes, " "), "exp": exp.Unix(), "iat": now.Unix()}
	}
	std := `{"alg":"HS256","typ":"JWT"}`
	badTokens := map[string]string{
		"no token":         "",
		"expired":          forge(std, claims(alpha, testkit.AllScopes, now.Add(-time.Minute)), testkit.Secret),
		"bad signature":    forge(std, claims(alpha, testkit.AllScopes, now.Add(time.Hour)), "another-secret"),
		"alg none":         forge(`{"alg":"none","typ":"JWT"}`, claims(alpha, testkit.AllScopes, now.Add(time.Hour)), ""),
		"alg None, signed": forge(`{"alg":"None","typ":"JWT"}`, claims(alpha, testkit.AllScopes, now.Add(time.Hour)), testkit.Secret),
		"alg HS512":        forge(`{"alg":"HS512","typ":"JWT"}`, claims(alpha, testkit.AllScopes, now.Add(time.Hour)), testkit.Secret),
		"no exp":           forge(std, map[string]any{"sub": "usr-beta", "org_id": alpha, "scope": strings.Join(testkit.AllScopes, " ")}, testkit.Secret),
		"not a JWT":        "not-a-token",
		"claims of alpha, re-signed payload": func() string {
			good := testkit.Token(t, beta, "usr-beta")
			parts := strings.Split(good, ".")
			forged, _ := json.Marshal(claims(alpha, testkit.AllScopes, now.Add(time.Hour)))
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
	for _, p := range prefixes {
		for _, rt := range routesOf(p.path, rec.RecordID) {
			for name, tok := range badTokens {
				checks = append(checks, check{rt.name + "/" + name, rt.method, rt.path, tok, rt.body, 401, "unauthorized"})
			}
			// Beta's token: alpha's record does not exist for beta.
			betaTok := testkit.Token(t, beta, "usr-beta")
			switch rt.name {
			case "list", "create":
				checks = append(checks, check{rt.name + "/other organisation", rt.method, rt.path, betaTok, rt.body, 0, ""})
			default:
				checks = append(checks, check{rt.name + "/other organisation", rt.method, rt.path, betaTok, rt.body, 404, "not_found"})
			}
			// Alpha's own token without the route's scope, and with no scope at all.
			var others []string
			for _, s := range testkit.AllScopes {
				if s != rt.scope {
					others = append(others, s)
				}
			}
			checks = append(checks,
				check{rt.name + "/missing " + rt.scope, rt.method, rt.path, testkit.Token(t, alpha, "usr-alpha", others...), rt.body, 403, "insufficient_scope"},
				check{rt.name + "/no scope", rt.method, rt.path, testkit.Token(t, alpha, "usr-alpha", "openid"), rt.body, 403, "insufficient_scope"},
			)
			// Alpha's own token naming beta's organisation in the query, and in the body.
			checks = append(checks, check{rt.name + "/org_id query", rt.method, rt.path + "?org_id=" + beta, alphaTok, rt.body, 403, "forbidden_organisation"})
			if rt.body != nil {
				b := map[string]any{"org_id": beta}
				for k, v := range rt.body.(testkit.Fields) {
					b[k] = v
				}
				checks = append(checks, check{rt.name + "/org_id body", rt.method, rt.path, alphaTok, b, 403, "forbidden_organisation"})
			}
			// Beta's token naming alpha's organisation.
			checks = append(checks, check{rt.name + "/beta names alpha", rt.method, rt.path + "?org_id=" + alpha, betaTok, rt.body, 403, "forbidden_organisation"})
		}
	}
	for _, c := range checks {
		r, err := e.Send(c.method, c.path, c.token, c.body)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for _, s := range secrets {
			if strings.Contains(string(r.Body), s) || strings.Contains(fmt.Sprint(r.Header), s) {
				t.Errorf("%s: the answer carries alpha's %q: %s", c.name, s, r)
			}
		}
		if c.status == 0 {
			// Beta's list and create see beta's own data only.
			if r.Status != http.StatusOK && r.Status != http.StatusCreated {
				t.Errorf("%s: want beta's own list or create to work, got %s", c.name, r)
			}
			if c.method == "GET" && !strings.Contains(string(r.Body), betaRec.RecordID) {
				t.Errorf("%s: want beta's list to hold beta's record %s, got %s", c.name, betaRec.RecordID, r)
			}
			continue
		}
		p, err := r.ParseProblem(c.status)
		if err != nil {
			t.Errorf("%s %s %s: %v", c.name, c.method, c.path, err)
			continue
		}
		if p["code"] != c.code {
			t.Errorf("%s: want code %s, got %s", c.name, c.code, r)
		}
		if c.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: want a WWW-Authenticate challenge with a 401, got %v", c.name, r.Header)
		}
	}
	after := e.Scan(t)
	if a, b := after.Records[alpha+"|"+rec.RecordID], before.Records[alpha+"|"+rec.RecordID]; fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("want alpha's record unchanged:\n%+v\n%+v", b, a)
	}
	if after.Stats[alpha] != 1 {
		t.Errorf("want alpha to have 1 live record, got %d", after.Stats[alpha])
	}
	for k, r := range after.Records {
		if strings.HasPrefix(k, beta+"|") && r.RecordID == rec.RecordID {
			t.Errorf("beta has a record with alpha's id %s", rec.RecordID)
		}
	}
	e.Check(t)
	t.Logf("%d isolation checks on %d routes × 2 prefixes", len(checks), len(routesOf("", "")))
}
