package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

type obj = map[string]interface{}
type arr = []interface{}

func TestTable_Settings(t *testing.T) {
	s := defaultStack(t)
	check(t, "one table", func() { s.template.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(1)) })
	cases := []struct {
		name  string
		props obj
	}{
		{"key schema is pk (hash) and sk (range), both strings, no index", obj{
			"KeySchema": arr{
				obj{"AttributeName": "pk", "KeyType": "HASH"},
				obj{"AttributeName": "sk", "KeyType": "RANGE"},
			},
			"AttributeDefinitions": arr{
				obj{"AttributeName": "pk", "AttributeType": "S"},
				obj{"AttributeName": "sk", "AttributeType": "S"},
			},
			"GlobalSecondaryIndexes": assertions.Match_Absent(),
			"LocalSecondaryIndexes":  assertions.Match_Absent(),
		}},
		{"on-demand billing", obj{"BillingMode": "PAY_PER_REQUEST", "ProvisionedThroughput": assertions.Match_Absent()}},
		{"point-in-time recovery", obj{"PointInTimeRecoverySpecification": obj{"PointInTimeRecoveryEnabled": true}}},
		{"deletion protection", obj{"DeletionProtectionEnabled": true}},
		{"TTL on expires_at", obj{"TimeToLiveSpecification": obj{"AttributeName": "expires_at", "Enabled": true}}},
		{"encrypted with the AWS-managed key", obj{"SSESpecification": assertions.Match_ObjectEquals(&obj{"SSEEnabled": true})}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check(t, c.name, func() { s.template.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), c.props) })
		})
	}
	t.Run("retained when removed or replaced", func(t *testing.T) {
		check(t, "retain", func() {
			s.template.HasResource(jsii.String("AWS::DynamoDB::Table"), obj{"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})
		})
	})
	t.Run("constants match the table", func(t *testing.T) {
		if PartitionKey != "pk" || SortKey != "sk" || TTLAttribute != "expires_at" {
			t.Errorf("the repository code uses pk/sk/expires_at, the stack says %s/%s/%s", PartitionKey, SortKey, TTLAttribute)
		}
	})
}

func TestFunctions_RuntimeAndSizing(t *testing.T) {
	s := defaultStack(t)
	n := float64(len(config.FunctionNames()))
	if n != 9 {
		t.Errorf("config.Functions names %d functions, want 9 (six routes, publish-events, archive-changes and seal-digest)", int(n))
	}
	check(t, "function count", func() { s.template.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(n)) })
	check(t, "every function on provided.al2023/arm64, handler bootstrap, 256 MB", func() {
		s.template.ResourcePropertiesCountIs(jsii.String("AWS::Lambda::Function"), obj{
			"Runtime":       "provided.al2023",
			"Architectures": arr{"arm64"},
			"Handler":       "bootstrap",
			"MemorySize":    256,
		}, jsii.Number(n))
	})
	// The archive's functions' timeouts are in archive_test.go.
	check(t, "every function but the archive's with 10 s", func() {
		s.template.ResourcePropertiesCountIs(jsii.String("AWS::Lambda::Function"), obj{"Timeout": 10}, jsii.Number(n-2))
	})
}

