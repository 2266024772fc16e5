package main

import (
	"encoding/json"
	"fmt"
	glob "path"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

// archiveOwnAlarms are the archive's alarms besides every function's (TestArchive_Alarms).
var archiveOwnAlarms = map[string]bool{"ArchiveChanges-IteratorAge": true, "ArchiveChanges-DeadLetters": true, "MissedSeal": true}

var (
	prodOnce  sync.Once
	prodSynth *synthesized
)

// prodStack is the prod stack, synthesized once for the tests that only read it.
func prodStack(t *testing.T) *synthesized {
	t.Helper()
	prodOnce.Do(func() {
		prodSynth = synthStack(t, stageConfig("prod"))
	})
	if prodSynth == nil {
		t.Fatal("the prod stack did not synthesize (see the first failure)")
	}
	return prodSynth
}

// text renders a template value, with references as ${id} and ${id.attr} and Fn::Join
// flattened, so that a resource reads like its ARN: ${ArchiveBucket9DECBF5D.Arn}/changes/*.
func text(v any) string {
	if id := ref(v); id != "" {
		return "${" + id + "}"
	}
	if id, attr := getAtt(v); id != "" {
		return "${" + id + "." + attr + "}"
	}
	if join, ok := path(v, "Fn::Join").([]any); ok && len(join) == 2 {
		var b strings.Builder
		for _, p := range join[1].([]any) {
			b.WriteString(text(p))
		}
		return b.String()
	}
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = text(e)
		}
		sort.Strings(parts)
		return strings.Join(parts, " ")
	}
	if m, ok := v.(map[string]any); ok {
		raw, _ := json.Marshal(render(m))
		return string(raw)
	}
	return fmt.Sprint(v)
}

// render replaces the references inside v with their text.
func render(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if ref(v) != "" || path(v, "Fn::GetAtt") != nil || path(v, "Fn::Join") != nil {
			return text(v)
		}
		out := map[string]any{}
		for k, e := range v {
			out[k] = render(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = render(e)
		}
		return out
	}
	return v
}

// statementTexts renders a policy's statements, one line each: effect, principal, actions,
// resources, condition.
func statementTexts(doc any) map[string]string {
	out := map[string]string{}
	for i, st := range path(doc, "Statement").([]any) {
		sid, _ := path(st, "Sid").(string)
		if sid == "" {
			sid = fmt.Sprintf("#%d", i)
		}
		resources := "Resource " + text(path(st, "Resource"))
		if nr := path(st, "NotResource"); nr != nil {
			resources = "NotResource " + text(nr)
		}
		line := fmt.Sprintf("%s %s %s %s", path(st, "Effect"), text(path(st, "Principal")), strings.Join(sorted(stringList(path(st, "Action"))), ","), resources)
		if c := path(st, "Condition"); c != nil {
			line += " if " + text(conditionText(c))
		}
		out[sid] = line
	}
	return out
}

// conditionText renders a condition block's values as text, references included.
func conditionText(c any) map[string]any {
	out := map[string]any{}
	for op, kv := range c.(map[string]any) {
		vals := map[string]string{}
		for k, v := range kv.(map[string]any) {
			vals[k] = text(v)
		}
		out[op] = vals
	}
	return out
}

// roleStatements renders every statement of every policy attached to fn's role, as
// "actions on resources", and says whether the role has inline or managed policies.
func roleStatements(t *testing.T, s *synthesized, fn string) []string {
	t.Helper()
	roleID, _ := getAtt(s.cfn.Resources[s.functionID(t, fn)].Properties["Role"])
	role := s.cfn.Resources[roleID]
	if role.Type != "AWS::IAM::Role" || role.Properties["ManagedPolicyArns"] != nil || role.Properties["Policies"] != nil {
		t.Errorf("%s: role %s is not a plain role of the stack: %v", fn, roleID, role.Properties)
	}
	var out []string
	for _, p := range s.policiesOf(roleID) {
		for _, st := range path(p.Properties, "PolicyDocument", "Statement").([]any) {
			if path(st, "Effect") != "Allow" || path(st, "Condition") != nil || path(st, "NotAction") != nil || path(st, "NotResource") != nil {
				t.Errorf("%s: unexpected statement shape %v", fn, st)
			}
			out = append(out, strings.Join(sorted(stringList(path(st, "Action"))), ",")+" on "+text(path(st, "Resource")))
		}
	}
	sort.Strings(out)
	return out
}

