// Command token prints an HS256 token for the local API, and nothing else, so that
// TOKEN=$(make -s token ORG=... SUB=... SCOPES="...") works. It reads the local API's
// LOCAL_JWT_SECRET, LOCAL_JWT_ISSUER and LOCAL_JWT_AUDIENCE, so that the token is one the
// local API started with the same variables accepts.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bufdir/export-audit/pkg/local"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, time.Now()))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer, now time.Time) int {
	flags := flag.NewFlagSet("token", flag.ContinueOnError)
	flags.SetOutput(stderr)
	org := flags.String("org", "", "organisation id (claim org_id)")
	sub := flags.String("sub", "", "user id (claim sub)")
	scopes := flags.String("scopes", "audit:read audit:write audit:delete", "space-separated scopes")
	ttl := flags.Duration("ttl", 12*time.Hour, "how long the token is valid")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *org == "" {
		*org = "org-bufdir-042"
	}
	if *sub == "" {
		*sub = "usr-0042"
	}
	if strings.TrimSpace(*scopes) == "" {
		*scopes = "audit:read audit:write audit:delete"
	}
	auth, err := local.AuthorizerFromEnv(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 1
	}
	t, err := auth.Token(*org, *sub, strings.Fields(*scopes), *ttl, now)
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 1
	}
	fmt.Fprintln(stdout, t)
	return 0
}