func TestFunctions_Environment(t *testing.T) {
	cfg := stageConfig("test")
	cfg.OrgIDClaim = "tenant"
	cfg.DeletedRetentionDays = 30
	cfg.LogLevel = "debug"
	cases := []struct {
		name string
		s    *synthesized
		want obj
	}{
		{"dev defaults", defaultStack(t), obj{
			"STAGE": "dev", "ORG_ID_CLAIM": "org_id", "FILE_URL_ALLOWED_HOSTS": "", "DELETED_RETENTION_DAYS": "365", "LOG_LEVEL": "info",
		}},
		{"from context", synthStack(t, cfg), obj{
			"STAGE": "test", "ORG_ID_CLAIM": "tenant", "FILE_URL_ALLOWED_HOSTS": "storage.example.no", "DELETED_RETENTION_DAYS": "30", "LOG_LEVEL": "debug",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			table := c.s.onlyID(t, "AWS::DynamoDB::Table")
			bus := c.s.onlyID(t, "AWS::Events::EventBus")
			for _, fn := range config.FunctionNames() {
				if fn == config.ArchiveFunction || fn == config.SealFunction {
					continue // archive_test.go
				}
				fnID := c.s.functionID(t, fn)
				env, _ := c.s.cfn.Resources[fnID].Properties["Environment"].(map[string]any)
				vars, _ := env["Variables"].(map[string]any)
				if fn == config.PublisherFunction {
					// The publisher reads the bus, not the table.
					want := []string{"EVENT_BUS_NAME", "LOG_LEVEL", "STAGE"}
					if ref(vars["EVENT_BUS_NAME"]) != bus || vars["STAGE"] != c.want["STAGE"] || vars["LOG_LEVEL"] != c.want["LOG_LEVEL"] || !sameSet(keys(vars), want) {
						t.Errorf("%s: variables %v, want exactly %v, EVENT_BUS_NAME a Ref to %s", fn, vars, want, bus)
					}
					continue
				}
				if got := ref(vars["TABLE_NAME"]); got != table {
					t.Errorf("%s: TABLE_NAME = %v, want a Ref to %s", fn, vars["TABLE_NAME"], table)
				}
				for k, want := range c.want {
					if vars[k] != want {
						t.Errorf("%s: %s = %v, want %q", fn, k, vars[k], want)
					}
				}
				if want := append(keys(c.want), "TABLE_NAME"); !sameSet(keys(vars), want) {
					t.Errorf("%s: variables %v, want exactly %v", fn, keys(vars), sorted(want))
				}
			}
		})
	}
}

func TestLogGroups_RetentionAndOwnership(t *testing.T) {
	s := defaultStack(t)
	groups := s.ofType("AWS::Logs::LogGroup")
	if want := len(config.FunctionNames()) + 1; len(groups) != want {
		t.Errorf("%d log groups, want %d (one per function and the access log)", len(groups), want)
	}
	check(t, "every log group keeps 90 days", func() {
		s.template.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), obj{"RetentionInDays": 90})
	})
	used := map[string]string{}
	for _, fn := range config.FunctionNames() {
		props := s.cfn.Resources[s.functionID(t, fn)].Properties
		lc, _ := props["LoggingConfig"].(map[string]any)
		group := ref(lc["LogGroup"])
		if _, ok := groups[group]; !ok {
			t.Errorf("%s logs to %v, want one of the stack's log groups", fn, lc["LogGroup"])
			continue
		}
		if other, dup := used[group]; dup {
			t.Errorf("%s and %s share log group %s", fn, other, group)
		}
		used[group] = fn
	}
	stage := s.cfn.Resources[s.onlyID(t, "AWS::ApiGatewayV2::Stage")].Properties
	als, _ := stage["AccessLogSettings"].(map[string]any)
	if id, _ := getAtt(als["DestinationArn"]); groups[id].Type == "" || used[id] != "" {
		t.Errorf("access logs go to %v, want a log group of their own", als["DestinationArn"])
	}
}