func (s *synthesized) archiveIDs(t *testing.T) (bucket, logs, key, queue, table string) {
	t.Helper()
	for id, r := range s.cfn.Resources {
		switch {
		case r.Type == "AWS::S3::Bucket" && strings.HasPrefix(id, "ArchiveBucket"):
			bucket = id
		case r.Type == "AWS::S3::Bucket" && strings.HasPrefix(id, "ArchiveAccessLogs"):
			logs = id
		case r.Type == "AWS::KMS::Key" && strings.HasPrefix(id, "ArchiveSigningKey"):
			key = id
		}
	}
	if bucket == "" || logs == "" || key == "" {
		t.Fatalf("no archive bucket, access-log bucket or signing key among %v", keys(s.cfn.Resources))
	}
	return bucket, logs, key, queueID(t, s, "ArchiveDeadLetters"), s.onlyID(t, "AWS::DynamoDB::Table")
}

func (s *synthesized) bucketPolicy(t *testing.T, bucket string) cfnResource {
	t.Helper()
	for _, p := range s.ofType("AWS::S3::BucketPolicy") {
		if ref(p.Properties["Bucket"]) == bucket {
			return p
		}
	}
	t.Fatalf("no policy on %s", bucket)
	return cfnResource{}
}

func TestArchive_BucketLockedCompliantInProdGovernedInDev(t *testing.T) {
	test := stageConfig("test")
	test.ArchiveLockMode = "governance"
	test.ArchiveRetentionDays = 3653
	for _, c := range []struct {
		name       string
		s          *synthesized
		mode       string
		days       float64
		policyKept string
	}{
		{"dev: governance, so that the stage can be torn down", defaultStack(t), "GOVERNANCE", 2192, "Delete"},
		{"prod: compliance", prodStack(t), "COMPLIANCE", 2192, "Retain"},
		{"a stage that asks for governance and ten years", synthStack(t, test), "GOVERNANCE", 3653, "Retain"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bucket, logs, _, _, _ := c.s.archiveIDs(t)
			b := c.s.cfn.Resources[bucket]
			want := map[string]any{
				"ObjectLockEnabled": true,
				"ObjectLockConfiguration": map[string]any{"ObjectLockEnabled": "Enabled",
					"Rule": map[string]any{"DefaultRetention": map[string]any{"Days": c.days, "Mode": c.mode}}},
				"VersioningConfiguration": map[string]any{"Status": "Enabled"},
				"PublicAccessBlockConfiguration": map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true,
					"IgnorePublicAcls": true, "RestrictPublicBuckets": true},
				"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
					map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}}}},
				"OwnershipControls":    map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}},
				"LoggingConfiguration": map[string]any{"DestinationBucketName": map[string]any{"Ref": logs}, "LogFilePrefix": "archive/"},
			}
			for k, v := range want {
				if !reflect.DeepEqual(jsonRoundTrip(t, b.Properties[k]), jsonRoundTrip(t, v)) {
					t.Errorf("%s = %v, want %v", k, b.Properties[k], v)
				}
			}
			if b.DeletionPolicy != "Retain" || b.UpdateReplacePolicy != "Retain" {
				t.Errorf("bucket deletion %q, replacement %q; want Retain in every stage", b.DeletionPolicy, b.UpdateReplacePolicy)
			}
			if p := c.s.bucketPolicy(t, bucket); p.DeletionPolicy != c.policyKept {
				t.Errorf("bucket policy deletion %q, want %s", p.DeletionPolicy, c.policyKept)
			}
		})
	}
}

