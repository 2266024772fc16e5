package api

import (
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/audit"
)

// Identity is who calls, from the claims the JWT authorizer verified.
type Identity struct {
	Sub    string
	OrgID  string
	Scopes map[string]bool
}

// identify reads the caller from the event. In AWS the HTTP API's JWT authorizer has already
// verified the token; locally the local API has. The handler still refuses an event without
// claims, so that a route deployed without the authorizer fails closed.
func identify(ev *events.APIGatewayV2HTTPRequest, orgClaim string) (Identity, error) {
	auth := ev.RequestContext.Authorizer
	if auth == nil || auth.JWT == nil || len(auth.JWT.Claims) == 0 {
		return Identity{}, problem(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
	}
	claims := auth.JWT.Claims
	id := Identity{Sub: claims["sub"], OrgID: claims[orgClaim], Scopes: map[string]bool{}}
	if id.Sub == "" {
		return Identity{}, problem(http.StatusUnauthorized, "unauthorized", "the token names no subject")
	}
	if !audit.ValidIdentifier(id.OrgID) {
		return Identity{}, problem(http.StatusForbidden, "no_organisation", "the token names no valid organisation in claim "+orgClaim)
	}
	// API Gateway's authorizer reads scopes from scope or scp, whichever the identity provider
	// sends (Keycloak and Cognito: scope; Okta and Azure AD: scp), so the handler reads both, and
	// the authorizer's own list when it hands one over.
	for _, name := range []string{"scope", "scp"} {
		for _, s := range claimItems(claims[name]) {
			id.Scopes[s] = true
		}
	}
	for _, s := range auth.JWT.Scopes {
		id.Scopes[s] = true
	}
	return id, nil
}

// claimItems reads a claim that holds a list. A token's claim may be a space-separated string
// (scope, Azure AD's scp) or a JSON array (Okta's scp); API Gateway hands a function every
// claim as a string and writes an array as its items between brackets, space-separated:
// ["audit:read","audit:write"] arrives as "[audit:read audit:write]".
func claimItems(v string) []string {
	if len(v) >= 2 && v[0] == '[' && v[len(v)-1] == ']' {
		v = v[1 : len(v)-1]
	}
	return strings.Fields(v)
}

// sameOrg refuses an org_id given in a body or query that is not the caller's; an empty one
// is not the caller's either.
func (id Identity) sameOrg(given string) error {
	if given != id.OrgID {
		return problem(http.StatusForbidden, "forbidden_organisation", "org_id must be the organisation of the token")
	}
	return nil
}