// wantTableActions is the contract between the repository code and IAM, written out again
// here on purpose: TableActions must say exactly this.
var wantTableActions = map[string][]string{
	"list-records":    {"dynamodb:Query"},
	"get-record":      {"dynamodb:GetItem"},
	"create-record":   {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem"},
	"update-status":   {"dynamodb:UpdateItem", "dynamodb:GetItem"},
	"attach-file-url": {"dynamodb:UpdateItem"},
	"delete-record":   {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
	"publish-events":  {},
}

// wantPublisherStatements is what publish-events may do besides its log group and X-Ray: read
// the table's stream (ListStreams has no resource type), put events on the stage's bus, and
// send to its dead-letter queue.
func wantPublisherStatements(s *synthesized, t *testing.T) map[string]string {
	return map[string]string{
		"dynamodb:DescribeStream dynamodb:GetRecords dynamodb:GetShardIterator": s.onlyID(t, "AWS::DynamoDB::Table") + ".StreamArn",
		"dynamodb:ListStreams": "*",
		"events:PutEvents":     s.onlyID(t, "AWS::Events::EventBus") + ".Arn",
		"sqs:SendMessage":      queueID(t, s, "PublishEventsDeadLetterQueue") + ".Arn",
	}
}

func TestIAM_LeastPrivilegePerFunction(t *testing.T) {
	s := defaultStack(t)
	table := s.onlyID(t, "AWS::DynamoDB::Table")
	if !sameSet(keys(TableActions), config.FunctionNames()) {
		t.Errorf("TableActions covers %v, config.Routes names %v", keys(TableActions), sorted(config.FunctionNames()))
	}
	roles := s.ofType("AWS::IAM::Role")
	if len(roles) != len(config.FunctionNames()) {
		t.Errorf("%d roles, want one per function (%d)", len(roles), len(config.FunctionNames()))
	}
	for _, fn := range config.FunctionNames() {
		if fn == config.ArchiveFunction || fn == config.SealFunction {
			continue // their roles never touch the table: archive_test.go
		}
		t.Run(fn, func(t *testing.T) {
			if !sameSet(TableActions[fn], wantTableActions[fn]) {
				t.Errorf("TableActions[%s] = %v, want %v", fn, TableActions[fn], wantTableActions[fn])
			}
			props := s.cfn.Resources[s.functionID(t, fn)].Properties
			roleID, _ := getAtt(props["Role"])
			role, ok := roles[roleID]
			if !ok {
				t.Fatalf("role %v is not a role of this stack", props["Role"])
			}
			if role.Properties["ManagedPolicyArns"] != nil || role.Properties["Policies"] != nil {
				t.Errorf("role has managed or inline policies: %v", role.Properties)
			}
			lc, _ := props["LoggingConfig"].(map[string]any)
			logGroup := ref(lc["LogGroup"])

			var tableStatements, logStatements, xrayStatements int
			publisher := map[string]string{} // actions -> resource, of the publisher's own statements
			for id, p := range s.policiesOf(roleID) {
				doc := p.Properties["PolicyDocument"].(map[string]any)
				for _, st := range doc["Statement"].([]any) {
					st := st.(map[string]any)
					actions := stringList(st["Action"])
					resources, _ := st["Resource"].([]any)
					if resources == nil {
						resources = []any{st["Resource"]}
					}
					if st["Effect"] != "Allow" || st["Condition"] != nil || st["NotAction"] != nil || st["NotResource"] != nil {
						t.Errorf("%s: unexpected statement shape %v", id, st)
						continue
					}
					onlyOn := func(want string) bool {
						res, attr := getAtt(resources[0])
						return len(resources) == 1 && res == want && attr == "Arn"
					}
					switch {
					case fn == config.PublisherFunction && !sameSet(actions, []string{"logs:CreateLogStream", "logs:PutLogEvents"}) &&
						!sameSet(actions, []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}):
						res, attr := getAtt(resources[0])
						where := res + "." + attr
						if res == "" {
							where = fmt.Sprint(resources[0])
						}
						if len(resources) != 1 {
							where = fmt.Sprint(resources)
						}
						publisher[strings.Join(sorted(actions), " ")] = where
					case strings.HasPrefix(actions[0], "dynamodb:"):
						tableStatements++
						if !sameSet(actions, wantTableActions[fn]) {
							t.Errorf("%s: table actions %v, want exactly %v", id, sorted(actions), sorted(wantTableActions[fn]))
						}
						if !onlyOn(table) {
							t.Errorf("%s: table actions on %v, want only the table's ARN", id, st["Resource"])
						}
					case sameSet(actions, []string{"logs:CreateLogStream", "logs:PutLogEvents"}):
						logStatements++
						if !onlyOn(logGroup) {
							t.Errorf("%s: log writes on %v, want only the function's own log group %s", id, st["Resource"], logGroup)
						}
					case sameSet(actions, []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}):
						// Active tracing; these actions have no resource type, "*" is all IAM takes.
						xrayStatements++
						if len(resources) != 1 || resources[0] != "*" {
							t.Errorf("%s: X-Ray writes on %v, want \"*\"", id, st["Resource"])
						}
					default:
						t.Errorf("%s: statement %v is neither the table's, the log group's nor X-Ray's", id, st)
					}
				}
			}
			wantTable := 1
			if fn == config.PublisherFunction {
				wantTable = 0
				if want := wantPublisherStatements(s, t); !reflect.DeepEqual(publisher, want) {
					t.Errorf("publisher statements %v, want exactly %v", publisher, want)
				}
			}
			if tableStatements != wantTable || logStatements != 1 || xrayStatements != 1 {
				t.Errorf("%d table, %d log and %d X-Ray statements, want %d, 1 and 1", tableStatements, logStatements, xrayStatements, wantTable)
			}
		})
	}
}

