package main

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

// Table layout the repository code relies on.
const (
	PartitionKey = "pk"
	SortKey      = "sk"
	// TTLAttribute holds epoch seconds on tombstones of deleted records; DynamoDB removes them
	// after DELETED_RETENTION_DAYS.
	TTLAttribute = "expires_at"
)

const (
	// Go on Lambda gets CPU in proportion to memory; 256 MB gives a cold start (SDK client,
	// config) well under a second while staying at a fraction of the price of 1 GB. The
	// handlers hold one record or one page of at most 100 records, far below it.
	FunctionMemoryMB = 256
	// Every handler does at most a handful of DynamoDB calls; 10 s leaves room for the SDK's
	// retries on throttling (tuned to give up in time to answer 503 with Retry-After) and is
	// well under the HTTP API's 30 s integration limit, so callers get our answer, not a 504.
	FunctionTimeoutSeconds = 10
	// Logs carry user ids and source addresses: keep them long enough to investigate an
	// incident reported after a quarterly export round, and no longer.
	LogRetention = awslogs.RetentionDays_THREE_MONTHS
	// Throttling, per route key: an HTTP API stage's default route throttling applies its rate
	// and burst to each route key on its own, not to the stage as a whole. The callers are one
	// export service and a handful of administrators per organisation, in bursts of an export
	// round: 10 requests/s and bursts of 20 on each route key is far above that, and the
	// stage's ceiling (StageThrottleRate) keeps a runaway client from exhausting the account's
	// Lambda concurrency or running up the on-demand table bill.
	RouteThrottleRateLimit  = 10
	RouteThrottleBurstLimit = 20
)

// RouteKeys is the number of route keys the HTTP API has: every route under both prefixes (12).
func RouteKeys() int { return len(config.Routes) * len(config.Prefixes) }

// The ceilings that follow from the per-route-key limits, which the alarms reason from: the
// whole stage (12 route keys: 120 requests/s, 240 at once) and one function, which serves its
// route under both prefixes (20 requests/s, 40 at once). The test spells them out.
func StageThrottleRate() int     { return RouteKeys() * RouteThrottleRateLimit }
func StageThrottleBurst() int    { return RouteKeys() * RouteThrottleBurstLimit }
func FunctionThrottleRate() int  { return len(config.Prefixes) * RouteThrottleRateLimit }
func FunctionThrottleBurst() int { return len(config.Prefixes) * RouteThrottleBurstLimit }

// AccessLogGroupName is the HTTP API's access log group of a stage. API Gateway delivers access
// logs as vended logs: for a group outside /aws/vendedlogs/ it adds the group to the account's
// CloudWatch Logs resource policy, capped at 5,120 characters, and creating a stage then fails
// in an account with many such groups. Groups under /aws/vendedlogs/ are covered without it.
func AccessLogGroupName(stage string) string {
	return "/aws/vendedlogs/apigateway/" + StackName(stage) + "/access"
}

// JWTIdentitySource is where API Gateway looks for the bearer token.
const JWTIdentitySource = "$request.header.Authorization"

