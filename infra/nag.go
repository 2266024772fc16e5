package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
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
	suppress(role, "AwsSolutions-IAM5", "Active X-Ray tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords. "+
		"Neither action has a resource type in IAM (the service authorization reference lists none), "+
		"so the only resource a statement can grant them on is '*'; they only write trace data.", true, "Resource::*")
}

// suppress records on c why the cdk-nag rule id does not apply; appliesTo, when given, limits
// the suppression to those findings. With children, c's children carry it too.
func suppress(c constructs.IConstruct, id, reason string, children bool, appliesTo ...interface{}) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		s.AppliesTo = &appliesTo
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(children))
}

// listStreamsReason is why a stream reader's policy may grant dynamodb:ListStreams on '*'.
const listStreamsReason = "dynamodb:ListStreams, which Lambda's event source mapping needs, has no resource type in IAM " +
	"(the service authorization reference lists none), so '*' is the only resource it can be granted on; it lists " +
	"stream ARNs and reads no data. The stream's records are granted on this table's stream ARN only."