func TestArchive_BucketPolicyDeniesDeletesOverwritesAndStrangers(t *testing.T) {
	s := defaultStack(t)
	bucket, _, _, _, _ := s.archiveIDs(t)
	writer := "${" + roleOf(t, s, config.ArchiveFunction) + ".Arn}"
	sealer := "${" + roleOf(t, s, config.SealFunction) + ".Arn}"
	arn := "${" + bucket + ".Arn}"
	got := statementTexts(s.bucketPolicy(t, bucket).Properties["PolicyDocument"])
	anyone := `{"AWS":"*"}`
	want := map[string]string{
		"NobodyDeletesOrUnlocks": "Deny " + anyone + " s3:BypassGovernanceRetention,s3:DeleteObject,s3:DeleteObjectVersion," +
			"s3:PutObjectLegalHold,s3:PutObjectRetention Resource " + arn + "/*",
		"NoPutWithoutIfNoneMatch":  "Deny " + anyone + " s3:PutObject Resource " + arn + `/* if {"Null":{"s3:if-none-match":"true"}}`,
		"OnlyTheWriterPutsChanges": "Deny " + anyone + " s3:PutObject Resource " + arn + `/changes/* if {"ArnNotEquals":{"aws:PrincipalArn":"` + writer + `"}}`,
		"OnlyTheSealerPutsDigests": "Deny " + anyone + " s3:PutObject Resource " + arn + `/digests/* if {"ArnNotEquals":{"aws:PrincipalArn":"` + sealer + `"}}`,
		"NothingElseIsPut":         "Deny " + anyone + " s3:PutObject NotResource " + arn + "/changes/* " + arn + "/digests/*",
		"#0":                       "Deny " + anyone + " s3:* Resource " + arn + " " + arn + `/* if {"Bool":{"aws:SecureTransport":"false"}}`,
		"#1":                       "Deny " + anyone + " s3:* Resource " + arn + " " + arn + `/* if {"NumericLessThan":{"s3:TlsVersion":"1.2"}}`,
	}
	// Exactly these, and no Allow: the bucket grants nothing; the functions' roles do.
	if !reflect.DeepEqual(got, want) {
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("%s:\n  got  %s\n  want %s", k, got[k], want[k])
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected statement %s: %s", k, got[k])
			}
		}
	}
}

func roleOf(t *testing.T, s *synthesized, fn string) string {
	t.Helper()
	id, _ := getAtt(s.cfn.Resources[s.functionID(t, fn)].Properties["Role"])
	return id
}

// Each archive function's role may do exactly what the function does; neither touches the
// table itself.
func TestArchive_RolesMayDoExactlyWhatTheFunctionsDo(t *testing.T) {
	s := defaultStack(t)
	bucket, _, key, queue, table := s.archiveIDs(t)
	arn := "${" + bucket + ".Arn}"
	logGroup := func(fn string) string {
		return "logs:CreateLogStream,logs:PutLogEvents on ${" + ref(path(s.cfn.Resources[s.functionID(t, fn)].Properties, "LoggingConfig", "LogGroup")) + ".Arn}"
	}
	const xray = "xray:PutTelemetryRecords,xray:PutTraceSegments on *"
	want := map[string][]string{
		config.ArchiveFunction: {
			logGroup(config.ArchiveFunction), xray,
			"s3:PutObject on " + arn + "/changes/*",
			"dynamodb:DescribeStream,dynamodb:GetRecords,dynamodb:GetShardIterator on ${" + table + ".StreamArn}",
			"dynamodb:ListStreams on *",
			"sqs:SendMessage on ${" + queue + ".Arn}",
		},
		config.SealFunction: {
			logGroup(config.SealFunction), xray,
			"s3:ListBucket on " + arn,
			"s3:GetObject on " + arn + "/changes/* " + arn + "/digests/*",
			"s3:PutObject on " + arn + "/digests/*",
			"kms:Sign on ${" + key + ".Arn}",
		},
	}
	for fn, w := range want {
		sort.Strings(w)
		if got := roleStatements(t, s, fn); !reflect.DeepEqual(got, w) {
			t.Errorf("%s may\n  %s\nwant exactly\n  %s", fn, strings.Join(got, "\n  "), strings.Join(w, "\n  "))
		}
	}
}

