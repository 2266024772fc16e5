package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// applyNag runs the AwsSolutions rules on every synth. A finding fails `cdk synth` and the
// tests unless it is suppressed in this file with the reason it does not apply.
func applyNag(stack awscdk.Stack) {
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// suppressXRayWildcard records, on a function's role, why the statement that active tracing
// adds may name every resource. The suppression is limited to the literal resource "*", so a
// wildcard on the table or the log group would still be reported.
func suppressXRayWildcard(role awsiam.Role) {
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Active X-Ray tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords. " +
			"Neither action has a resource type in IAM (the service authorization reference lists none), " +
			"so the only resource a statement can grant them on is '*'; they only write trace data."),
		AppliesTo: &[]interface{}{"Resource::*"},
	}}, jsii.Bool(true))
}