func TestRoutes_EveryRouteUnderBothPrefixes(t *testing.T) {
	s := defaultStack(t)
	authorizer := s.onlyID(t, "AWS::ApiGatewayV2::Authorizer")
	routes := map[string]cfnResource{}
	for _, r := range s.ofType("AWS::ApiGatewayV2::Route") {
		key, _ := r.Properties["RouteKey"].(string)
		routes[key] = r
	}
	if want := len(config.Routes) * len(config.Prefixes); len(routes) != want || len(config.Prefixes) != 2 {
		t.Errorf("%d routes %v, want %d (every route under both prefixes)", len(routes), keys(routes), want)
	}
	permissions := map[string]int{}
	for _, p := range s.ofType("AWS::Lambda::Permission") {
		fnID, _ := getAtt(p.Properties["FunctionName"])
		if p.Properties["Principal"] == "apigateway.amazonaws.com" {
			permissions[fnID]++
		}
	}
	perFunction := map[string]int{}
	for _, prefix := range config.Prefixes {
		for _, r := range config.Routes {
			key := r.Method + " " + prefix + r.Path
			perFunction[r.Function]++
			t.Run(key, func(t *testing.T) {
				route, ok := routes[key]
				if !ok {
					t.Fatalf("no route %q", key)
				}
				p := route.Properties
				if p["AuthorizationType"] != "JWT" || ref(p["AuthorizerId"]) != authorizer {
					t.Errorf("authorization %v by %v, want JWT by %s", p["AuthorizationType"], p["AuthorizerId"], authorizer)
				}
				if got := stringList(p["AuthorizationScopes"]); len(got) != 1 || got[0] != r.Scope {
					t.Errorf("scopes %v, want [%s]", got, r.Scope)
				}
				join, _ := p["Target"].(map[string]any)["Fn::Join"].([]any)
				var integrationID string
				if len(join) == 2 {
					if parts, _ := join[1].([]any); len(parts) == 2 && parts[0] == "integrations/" {
						integrationID = ref(parts[1])
					}
				}
				integration := s.cfn.Resources[integrationID]
				if integration.Type != "AWS::ApiGatewayV2::Integration" {
					t.Fatalf("target %v is not an integration", p["Target"])
				}
				ip := integration.Properties
				fnID, _ := getAtt(ip["IntegrationUri"])
				if fnID != s.functionID(t, r.Function) {
					t.Errorf("integrates %s, want %s's function", fnID, r.Function)
				}
				if ip["IntegrationType"] != "AWS_PROXY" || ip["PayloadFormatVersion"] != "2.0" {
					t.Errorf("integration %v/%v, want AWS_PROXY with payload 2.0", ip["IntegrationType"], ip["PayloadFormatVersion"])
				}
			})
		}
	}
	for fn, n := range perFunction {
		if got := permissions[s.functionID(t, fn)]; got != n {
			t.Errorf("%s: API Gateway may invoke it through %d permissions, want one per route (%d)", fn, got, n)
		}
	}
}

