// Command token prints an HS256 token for the local API, and nothing else, so that
// TOKEN=$(make -s token ORG=... SUB=... SCOPES="...") works.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bufdir/export-audit/pkg/local"
)

func main() {
	org := flag.String("org", "", "organisation id (claim org_id)")
	sub := flag.String("sub", "", "user id (claim sub)")
	scopes := flag.String("scopes", "audit:read audit:write audit:delete", "space-separated scopes")
	ttl := flag.Duration("ttl", 12*time.Hour, "how long the token is valid")
	flag.Parse()
	if *org == "" {
		*org = "org-bufdir-042"
	}
	if *sub == "" {
		*sub = "usr-0042"
	}
	if strings.TrimSpace(*scopes) == "" {
		*scopes = "audit:read audit:write audit:delete"
	}
	secret := os.Getenv("LOCAL_JWT_SECRET")
	if secret == "" {
		secret = local.DefaultSecret
	}
	t, err := local.Token(secret, *org, *sub, strings.Fields(*scopes), *ttl, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(t)
}
