package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

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

// newHTTPAPI is the HTTP API: its $default stage with route throttling and access logs, the JWT
// authorizer, and every route of config.Routes under both prefixes, each integrated with its
// function (payload 2.0) and needing its scope.
func newHTTPAPI(stack awscdk.Stack, cfg Config, functions map[string]awslambda.Function) (awsapigatewayv2.HttpApi, awsapigatewayv2.HttpStage) {
	integrations := map[string]awsapigatewayv2integrations.HttpLambdaIntegration{}
	for fn, function := range functions {
		integrations[fn] = awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(LogicalName(fn)+"Integration"), function,
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

	return httpAPI, stage
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