// accessLogFormat records who called what and how it ended; the body is never logged.
const accessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"requestTime":"$context.requestTime","routeKey":"$context.routeKey","status":"$context.status",` +
	`"protocol":"$context.protocol","responseLength":"$context.responseLength",` +
	`"latency":"$context.responseLatency","integrationLatency":"$context.integrationLatency",` +
	`"integrationError":"$context.integrationErrorMessage","authorizerError":"$context.authorizer.error",` +
	`"sub":"$context.authorizer.claims.sub"}`

// FunctionNames lists the functions in config.Routes order, each once.
func FunctionNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, r := range config.Routes {
		if !seen[r.Function] {
			seen[r.Function] = true
			names = append(names, r.Function)
		}
	}
	return names
}

// FunctionEnvironment is the environment every function gets. AWS_REGION is set by Lambda and
// DYNAMODB_ENDPOINT is for local runs only, so neither appears here.
func FunctionEnvironment(cfg Config, tableName *string) map[string]*string {
	return map[string]*string{
		config.EnvStage:                jsii.String(cfg.Stage),
		config.EnvTableName:            tableName,
		config.EnvOrgIDClaim:           jsii.String(cfg.OrgIDClaim),
		config.EnvFileURLAllowedHosts:  jsii.String(cfg.FileURLAllowedHosts),
		config.EnvDeletedRetentionDays: jsii.String(strconv.Itoa(cfg.DeletedRetentionDays)),
		config.EnvLogLevel:             jsii.String(cfg.LogLevel),
	}
}

// checkCoverage makes sure every function has its table actions and its latency threshold: a
// route added to config.Routes must say what it may do and how slow it may be.
func checkCoverage(functions []string, actions map[string][]string, latency map[string]float64) error {
	for _, fn := range functions {
		if _, ok := actions[fn]; !ok {
			return fmt.Errorf("function %s has no entry in TableActions", fn)
		}
		if _, ok := latency[fn]; !ok {
			return fmt.Errorf("function %s has no entry in LatencyP99ThresholdMs", fn)
		}
	}
	return nil
}

// StackName is the CloudFormation stack name of a stage.
func StackName(stage string) string { return "BufdirExportAudit-" + stage }

// NewAuditStack builds the whole service for one stage: the table, one function per entry of
// config.Routes, and the HTTP API serving every route under both prefixes. It also applies the
// cdk-nag AwsSolutions checks, so every synth (and every test) is checked.
func NewAuditStack(scope constructs.Construct, cfg Config, props *awscdk.StackProps) (awscdk.Stack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkCoverage(FunctionNames(), TableActions, LatencyP99ThresholdMs); err != nil {
		return nil, err
	}
	if props == nil {
		props = &awscdk.StackProps{}
	}
	if props.Description == nil {
		props.Description = jsii.String("Bufdir export audit records (" + cfg.Stage + ")")
	}
	stack := awscdk.NewStack(scope, jsii.String(StackName(cfg.Stage)), props)
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("bufdir-export-audit"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("stage"), jsii.String(cfg.Stage), nil)

	table := awsdynamodb.NewTable(stack, jsii.String("AuditTable"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(PartitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String(SortKey), Type: awsdynamodb.AttributeType_STRING},
		// Traffic is a few bursts per export round: on-demand costs nothing while idle and
		// needs no capacity planning.
		BillingMode: awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		// An audit trail must survive a mistaken `cdk destroy` or a replacement: protected
		// against deletion by API and retained when removed from the stack.
		DeletionProtection:  jsii.Bool(true),
		RemovalPolicy:       awscdk.RemovalPolicy_RETAIN,
		TimeToLiveAttribute: jsii.String(TTLAttribute),
		// The AWS-managed key (aws/dynamodb) logs every use in CloudTrail without a key policy
		// to look after; a customer-managed key would only pay off for cross-account access or
		// key revocation, which this service does not need.
		Encryption: awsdynamodb.TableEncryption_AWS_MANAGED,
	})

	env := FunctionEnvironment(cfg, table.TableName())
	integrations := map[string]awsapigatewayv2integrations.HttpLambdaIntegration{}
	functions := map[string]awslambda.Function{}
	for _, fn := range FunctionNames() {
		name := LogicalName(fn)
		logGroup := awslogs.NewLogGroup(stack, jsii.String(name+"LogGroup"), &awslogs.LogGroupProps{
			Retention: LogRetention,
			// Kept after the stack is gone: the retention above removes them in time anyway.
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
		// An explicit role without AWSLambdaBasicExecutionRole: that managed policy would let
		// the function create log groups and write to any of them.
		role := awsiam.NewRole(stack, jsii.String(name+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("Runs " + fn + ": writes its own log group, " + fn + "'s actions on the audit table"),
		})
		logGroup.GrantWrite(role)
		tablePolicy := awsiam.NewPolicy(stack, jsii.String(name+"TablePolicy"), &awsiam.PolicyProps{
			Roles: &[]awsiam.IRole{role},
			Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings(TableActions[fn]...),
				Resources: jsii.Strings(*table.TableArn()),
			})},
		})
		function := awslambda.NewFunction(stack, jsii.String(name+"Function"), &awslambda.FunctionProps{
			Description:  jsii.String("Bufdir export audit: " + fn),
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: StackArchitecture(),
			Handler:      jsii.String("bootstrap"),
			Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(cfg.AssetRoot, fn)), nil),
			MemorySize:   jsii.Number(FunctionMemoryMB),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(FunctionTimeoutSeconds)),
			Environment:  &env,
			Role:         role,
			LogGroup:     logGroup,
			// Active: Lambda makes the sampling decision itself, as no traced service calls it
			// (the HTTP API cannot trace, see the stage below), and records each sampled
			// invocation: its init, the invocation and the function's own segment. This adds
			// xray:PutTraceSegments and xray:PutTelemetryRecords to the role's default policy.
			Tracing: awslambda.Tracing_ACTIVE,
		})
		// A function answering before its table permissions exist would fail with AccessDenied.
		function.Node().AddDependency(tablePolicy)
		suppressXRayWildcard(role)
		functions[fn] = function
		integrations[fn] = awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(name+"Integration"), function,
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
				PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
			})
	}

	httpAPI := awsapigatewayv2.NewHttpApi(stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		ApiName:     jsii.String("bufdir-export-audit-" + cfg.Stage),
		Description: jsii.String("Bufdir export audit records (" + cfg.Stage + ")"),
		// The default stage is added below, with throttling and access logs.
		CreateDefaultStage: jsii.Bool(false),
		CorsPreflight:      corsOptions(cfg.CORSOrigins),
	})
	accessLogs := awslogs.NewLogGroup(stack, jsii.String("ApiAccessLogGroup"), &awslogs.LogGroupProps{
		LogGroupName: jsii.String(AccessLogGroupName(cfg.Stage)),
		Retention:    LogRetention,
		// Kept, like the functions' groups. Being named, a kept group must be deleted (or
		// imported) before the stage's stack is created again.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// No X-Ray on the stage: API Gateway traces REST APIs only. AWS::ApiGatewayV2::Stage has no
	// tracing setting (AWS::Serverless::HttpApi neither), so a trace starts at the function, and
	// the time spent in API Gateway (JWT check included) shows only in the API's metrics, as
	// Latency less IntegrationLatency.
	stage := httpAPI.AddStage(jsii.String("DefaultStage"), &awsapigatewayv2.HttpStageOptions{
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		// Default route throttling: these limits hold for each route key (see
		// RouteThrottleRateLimit); the stage admits up to StageThrottleRate in all.
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(RouteThrottleRateLimit),
			BurstLimit: jsii.Number(RouteThrottleBurstLimit),
		},
		AccessLogSettings: &accessLogSettings{
			destination: awsapigatewayv2.NewLogGroupLogDestination(accessLogs),
			format:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat)),
		},
	})

	authorizer := awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("JwtAuthorizer"), jsii.String(cfg.JWTIssuer),
		&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
			AuthorizerName: jsii.String("jwt"),
			JwtAudience:    jsii.Strings(cfg.JWTAudience...),
			IdentitySource: jsii.Strings(JWTIdentitySource),
		})
	for _, prefix := range config.Prefixes {
		for _, r := range config.Routes {
			httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
				Path:                jsii.String(prefix + r.Path),
				Methods:             &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
				Integration:         integrations[r.Function],
				Authorizer:          authorizer,
				AuthorizationScopes: jsii.Strings(r.Scope),
			})
		}
	}

	awscdk.NewCfnOutput(stack, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
		Description: jsii.String("Base URL of the HTTP API ($default stage)"),
		Value:       stage.Url(),
	})
	awscdk.NewCfnOutput(stack, jsii.String("TableName"), &awscdk.CfnOutputProps{
		Description: jsii.String("DynamoDB table holding the audit records"),
		Value:       table.TableName(),
	})

	addMonitoring(stack, cfg, monitored{
		table:     table,
		functions: functions,
		api:       httpAPI,
	})

	applyNag(stack)
	return stack, nil
}

func corsOptions(origins []string) *awsapigatewayv2.CorsPreflightOptions {
	if len(origins) == 0 {
		return nil
	}
	return &awsapigatewayv2.CorsPreflightOptions{
		AllowOrigins: jsii.Strings(origins...),
		AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{
			awsapigatewayv2.CorsHttpMethod_GET,
			awsapigatewayv2.CorsHttpMethod_POST,
			awsapigatewayv2.CorsHttpMethod_PUT,
			awsapigatewayv2.CorsHttpMethod_DELETE,
		},
		AllowHeaders: jsii.Strings("Authorization", "Content-Type"),
		// Without these a browser hides the headers the contract gives meaning to.
		ExposeHeaders: jsii.Strings("Location", "Idempotent-Replayed", "Retry-After"),
		MaxAge:        awscdk.Duration_Minutes(jsii.Number(10)),
	}
}

// accessLogSettings implements awsapigatewayv2.IAccessLogSettings, an interface without a
// struct counterpart in the Go bindings.
type accessLogSettings struct {
	destination awsapigatewayv2.IAccessLogDestination
	format      awsapigateway.AccessLogFormat
}

func (s *accessLogSettings) Destination() awsapigatewayv2.IAccessLogDestination { return s.destination }
func (s *accessLogSettings) Format() awsapigateway.AccessLogFormat              { return s.format }
