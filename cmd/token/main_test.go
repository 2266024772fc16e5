package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/pkg/local"
)

// TestRun_PrintsATokenTheLocalAPIAcceptsWithTheSameVariables: make token reads the variables
// make run reads, so the token it prints passes the local API's issuer and audience checks.
func TestRun_PrintsATokenTheLocalAPIAcceptsWithTheSameVariables(t *testing.T) {
	t.Parallel()
	now := time.Now()
	cases := []struct {
		name      string
		env       map[string]string
		iss, aud  string
		otherwise map[string]string // an environment whose local API refuses the token
	}{
		{"nothing set", nil, "bufdir-audit-local", "", map[string]string{"LOCAL_JWT_SECRET": "another-secret-of-at-least-32-bytes!"}},
		{"issuer and audiences", map[string]string{
			"LOCAL_JWT_SECRET":   "make-token-test-secret-of-32-bytes!!",
			"LOCAL_JWT_ISSUER":   "https://login.example.no/realms/bufdir",
			"LOCAL_JWT_AUDIENCE": "export-audit,export-audit-test",
		}, "https://login.example.no/realms/bufdir", "export-audit", map[string]string{
			"LOCAL_JWT_SECRET":   "make-token-test-secret-of-32-bytes!!",
			"LOCAL_JWT_ISSUER":   "https://login.example.no/realms/bufdir",
			"LOCAL_JWT_AUDIENCE": "another-api",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string { return c.env[k] }
			var out, errOut bytes.Buffer
			code := run([]string{"-org", "org-bufdir-007", "-sub", "usr-0007", "-scopes", "audit:read audit:write"}, getenv, &out, &errOut, now)
			if code != 0 || errOut.Len() != 0 {
				t.Fatalf("want exit 0 and nothing on stderr, got %d %q", code, errOut.String())
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("want one line, the token, got %q", out.String())
			}
			auth, err := local.AuthorizerFromEnv(getenv)
			if err != nil {
				t.Fatal(err)
			}
			v, err := auth.Verify(lines[0], now)
			if err != nil {
				t.Fatalf("want the token accepted with the same variables, got %v", err)
			}
			want := map[string]string{"org_id": "org-bufdir-007", "sub": "usr-0007", "scope": "audit:read audit:write", "iss": c.iss, "aud": c.aud}
			for k, w := range want {
				if v.Claims[k] != w {
					t.Errorf("want %s %q, got %q", k, w, v.Claims[k])
				}
			}
			other, err := local.AuthorizerFromEnv(func(k string) string { return c.otherwise[k] })
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Verify(lines[0], now); err == nil {
				t.Errorf("want the token refused by a local API with %v", c.otherwise)
			}
		})
	}
}

// TestRun_RefusesAShortKey: a LOCAL_JWT_SECRET the local API would refuse gives no token, and
// one line on stderr that names the variable.
func TestRun_RefusesAShortKey(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return map[string]string{"LOCAL_JWT_SECRET": "changeme"}[k] }
	code := run(nil, getenv, &out, &errOut, time.Now())
	msg := errOut.String()
	if code != 1 || out.Len() != 0 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "LOCAL_JWT_SECRET") || strings.Contains(msg, "changeme") {
		t.Errorf("want exit 1, no token and one line naming LOCAL_JWT_SECRET, got %d %q %q", code, out.String(), msg)
	}
}