// No role of the stack may delete an archive object, lift its lock, or put one outside its
// function's own prefix.
func TestArchive_NoRoleMayDeleteOrOverwrite(t *testing.T) {
	s := defaultStack(t)
	bucket, _, _, _, _ := s.archiveIDs(t)
	arn := "${" + bucket + ".Arn}"
	forbidden := append([]string{"s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
		"s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"}, ArchiveDeniedObjectActions...)
	putters := map[string]string{
		arn + "/changes/*": roleOf(t, s, config.ArchiveFunction),
		arn + "/digests/*": roleOf(t, s, config.SealFunction),
	}
	for id, p := range s.ofType("AWS::IAM::Policy") {
		roles := p.Properties["Roles"].([]any)
		for _, st := range path(p.Properties, "PolicyDocument", "Statement").([]any) {
			for _, action := range stringList(path(st, "Action")) {
				for _, f := range forbidden {
					if ok, _ := glob.Match(strings.ToLower(action), strings.ToLower(f)); ok {
						t.Errorf("%s allows %s (%s)", id, f, action)
					}
				}
				if ok, _ := glob.Match(strings.ToLower(action), "s3:putobject"); !ok {
					continue
				}
				res := text(path(st, "Resource"))
				if owner, known := putters[res]; !known || len(roles) != 1 || ref(roles[0]) != owner {
					t.Errorf("%s lets %v put on %s, want only archive-changes on changes/* and seal-digest on digests/*", id, roles, res)
				}
			}
		}
	}
	for _, r := range s.ofType("AWS::IAM::Role") {
		if r.Properties["ManagedPolicyArns"] != nil || r.Properties["Policies"] != nil {
			t.Errorf("a role with managed or inline policies: %v", r.Properties)
		}
	}
	if n := len(s.ofType("AWS::CloudFormation::CustomResource")); n != 0 {
		t.Errorf("%d custom resources: none may act on the bucket on the stack's behalf", n)
	}
}

func TestArchive_KeySignsForTheSealerOnly(t *testing.T) {
	for _, c := range []struct {
		stage string
		s     *synthesized
	}{{"dev", defaultStack(t)}, {"prod", prodStack(t)}} {
		t.Run(c.stage, func(t *testing.T) {
			_, _, key, _, _ := c.s.archiveIDs(t)
			k := c.s.cfn.Resources[key]
			if k.Properties["KeySpec"] != "ECC_NIST_P256" || k.Properties["KeyUsage"] != "SIGN_VERIFY" || k.DeletionPolicy != "Retain" {
				t.Errorf("key %v for %v, deletion %q; want ECC_NIST_P256 for SIGN_VERIFY, Retain", k.Properties["KeySpec"], k.Properties["KeyUsage"], k.DeletionPolicy)
			}
			sealer := "${" + roleOf(t, c.s, config.SealFunction) + ".Arn}"
			root := `{"AWS":"arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}`
			want := map[string]string{
				"AccountAdministersTheKey": "Allow " + root + " kms:CancelKeyDeletion,kms:Create*,kms:Delete*,kms:Describe*,kms:Disable*," +
					"kms:Enable*,kms:GetKeyPolicy,kms:GetKeyRotationStatus,kms:List*,kms:Put*,kms:Revoke*,kms:ScheduleKeyDeletion," +
					"kms:TagResource,kms:UntagResource,kms:Update* Resource *",
				"AccountReadsThePublicKey": "Allow " + root + " kms:GetPublicKey Resource *",
				"TheSealerSignsDigests": `Allow {"AWS":"` + sealer + `"} kms:Sign Resource * if ` +
					`{"StringEquals":{"kms:MessageType":"DIGEST","kms:SigningAlgorithm":"ECDSA_SHA_256"}}`,
				"NobodyElseSigns": `Deny {"AWS":"*"} kms:Sign Resource * if {"ArnNotEquals":{"aws:PrincipalArn":"` + sealer + `"}}`,
			}
			if c.stage == "prod" {
				want["NobodyDeletesTheKey"] = `Deny {"AWS":"*"} kms:ScheduleKeyDeletion Resource *`
			}
			got := statementTexts(keyPolicyWithRefs(k.Properties["KeyPolicy"]))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("key policy\n  %v\nwant\n  %v", got, want)
			}
			// No statement but the sealer's may allow signing, by name or by wildcard.
			for _, st := range path(k.Properties["KeyPolicy"], "Statement").([]any) {
				if path(st, "Sid") == "TheSealerSignsDigests" || path(st, "Effect") != "Allow" {
					continue
				}
				for _, a := range stringList(path(st, "Action")) {
					if ok, _ := glob.Match(a, "kms:Sign"); ok {
						t.Errorf("statement %v lets someone else sign (%s)", path(st, "Sid"), a)
					}
				}
			}
		})
	}
}