func TestAPI_AuthorizerStageCORSAndOutputs(t *testing.T) {
	dev := defaultStack(t)
	cfg := stageConfig("test")
	cfg.JWTIssuer = "https://login.example.no/realms/bufdir"
	cfg.JWTAudience = []string{"export-audit", "export-audit-web"}
	cfg.CORSOrigins = []string{"https://admin.example.no", "https://admin-test.example.no"}
	configured := synthStack(t, cfg)

	cases := []struct {
		name  string
		s     *synthesized
		typ   string
		props obj
	}{
		{"dev: JWT authorizer with the issuer and audience given", dev, "AWS::ApiGatewayV2::Authorizer", obj{
			"AuthorizerType": "JWT",
			"IdentitySource": arr{"$request.header.Authorization"},
			"JwtConfiguration": obj{
				"Issuer":   testJWTIssuer,
				"Audience": arr{testJWTAudience},
			},
		}},
		{"configured: issuer and audience from context", configured, "AWS::ApiGatewayV2::Authorizer", obj{
			"AuthorizerType": "JWT",
			"IdentitySource": arr{"$request.header.Authorization"},
			"JwtConfiguration": obj{
				"Issuer":   "https://login.example.no/realms/bufdir",
				"Audience": arr{"export-audit", "export-audit-web"},
			},
		}},
		{"default stage auto-deploys, throttled per route key, with access logs", dev, "AWS::ApiGatewayV2::Stage", obj{
			"StageName":  "$default",
			"AutoDeploy": true,
			"DefaultRouteSettings": obj{
				"ThrottlingRateLimit":  10,
				"ThrottlingBurstLimit": 20,
			},
			"RouteSettings": assertions.Match_Absent(),
			"AccessLogSettings": obj{
				"DestinationArn": assertions.Match_AnyValue(),
				"Format":         assertions.Match_StringLikeRegexp(jsii.String(`\$context\.requestId.*\$context\.routeKey.*\$context\.status`)),
			},
		}},
		{"dev: no CORS without origins", dev, "AWS::ApiGatewayV2::Api", obj{
			"ProtocolType":      "HTTP",
			"Name":              "bufdir-export-audit-dev",
			"CorsConfiguration": assertions.Match_Absent(),
		}},
		{"configured: CORS for the listed origins only", configured, "AWS::ApiGatewayV2::Api", obj{
			"Name": "bufdir-export-audit-test",
			"CorsConfiguration": obj{
				"AllowOrigins":  arr{"https://admin.example.no", "https://admin-test.example.no"},
				"AllowMethods":  arr{"GET", "POST", "PUT", "DELETE"},
				"AllowHeaders":  arr{"Authorization", "Content-Type"},
				"ExposeHeaders": arr{"Location", "Idempotent-Replayed", "Retry-After"},
			},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check(t, c.name, func() { c.s.template.HasResourceProperties(jsii.String(c.typ), c.props) })
		})
	}
	t.Run("outputs: API URL and table name", func(t *testing.T) {
		table := dev.onlyID(t, "AWS::DynamoDB::Table")
		check(t, "TableName", func() { dev.template.HasOutput(jsii.String("TableName"), obj{"Value": obj{"Ref": table}}) })
		url := fmt.Sprint(dev.cfn.Outputs["ApiUrl"]["Value"])
		if !strings.Contains(url, "https://") || !strings.Contains(url, dev.onlyID(t, "AWS::ApiGatewayV2::Api")) {
			t.Errorf("ApiUrl = %s, want the API's https endpoint", url)
		}
	})
	t.Run("stack name carries the stage", func(t *testing.T) {
		if got := *configured.stack.StackName(); got != "BufdirExportAudit-test" {
			t.Errorf("stack name %s, want BufdirExportAudit-test", got)
		}
	})
}

