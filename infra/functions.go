package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

// EnvironmentValues are the values of every environment variable a function may read
// (config.Function.Env), the archive's among them. AWS_REGION is set by Lambda, and
// DYNAMODB_ENDPOINT, EVENTBRIDGE_ENDPOINT, S3_ENDPOINT and KMS_ENDPOINT are for local runs only,
// so none appears here.
func EnvironmentValues(cfg Config, tableName, busName *string, archive *Archive) map[string]*string {
	values := map[string]*string{
		config.EnvEventBusName:         busName,
		config.EnvStage:                jsii.String(cfg.Stage),
		config.EnvTableName:            tableName,
		config.EnvOrgIDClaim:           jsii.String(cfg.OrgIDClaim),
		config.EnvFileURLAllowedHosts:  jsii.String(cfg.FileURLAllowedHosts),
		config.EnvDeletedRetentionDays: jsii.String(strconv.Itoa(cfg.DeletedRetentionDays)),
		config.EnvLogLevel:             jsii.String(cfg.LogLevel),
	}
	for k, v := range archive.environment() {
		values[k] = v
	}
	return values
}

// functionEnvironment is f's environment, taken from values. A variable the stack has no value
// for stops the synth: a function added to config.Functions must get what it reads.
func functionEnvironment(f config.Function, values map[string]*string) (map[string]*string, error) {
	env := map[string]*string{}
	for _, name := range f.Env {
		v, ok := values[name]
		if !ok {
			return nil, fmt.Errorf("function %s reads %s, which the stack sets no value for (EnvironmentValues)", f.Name, name)
		}
		env[name] = v
	}
	return env, nil
}

// newFunctions makes every function of config.Functions, by name: each with its own log group,
// its own role, which may write that log group and call its TableActions on the table, and
// X-Ray tracing.
func newFunctions(stack awscdk.Stack, cfg Config, table awsdynamodb.Table, bus awsevents.EventBus, archive *Archive) (map[string]awslambda.Function, error) {
	values := EnvironmentValues(cfg, table.TableName(), bus.EventBusName(), archive)
	functions := map[string]awslambda.Function{}
	for _, f := range config.Functions {
		fn, name := f.Name, LogicalName(f.Name)
		env, err := functionEnvironment(f, values)
		if err != nil {
			return nil, err
		}
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
		timeout := time.Duration(FunctionTimeoutSeconds) * time.Second
		if t, ok := ArchiveTimeouts[fn]; ok {
			timeout = t
		}
		function := awslambda.NewFunction(stack, jsii.String(name+"Function"), &awslambda.FunctionProps{
			Description:  jsii.String("Bufdir export audit: " + fn),
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: StackArchitecture(),
			Handler:      jsii.String("bootstrap"),
			Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(cfg.AssetRoot, fn)), nil),
			MemorySize:   jsii.Number(FunctionMemoryMB),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(timeout.Seconds())),
			Environment:  &env,
			Role:         role,
			LogGroup:     logGroup,
			// Active: Lambda makes the sampling decision itself, as no traced service calls it
			// (the HTTP API cannot trace, see the stage in httpapi.go), and records each sampled
			// invocation: its init, the invocation and the function's own segment. This adds
			// xray:PutTraceSegments and xray:PutTelemetryRecords to the role's default policy.
			Tracing: awslambda.Tracing_ACTIVE,
		})
		if actions := TableActions[fn]; len(actions) > 0 {
			tablePolicy := awsiam.NewPolicy(stack, jsii.String(name+"TablePolicy"), &awsiam.PolicyProps{
				Roles: &[]awsiam.IRole{role},
				Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions:   jsii.Strings(actions...),
					Resources: jsii.Strings(*table.TableArn()),
				})},
			})
			// A function answering before its table permissions exist would fail with AccessDenied.
			function.Node().AddDependency(tablePolicy)
		}
		suppressXRayWildcard(role)
		functions[fn] = function
	}
	return functions, nil
}
