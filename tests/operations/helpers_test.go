package operations

const (
	single  = "/api/v1/bufdir-audit-records"
	doubled = single + single
)

const secret = "contract-test-secret-of-at-least-32-bytes"

var allScopes = []string{"audit:read", "audit:write", "audit:delete"}