func TestTracing_ActiveOnEveryFunction(t *testing.T) {
	s := defaultStack(t)
	n := float64(len(config.FunctionNames()))
	check(t, "every function traces actively", func() {
		s.template.ResourcePropertiesCountIs(jsii.String("AWS::Lambda::Function"),
			obj{"TracingConfig": obj{"Mode": "Active"}}, jsii.Number(n))
	})
	// The X-Ray statement of each role is checked in TestIAM_LeastPrivilegePerFunction; that the
	// HTTP API stage has no tracing setting at all is what AWS::ApiGatewayV2::Stage allows.
	stage := s.cfn.Resources[s.onlyID(t, "AWS::ApiGatewayV2::Stage")].Properties
	for k := range stage {
		if strings.Contains(strings.ToLower(k), "trac") {
			t.Errorf("stage property %s: HTTP API stages have no tracing", k)
		}
	}
}

func TestAccessLogs_JSONLinesWithRetention(t *testing.T) {
	s := defaultStack(t)
	stage := s.cfn.Resources[s.onlyID(t, "AWS::ApiGatewayV2::Stage")].Properties
	als, _ := stage["AccessLogSettings"].(map[string]any)
	group, attr := getAtt(als["DestinationArn"])
	if r := s.cfn.Resources[group]; r.Type != "AWS::Logs::LogGroup" || attr != "Arn" {
		t.Fatalf("access logs go to %v, want a log group of the stack", als["DestinationArn"])
	}
	lg := s.cfn.Resources[group]
	if lg.Properties["RetentionInDays"] != float64(90) || lg.DeletionPolicy != "Retain" {
		t.Errorf("access log group retention %v, deletion %q; want 90 days, Retain", lg.Properties["RetentionInDays"], lg.DeletionPolicy)
	}
	// Under /aws/vendedlogs/, API Gateway's log delivery needs no entry in the account's
	// CloudWatch Logs resource policy (5,120 characters in all); each stage has its own group.
	if name := lg.Properties["LogGroupName"]; name != "/aws/vendedlogs/apigateway/BufdirExportAudit-dev/access" {
		t.Errorf("access log group name %v, want /aws/vendedlogs/apigateway/BufdirExportAudit-dev/access", name)
	}
	format, _ := als["Format"].(string)
	// Every $context variable sits inside a JSON string, so any value keeps the line JSON.
	var line map[string]string
	if err := json.Unmarshal([]byte(format), &line); err != nil {
		t.Fatalf("access log format is not a JSON object of strings: %v\n%s", err, format)
	}
	want := map[string]string{
		"requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "requestTime": "$context.requestTime",
		"routeKey": "$context.routeKey", "status": "$context.status", "latency": "$context.responseLatency",
		"integrationLatency": "$context.integrationLatency", "integrationError": "$context.integrationErrorMessage",
		"authorizerError": "$context.authorizer.error", "sub": "$context.authorizer.claims.sub",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log field %s = %q, want %q", k, line[k], v)
		}
	}
}

// The stage's default route throttling holds for each route key on its own: the alarms' and the
// README's arithmetic reasons from these ceilings, written out again here.
func TestThrottling_CeilingsOfThePerRouteKeyLimits(t *testing.T) {
	t.Parallel()
	if RouteKeys() != 12 {
		t.Errorf("%d route keys, want 12 (six routes under two prefixes)", RouteKeys())
	}
	for name, c := range map[string][2]int{
		"per route key": {RouteThrottleRateLimit, RouteThrottleBurstLimit},
		"per function":  {FunctionThrottleRate(), FunctionThrottleBurst()},
		"stage":         {StageThrottleRate(), StageThrottleBurst()},
	} {
		want := map[string][2]int{"per route key": {10, 20}, "per function": {20, 40}, "stage": {120, 240}}[name]
		if c != want {
			t.Errorf("%s: rate %d, burst %d; want %d, %d", name, c[0], c[1], want[0], want[1])
		}
	}
}

