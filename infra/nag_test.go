package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
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

// The suppressed findings, each where it does not apply: the X-Ray statement's "*" on every
// function's role and dynamodb:ListStreams' "*" on the two stream readers' policies (neither
// action has a resource type in IAM), SQS3 on the two dead-letter queues, which are dead-letter
// queues, and the archive bucket's changes/* and digests/* on the archive's two policies.
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
	xray := []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
	counts := map[string]int{}
	for id, r := range tmpl.Resources {
		for _, rule := range r.Metadata.Nag.Rules {
			var applies []string
			for _, a := range rule.AppliesTo {
				if re, ok := path(a, "regex").(string); ok {
					applies = append(applies, re)
				} else {
					applies = append(applies, fmt.Sprint(a))
				}
			}
			switch {
			case rule.ID == "AwsSolutions-SQS3":
				counts["SQS3"]++
				if !(strings.HasPrefix(id, "PublishEventsDeadLetterQueue") || strings.HasPrefix(id, "ArchiveDeadLetters")) ||
					!strings.Contains(rule.Reason, "dead-letter queue") {
					t.Errorf("%s: SQS3 suppressed (%q); only the dead-letter queues are ones", id, rule.Reason)
				}
				continue
			case rule.ID == "AwsSolutions-IAM5" && len(applies) == 1 && applies[0] == archivePrefixes:
				counts["prefixes"]++
				if !(strings.HasPrefix(id, "ArchiveChangesArchivePolicy") || strings.HasPrefix(id, "SealDigestArchivePolicy")) ||
					!strings.Contains(rule.Reason, "prefix") {
					t.Errorf("%s: the archive's prefixes suppressed (%q) outside the archive's policies", id, rule.Reason)
				}
				continue
			}
			counts["*"]++
			if rule.ID != "AwsSolutions-IAM5" || len(applies) != 1 || applies[0] != "Resource::*" {
				t.Errorf("%s: suppression %s %v, want only AwsSolutions-IAM5 on Resource::*", id, rule.ID, applies)
			}
			// The wildcard a policy may hold is the one its suppression names.
			allowed := xray
			if strings.HasPrefix(id, "PublishEventsPolicy") || strings.HasPrefix(id, "ArchiveChangesArchivePolicy") {
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
	// "*": X-Ray on each role, inherited by its default policy, and ListStreams on the two
	// stream readers' policies; SQS3: the publisher's queue and its policy, the archive's queue;
	// the prefixes: the archive's two policies.
	want := map[string]int{"*": 2*len(config.FunctionNames()) + 2, "SQS3": 3, "prefixes": 2}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("suppressions %v, want %v", counts, want)
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
