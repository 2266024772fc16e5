package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
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

// The suppressions are the X-Ray wildcard on each function's role and those of the archive
// (archive.go), each on its resource with its reason, and nothing else.
func TestNag_SuppressionsAreOnlyTheListedOnes(t *testing.T) {
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
						ID        string `json:"id"`
						Reason    string `json:"reason"`
						AppliesTo []any  `json:"applies_to"`
					} `json:"rules_to_suppress"`
				} `json:"cdk_nag"`
			} `json:"Metadata"`
			Properties map[string]any `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	// The archive's: resource id prefix, rule, applies_to (as JSON), a word of the reason.
	archive := map[string][3]string{
		"ArchiveDeadLetters":          {"AwsSolutions-SQS3", "null", "dead-letter queue itself"},
		"ArchiveChangesArchivePolicy": {"AwsSolutions-IAM5", archivePrefixes, "prefix"},
		"SealDigestArchivePolicy":     {"AwsSolutions-IAM5", archivePrefixes, "prefix"},
	}
	suppressed, xray := map[string]int{}, 0
	for id, r := range tmpl.Resources {
		for _, rule := range r.Metadata.Nag.Rules {
			applies := "null"
			if len(rule.AppliesTo) == 1 {
				if re, ok := path(rule.AppliesTo[0], "regex").(string); ok {
					applies = re
				}
			}
			known := false
			for prefix, want := range archive {
				if strings.HasPrefix(id, prefix) && r.Type != "AWS::S3::BucketPolicy" && r.Type != "AWS::SQS::QueuePolicy" {
					known = true
					suppressed[prefix]++
					if rule.ID != want[0] || applies != want[1] || !strings.Contains(rule.Reason, want[2]) {
						t.Errorf("%s: suppression %s on %s (%q), want %s on %s", id, rule.ID, applies, rule.Reason, want[0], want[1])
					}
				}
			}
			if known {
				continue
			}
			xray++
			if rule.ID != "AwsSolutions-IAM5" || len(rule.AppliesTo) != 1 || rule.AppliesTo[0] != "Resource::*" {
				t.Errorf("%s: suppression %s %v, want only AwsSolutions-IAM5 on Resource::*", id, rule.ID, rule.AppliesTo)
			}
			if !strings.Contains(rule.Reason, "xray:PutTraceSegments") {
				t.Errorf("%s: suppression reason %q does not say why", id, rule.Reason)
			}
			if r.Type != "AWS::IAM::Policy" {
				continue
			}
			// The policy may hold "*" for the X-Ray actions and nothing else.
			for _, st := range path(r.Properties, "PolicyDocument", "Statement").([]any) {
				if path(st, "Resource") == "*" && !sameSet(stringList(path(st, "Action")), []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}) {
					t.Errorf("%s: %v on '*' hides behind the X-Ray suppression", id, path(st, "Action"))
				}
			}
		}
	}
	// One on each role, inherited by its default policy.
	if want := 2 * len(config.FunctionNames()); xray != want {
		t.Errorf("%d X-Ray suppressions, want %d (each function's role and its default policy)", xray, want)
	}
	for prefix := range archive {
		if suppressed[prefix] != 1 {
			t.Errorf("%s: %d suppressions, want 1", prefix, suppressed[prefix])
		}
	}
}

// archivePrefixes is the applies_to of the archive policies' suppressions, written out again on
// purpose: the archive bucket's ARN followed by changes/* or digests/*, and no other wildcard.
const archivePrefixes = `/^Resource::<ArchiveBucket[0-9A-F]+\.Arn>\/(changes|digests)\/\*$/`

func TestNag_ArchivePrefixesCoverThePrefixesOnly(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(strings.TrimSuffix(strings.TrimPrefix(archivePrefixes, "/"), "/"))
	for finding, want := range map[string]bool{
		"Resource::<ArchiveBucket9DECBF5D.Arn>/changes/*":     true,
		"Resource::<ArchiveBucket9DECBF5D.Arn>/digests/*":     true,
		"Resource::<ArchiveBucket9DECBF5D.Arn>/*":             false,
		"Resource::<ArchiveAccessLogsEB0A12A9.Arn>/changes/*": false,
		"Resource::*": false,
	} {
		if re.MatchString(finding) != want {
			t.Errorf("%s: suppressed %v, want %v", finding, !want, want)
		}
	}
}