// Who may invoke the functions through their resource policies: API Gateway, for this API's
// routes only, and EventBridge, for seal-digest on the seal schedule only. (IAM principals of
// the account with lambda:InvokeFunction need no resource policy; the README's security
// section says how an account closes that.)
func TestFunctions_ResourcePolicyAdmitsOnlyThisAPI(t *testing.T) {
	s := defaultStack(t)
	apiID := s.onlyID(t, "AWS::ApiGatewayV2::Api")
	functions := map[string]bool{}
	for _, fn := range config.RouteFunctionNames() {
		functions[s.functionID(t, fn)] = true
	}
	perms := s.ofType("AWS::Lambda::Permission")
	if len(perms) != RouteKeys()+1 {
		t.Errorf("%d Lambda permissions, want one per route key (%d) and the seal schedule's", len(perms), RouteKeys())
	}
	for id, p := range perms {
		props := p.Properties
		fnID, _ := getAtt(props["FunctionName"])
		if props["Principal"] == "events.amazonaws.com" {
			rule, attr := getAtt(props["SourceArn"])
			if fnID != s.functionID(t, config.SealFunction) || props["Action"] != "lambda:InvokeFunction" ||
				s.cfn.Resources[rule].Type != "AWS::Events::Rule" || attr != "Arn" || s.cfn.Resources[rule].Properties["ScheduleExpression"] == nil {
				t.Errorf("%s: %v for EventBridge on %v from %v, want seal-digest invoked by the stack's schedule rule only",
					id, props["Action"], props["FunctionName"], props["SourceArn"])
			}
			continue
		}
		if props["Action"] != "lambda:InvokeFunction" || props["Principal"] != "apigateway.amazonaws.com" || !functions[fnID] {
			t.Errorf("%s: %v for %v on %v, want lambda:InvokeFunction for apigateway.amazonaws.com on a function", id, props["Action"], props["Principal"], props["FunctionName"])
		}
		if props["SourceAccount"] != nil || props["FunctionUrlAuthType"] != nil || props["PrincipalOrgID"] != nil {
			t.Errorf("%s: unexpected %v", id, props)
		}
		// arn:<partition>:execute-api:<region>:<account>:<api>/*/*/<route path>
		join, _ := path(props["SourceArn"], "Fn::Join").([]any)
		var parts []any
		if len(join) == 2 {
			parts, _ = join[1].([]any)
		}
		var api, route bool
		for _, part := range parts {
			api = api || ref(part) == apiID
			if s, ok := part.(string); ok && strings.HasPrefix(s, "/*/*/api/v1/") {
				route = true
			}
		}
		if !api || !route || len(parts) == 0 || parts[0] != "arn:" {
			t.Errorf("%s: SourceArn %v, want this API's execute-api ARN for one route", id, props["SourceArn"])
		}
	}
	if n := len(s.ofType("AWS::Lambda::Url")); n != 0 {
		t.Errorf("%d function URLs: the functions must be reachable through the API only", n)
	}
	// The README's service control policy finds the functions by this tag.
	check(t, "every function tagged project=bufdir-export-audit", func() {
		s.template.ResourcePropertiesCountIs(jsii.String("AWS::Lambda::Function"), obj{
			"Tags": assertions.Match_ArrayWith(&arr{obj{"Key": "project", "Value": "bufdir-export-audit"}}),
		}, jsii.Number(float64(len(config.FunctionNames()))))
	})
}
