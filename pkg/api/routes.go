package api

// BasePath is the canonical prefix of every route.
const BasePath = "/api/v1/bufdir-audit-records"

// DoubledBasePath is the prefix the source API document prints (the base path twice). Clients
// generated from that document literally must work, so every route is served under it too.
const DoubledBasePath = BasePath + BasePath

// Scopes a token may carry.
const (
	ScopeRead   = "audit:read"
	ScopeWrite  = "audit:write"
	ScopeDelete = "audit:delete"
)

// Route is one endpoint: the Lambda function that serves it, its method, its path below a
// prefix and the scope it needs. The local API, the CDK stack and template.yaml are all
// checked against this table.
type Route struct {
	Function string // functions/<Function>, also the Lambda's logical name stem
	Method   string
	Path     string // below the prefix; "" for the collection, API Gateway {param} syntax
	Scope    string
}

// Routes lists every endpoint once; each is served under BasePath and DoubledBasePath.
var Routes = []Route{
	{Function: "list-records", Method: "GET", Path: "", Scope: ScopeRead},
	{Function: "get-record", Method: "GET", Path: "/{record_id}", Scope: ScopeRead},
	{Function: "create-record", Method: "POST", Path: "", Scope: ScopeWrite},
	{Function: "update-status", Method: "PUT", Path: "/{record_id}/status", Scope: ScopeWrite},
	{Function: "attach-file-url", Method: "PUT", Path: "/{record_id}/file-url", Scope: ScopeWrite},
	{Function: "delete-record", Method: "DELETE", Path: "/{record_id}", Scope: ScopeDelete},
}

// Prefixes are the two base paths every route is served under, canonical first.
var Prefixes = []string{BasePath, DoubledBasePath}