// keyPolicyWithRefs turns the account root's Fn::Join into text with pseudo references.
func keyPolicyWithRefs(doc any) any {
	raw, _ := json.Marshal(doc)
	s := strings.ReplaceAll(string(raw), `{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::",{"Ref":"AWS::AccountId"},":root"]]}`,
		`"arn:${AWS::Partition}:iam::${AWS::AccountId}:root"`)
	var out any
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

func TestArchive_StreamReadAsThePublisherReadsIt(t *testing.T) {
	s := defaultStack(t)
	_, _, _, queue, table := s.archiveIDs(t)
	if v := path(s.cfn.Resources[table].Properties, "StreamSpecification", "StreamViewType"); v != "NEW_AND_OLD_IMAGES" {
		t.Errorf("table stream %v, want NEW_AND_OLD_IMAGES", v)
	}
	// The stream's two readers: publish-events' mapping (events_test.go) and this one.
	mappings := map[string]cfnResource{}
	for id, m := range s.ofType("AWS::Lambda::EventSourceMapping") {
		if fn := ref(m.Properties["FunctionName"]); fn == s.functionID(t, config.ArchiveFunction) {
			mappings[id] = m
		}
	}
	if n := len(s.ofType("AWS::Lambda::EventSourceMapping")); len(mappings) != 1 || n != 2 {
		t.Fatalf("%d event source mappings, %d of archive-changes; want the publisher's and archive-changes' one", n, len(mappings))
	}
	for id, m := range mappings {
		p := m.Properties
		got := map[string]string{}
		// No FilterCriteria: the archive keeps every change of every item.
		for _, k := range []string{"FunctionName", "EventSourceArn", "StartingPosition", "BatchSize", "MaximumRetryAttempts",
			"MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "FunctionResponseTypes", "DestinationConfig", "FilterCriteria"} {
			got[k] = text(p[k])
		}
		want := map[string]string{
			"FunctionName": "${" + s.functionID(t, config.ArchiveFunction) + "}", "EventSourceArn": "${" + table + ".StreamArn}",
			"StartingPosition": "TRIM_HORIZON", "BatchSize": "100", "MaximumRetryAttempts": "10", "MaximumRecordAgeInSeconds": "3600",
			"BisectBatchOnFunctionError": "true", "FunctionResponseTypes": "ReportBatchItemFailures",
			"DestinationConfig": `{"OnFailure":{"Destination":"${` + queue + `.Arn}"}}`, "FilterCriteria": "<nil>",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n  %v\nwant\n  %v", id, got, want)
		}
		// Lambda checks the role's stream and queue permissions when it makes the mapping.
		raw, _ := json.Marshal(s.template.ToJSON())
		var deps struct {
			Resources map[string]struct{ DependsOn []string } `json:"Resources"`
		}
		_ = json.Unmarshal(raw, &deps)
		var onPolicy bool
		for _, d := range deps.Resources[id].DependsOn {
			onPolicy = onPolicy || strings.HasPrefix(d, "ArchiveChangesArchivePolicy")
		}
		if !onPolicy {
			t.Errorf("%s depends on %v, want archive-changes' archive policy", id, deps.Resources[id].DependsOn)
		}
	}
	q := s.cfn.Resources[queue]
	if q.Properties["SqsManagedSseEnabled"] != true || q.Properties["MessageRetentionPeriod"] != float64(14*24*3600) {
		t.Errorf("dead-letter queue %v, want SSE-SQS and 14 days", q.Properties)
	}
	var tlsOnly bool
	for _, p := range s.ofType("AWS::SQS::QueuePolicy") {
		if queues, _ := p.Properties["Queues"].([]any); len(queues) != 1 || ref(queues[0]) != queue {
			continue
		}
		for _, st := range statementTexts(p.Properties["PolicyDocument"]) {
			tlsOnly = tlsOnly || strings.HasPrefix(st, `Deny {"AWS":"*"} sqs:*`) && strings.HasSuffix(st, `if {"Bool":{"aws:SecureTransport":"false"}}`)
		}
	}
	if !tlsOnly {
		t.Error("the dead-letter queue takes messages without TLS")
	}
}

func TestArchive_SealsHourlyAfterTheGrace(t *testing.T) {
	s := defaultStack(t)
	if err := checkSealTiming(); err != nil {
		t.Fatal(err)
	}
	rules := s.ofType("AWS::Events::Rule")
	if len(rules) != 1 {
		t.Fatalf("%d rules, want the seal schedule", len(rules))
	}
	for id, r := range rules {
		p := r.Properties
		targets, _ := p["Targets"].([]any)
		if p["ScheduleExpression"] != "cron(20 * * * ? *)" || p["State"] != "ENABLED" || p["EventPattern"] != nil || len(targets) != 1 {
			t.Fatalf("%s: %v, want cron(20 * * * ? *), enabled, one target", id, p)
		}
		fn, attr := getAtt(path(targets[0], "Arn"))
		if fn != s.functionID(t, config.SealFunction) || attr != "Arn" || text(path(targets[0], "RetryPolicy")) != `{"MaximumEventAgeInSeconds":3600,"MaximumRetryAttempts":2}` {
			t.Errorf("target %v, want seal-digest with two retries within an hour", targets[0])
		}
	}
	// The grace covers the writer's longest run, and the run comes after the grace.
	if SealGrace < ArchiveTimeouts[config.ArchiveFunction] || SealScheduleMinute*60 <= int(SealGrace.Seconds()) {
		t.Errorf("grace %s, writer timeout %s, run at minute %d", SealGrace, ArchiveTimeouts[config.ArchiveFunction], SealScheduleMinute)
	}
	configs := s.ofType("AWS::Lambda::EventInvokeConfig")
	if len(configs) != 1 {
		t.Fatalf("%d async invoke configs, want seal-digest's", len(configs))
	}
	for _, c := range configs {
		if ref(c.Properties["FunctionName"]) != s.functionID(t, config.SealFunction) || c.Properties["MaximumRetryAttempts"] != float64(2) {
			t.Errorf("async invoke config %v, want seal-digest's with two retries", c.Properties)
		}
	}
}

func TestArchive_FunctionsSettings(t *testing.T) {
	s := defaultStack(t)
	bucket, _, key, _, _ := s.archiveIDs(t)
	for fn, want := range map[string]struct {
		timeout float64
		env     map[string]string
	}{
		config.ArchiveFunction: {60, map[string]string{"STAGE": "dev", "LOG_LEVEL": "info", "ARCHIVE_BUCKET": "${" + bucket + "}", "SEAL_INTERVAL": "1h"}},
		config.SealFunction: {300, map[string]string{"STAGE": "dev", "LOG_LEVEL": "info", "ARCHIVE_BUCKET": "${" + bucket + "}", "SEAL_INTERVAL": "1h",
			"SEAL_GRACE": "15m", "ARCHIVE_KMS_KEY_ID": "${" + key + ".Arn}"}},
	} {
		p := s.cfn.Resources[s.functionID(t, fn)].Properties
		got := map[string]string{}
		for k, v := range path(p, "Environment", "Variables").(map[string]any) {
			got[k] = text(v)
		}
		if !reflect.DeepEqual(got, want.env) || p["Timeout"] != want.timeout || p["MemorySize"] != float64(256) {
			t.Errorf("%s: timeout %v, memory %v, environment %v; want %v s, 256 MB, %v", fn, p["Timeout"], p["MemorySize"], got, want.timeout, want.env)
		}
	}
}

func TestArchive_Alarms(t *testing.T) {
	s := defaultStack(t)
	_, _, _, queue, _ := s.archiveIDs(t)
	topic := s.onlyID(t, "AWS::SNS::Topic")
	want := map[string]struct {
		op        string
		threshold float64
		missing   string
		metric    alarmMetric
	}{
		"ArchiveChanges-IteratorAge": {"GreaterThanOrEqualToThreshold", 300000, "notBreaching", alarmMetric{Namespace: "AWS/Lambda", Name: "IteratorAge",
			Stat: "Maximum", Period: 300, Dimensions: map[string]any{"FunctionName": "Ref:" + s.functionID(t, config.ArchiveFunction)}}},
		"ArchiveChanges-DeadLetters": {"GreaterThanOrEqualToThreshold", 1, "notBreaching", alarmMetric{Namespace: "AWS/SQS",
			Name: "ApproximateNumberOfMessagesVisible", Stat: "Maximum", Period: 300, Dimensions: map[string]any{"QueueName": nil}}},
		// A run every hour: an hour without one is a missed seal too.
		"MissedSeal": {"GreaterThanOrEqualToThreshold", 1, "breaching", alarmMetric{Namespace: "BufdirExportAudit", Name: "UnsealedPeriods",
			Stat: "Minimum", Period: 3600, Dimensions: map[string]any{"Stage": "dev"}}},
	}
	found := map[string]bool{}
	for _, r := range s.ofType("AWS::CloudWatch::Alarm") {
		name, _ := r.Properties["AlarmName"].(string)
		short := strings.TrimPrefix(name, "BufdirExportAudit-dev-")
		found[short] = true
		w, ok := want[short]
		if !ok {
			continue
		}
		p := r.Properties
		if p["ComparisonOperator"] != w.op || p["Threshold"] != w.threshold || p["EvaluationPeriods"] != float64(1) ||
			p["DatapointsToAlarm"] != float64(1) || p["TreatMissingData"] != w.missing {
			t.Errorf("%s: %v %v in %v of %v, missing data %v; want %s %v in 1 of 1, %s", short, p["ComparisonOperator"], p["Threshold"],
				p["DatapointsToAlarm"], p["EvaluationPeriods"], p["TreatMissingData"], w.op, w.threshold, w.missing)
		}
		q := queryOf(t, p)
		m := q.Metrics[""]
		if short == "ArchiveChanges-DeadLetters" {
			if id, attr := getAtt(m.Dimensions["QueueName"]); id != queue || attr != "QueueName" {
				t.Errorf("%s reads queue %v, want the dead-letter queue", short, m.Dimensions)
			}
			m.Dimensions = map[string]any{"QueueName": nil}
		}
		if len(q.Metrics) != 1 || m.String() != w.metric.String() {
			t.Errorf("%s reads %v, want %s", short, q.Metrics, w.metric)
		}
		for _, k := range []string{"AlarmActions", "OKActions"} {
			if a, _ := p[k].([]any); len(a) != 1 || ref(a[0]) != topic {
				t.Errorf("%s: %s %v, want the alarm topic", short, k, p[k])
			}
		}
	}
	for name := range want {
		if !found[name] || !archiveOwnAlarms[name] {
			t.Errorf("no alarm %s (or it is not among archiveOwnAlarms)", name)
		}
	}
	// The sealer's errors, and either function's throttles, alarm as every function's do.
	for _, name := range []string{"SealDigest-Errors", "SealDigest-Throttles", "ArchiveChanges-Errors", "ArchiveChanges-LatencyP99"} {
		if !found[name] {
			t.Errorf("no alarm %s", name)
		}
	}
}

func TestArchive_AccessLogsAndOutputs(t *testing.T) {
	s := defaultStack(t)
	bucket, logs, key, _, _ := s.archiveIDs(t)
	l := s.cfn.Resources[logs]
	if text(path(l.Properties, "LifecycleConfiguration")) != `{"Rules":[{"ExpirationInDays":730,"Id":"expire-access-logs","Status":"Enabled"}]}` ||
		text(path(l.Properties, "BucketEncryption")) != `{"ServerSideEncryptionConfiguration":[{"ServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}` ||
		l.DeletionPolicy != "Retain" || path(l.Properties, "PublicAccessBlockConfiguration", "RestrictPublicBuckets") != true {
		t.Errorf("access-log bucket %v (%s), want SSE-S3, public access blocked, logs expiring after two years, Retain", l.Properties, l.DeletionPolicy)
	}
	got := statementTexts(s.bucketPolicy(t, logs).Properties["PolicyDocument"])
	delivery := `Allow {"Service":"logging.s3.amazonaws.com"} s3:PutObject Resource ${` + logs + `.Arn}/archive/* if ` +
		`{"ArnLike":{"aws:SourceArn":"${` + bucket + `.Arn}"},"StringEquals":{"aws:SourceAccount":"${AWS::AccountId}"}}`
	if got["#2"] != delivery || len(got) != 3 || !strings.Contains(got["#0"], "aws:SecureTransport") {
		t.Errorf("access-log bucket policy %v, want TLS only and log delivery from the archive bucket only:\n  %s", got, delivery)
	}
	check(t, "outputs name the bucket and the key", func() {
		s.template.HasOutput(jsii.String("ArchiveBucketName"), obj{"Value": obj{"Ref": bucket}})
		s.template.HasOutput(jsii.String("ArchiveKeyArn"), obj{"Value": obj{"Fn::GetAtt": arr{key, "Arn"}}})
	})
}

func TestArchive_ConfigFromContext(t *testing.T) {
	t.Parallel()
	base := map[string]interface{}{"jwtIssuer": testJWTIssuer, "jwtAudience": testJWTAudience}
	for _, c := range []struct {
		name    string
		context map[string]interface{}
		days    int
		lock    string
		wantErr string
	}{
		{"defaults: six years, governance in dev", nil, 2192, LockGovernance, ""},
		{"another stage defaults to compliance", map[string]interface{}{"stage": "test", "fileUrlAllowedHosts": "storage.example.no"}, 2192, LockCompliance, ""},
		{"a throwaway stage may ask for governance", map[string]interface{}{"stage": "feature-x", "fileUrlAllowedHosts": "storage.example.no",
			"archiveLockMode": "governance"}, 2192, LockGovernance, ""},
		{"dev may ask for compliance", map[string]interface{}{"archiveLockMode": "compliance"}, 2192, LockCompliance, ""},
		{"retention as -c string", map[string]interface{}{"archiveRetentionDays": "3653"}, 3653, LockGovernance, ""},
		{"retention as a cdk.json number", map[string]interface{}{"archiveRetentionDays": 365}, 365, LockGovernance, ""},
		{"prod refuses governance", map[string]interface{}{"stage": "prod", "fileUrlAllowedHosts": "storage.example.no",
			"archiveLockMode": "governance"}, 0, "", "archiveLockMode must be compliance"},
		{"an unknown mode", map[string]interface{}{"archiveLockMode": "legal-hold"}, 0, "", "archiveLockMode"},
		{"no retention", map[string]interface{}{"archiveRetentionDays": "0"}, 0, "", "archiveRetentionDays"},
		{"past S3's hundred years", map[string]interface{}{"archiveRetentionDays": "36501"}, 0, "", "archiveRetentionDays"},
		{"retention that is not a number", map[string]interface{}{"archiveRetentionDays": "six years"}, 0, "", "archiveRetentionDays"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := map[string]interface{}{}
			for k, v := range base {
				ctx[k] = v
			}
			for k, v := range c.context {
				ctx[k] = v
			}
			app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})
			cfg, err := ConfigFromContext(app.Node())
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Errorf("want an error about %s, got %v", c.wantErr, err)
				}
				return
			}
			if err != nil || cfg.ArchiveRetentionDays != c.days || cfg.ArchiveLock() != c.lock {
				t.Errorf("retention %d, lock %s (%v); want %d, %s", cfg.ArchiveRetentionDays, cfg.ArchiveLock(), err, c.days, c.lock)
			}
		})
	}
}
