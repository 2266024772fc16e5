package config

// BasePath is the canonical prefix of every route.
const BasePath = "/api/v1/bufdir-audit-records"

// DoubledBasePath is the prefix the source API document prints (the base path twice). Clients
// generated from that document literally must work, so every route is served under it too.
const DoubledBasePath = BasePath + BasePath

// Prefixes are the two base paths every route is served under, canonical first.
var Prefixes = []string{BasePath, DoubledBasePath}

// Scopes a token may carry.
const (
	ScopeRead   = "audit:read"
	ScopeWrite  = "audit:write"
	ScopeDelete = "audit:delete"
)

// Route is one endpoint: the Lambda function that serves it, its method, its path below a
// prefix and the scope it needs. The handlers, the local API, the CDK stack and template.yaml
// are all checked against this table.
type Route struct {
	Function string // the Function's Name
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

// Function is one Lambda function of the service. A route names the function that serves it;
// a function that no route calls (a stream consumer, a scheduled job) is a Function all the
// same, with the settings it reads.
type Function struct {
	// Name is the function's directory (functions/<Name>) and the stem of its names in the CDK
	// stack and template.yaml.
	Name string
	// Env names the environment variables the stack sets for it; AWS_REGION, which Lambda sets
	// itself, is not among them.
	Env []string
}

// RouteEnv is what every function behind a route reads (Load).
var RouteEnv = []string{EnvStage, EnvTableName, EnvOrgIDClaim, EnvFileURLAllowedHosts, EnvDeletedRetentionDays, EnvLogLevel}

// PublisherEnv is what the publish-events function reads (LoadPublisher).
var PublisherEnv = []string{EnvStage, EnvEventBusName, EnvLogLevel}

// PublisherFunction is the function that reads the table's stream and puts a change event on
// the stage's bus for every change of a record.
const PublisherFunction = "publish-events"

// Functions lists every function of the service, each once: those behind the routes in Routes
// order, then those that no route calls.
var Functions = append(append(routeFunctions(), Function{Name: PublisherFunction, Env: PublisherEnv}), ArchiveFunctions...)

func routeFunctions() []Function {
	var fs []Function
	seen := map[string]bool{}
	for _, r := range Routes {
		if !seen[r.Function] {
			seen[r.Function] = true
			fs = append(fs, Function{Name: r.Function, Env: RouteEnv})
		}
	}
	return fs
}

// RouteFunctionNames lists the functions behind the routes, in Routes order: those whose
// metrics carry the Route dimension.
func RouteFunctionNames() []string {
	var names []string
	for _, f := range routeFunctions() {
		names = append(names, f.Name)
	}
	return names
}

// FunctionNames lists the Name of every function, in the order of Functions.
func FunctionNames() []string {
	names := make([]string, len(Functions))
	for i, f := range Functions {
		names[i] = f.Name
	}
	return names
}
