package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
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

// Three findings are suppressed, each where it does not apply: the X-Ray statement's "*" on
// every function's role, dynamodb:ListStreams' "*" on publish-events' policy (neither action
// has a resource type in IAM), and SQS3 on the dead-letter queue, which is the dead-letter
// queue.
func TestNag_SuppressionsAreOnlyTheWildcardsIAMRequiresAndTheDeadLetterQueue(t *testing.T) {
	s := defaultStack(t)
	raw, err := json.Marshal(s.template.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]struct {
			Type     string `json:"Type"`
			Metadata struct {
				Nag struct {
					Rules []struct {
						ID        string   `json:"id"`
						Reason    string   `json:"reason"`
						AppliesTo []string `json:"applies_to"`
					} `json:"rules_to_suppress"`
				} `json:"cdk_nag"`
			} `json:"Metadata"`
			Properties map[string]any `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	xray := []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
	suppressed := 0
	for id, r := range tmpl.Resources {
		for _, rule := range r.Metadata.Nag.Rules {
			suppressed++
			if rule.ID == "AwsSolutions-SQS3" {
				if !strings.HasPrefix(id, "PublishEventsDeadLetterQueue") || !strings.Contains(rule.Reason, "dead-letter queue") {
					t.Errorf("%s: SQS3 suppressed (%q); only the dead-letter queue is one", id, rule.Reason)
				}
				continue
			}
			if rule.ID != "AwsSolutions-IAM5" || len(rule.AppliesTo) != 1 || rule.AppliesTo[0] != "Resource::*" {
				t.Errorf("%s: suppression %s %v, want only AwsSolutions-IAM5 on Resource::*", id, rule.ID, rule.AppliesTo)
			}
			// The wildcard a policy may hold is the one its suppression names.
			allowed := xray
			if strings.HasPrefix(id, "PublishEventsPolicy") {
				allowed = []string{"dynamodb:ListStreams"}
			}
			if !strings.Contains(rule.Reason, allowed[0]) {
				t.Errorf("%s: suppression reason %q does not say why", id, rule.Reason)
			}
			if r.Type != "AWS::IAM::Policy" {
				continue
			}
			for _, st := range path(r.Properties, "PolicyDocument", "Statement").([]any) {
				if path(st, "Resource") == "*" && !sameSet(stringList(path(st, "Action")), allowed) {
					t.Errorf("%s: %v on '*' hides behind the suppression of %v", id, path(st, "Action"), allowed)
				}
			}
		}
	}
	// X-Ray: one on each role, inherited by its default policy; ListStreams: the publisher's
	// policy; SQS3: the queue and its policy.
	if want := 2*len(config.FunctionNames()) + 1 + 2; suppressed != want {
		t.Errorf("%d suppressions, want %d", suppressed, want)
	}
}
