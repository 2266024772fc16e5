package main

import (
	"path/filepath"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
)

var nagFinding = assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))

func TestNag_NoUnsuppressedErrors(t *testing.T) {
	s := defaultStack(t)
	annotations := assertions.Annotations_FromStack(s.stack)
	for _, m := range *annotations.FindError(jsii.String("*"), nagFinding) {
		t.Errorf("cdk-nag error at %s: %v", *m.Id, describe(m))
	}
	for _, m := range *annotations.FindWarning(jsii.String("*"), nagFinding) {
		t.Logf("cdk-nag warning at %s: %v", *m.Id, describe(m))
	}
}

// TestNag_CatchesAFinding makes sure the checks run at all: a role with an AWS-managed policy
// (AwsSolutions-IAM4) must be reported by the same applyNag the stack uses.
func TestNag_CatchesAFinding(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(testRoot, "cdk.out.nag"))})
	stack := awscdk.NewStack(app, jsii.String("NagProbe"), nil)
	awsiam.NewRole(stack, jsii.String("Probe"), &awsiam.RoleProps{
		AssumedBy:       awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		ManagedPolicies: &[]awsiam.IManagedPolicy{awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("service-role/AWSLambdaBasicExecutionRole"))},
	})
	applyNag(stack)
	found := assertions.Annotations_FromStack(stack).FindError(jsii.String("*"),
		assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-IAM4.*")))
	if len(*found) == 0 {
		t.Error("applyNag reported no AwsSolutions-IAM4 error for a role with an AWS-managed policy")
	}
}

func describe(m *cxapi.SynthesisMessage) interface{} {
	if m.Entry == nil || m.Entry.Data == nil {
		return nil
	}
	return m.Entry.Data
}
