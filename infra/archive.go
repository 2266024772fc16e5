package main

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/bufdir/export-audit/pkg/config"
)

// The archive in AWS (pkg/archive, the README's "The archive in AWS"): a bucket with Object
// Lock that nobody can delete from or overwrite, archive-changes writing every batch of the
// table's stream into it, and seal-digest sealing it hourly with a KMS key only it may sign
// with. infra/README.md gives the reasons for each choice.

// DefaultArchiveRetentionDays is the Object Lock default retention: six years, leap days
// included. The Bookkeeping Act (bokføringsloven § 13) keeps accounting records five years
// after the end of the financial year they belong to, and the central government's financial
// regulations apply it to Bufdir's grant administration; a change archived on 1 January belongs
// to a year that ends 364 days later, so six years from the write cover five from the year's
// end for every change. The lock is a floor, not a deletion date: nothing expires the archive
// after it, so disposal follows the Archives Act (arkivlova) and the body's approved disposal
// schedule, decided by people, not by the stack.
const DefaultArchiveRetentionDays = 6*365 + 2

// MaxArchiveRetentionDays is S3's longest Object Lock retention, 100 years.
const MaxArchiveRetentionDays = 36500

// The Object Lock modes, as S3 names them.
const (
	LockGovernance = "GOVERNANCE"
	LockCompliance = "COMPLIANCE"
)

// ArchiveLock is the Object Lock mode of the stage's archive: context archiveLockMode, else
// governance in dev, where whoever holds s3:BypassGovernanceRetention can empty the bucket to
// tear the stage down, and compliance everywhere else, where nobody, the account's root user
// included, can delete or shorten the lock of a version before its retention ends.
func (c Config) ArchiveLock() string {
	switch c.ArchiveLockMode {
	case "governance":
		return LockGovernance
	case "compliance":
		return LockCompliance
	}
	if c.Stage == "dev" {
		return LockGovernance
	}
	return LockCompliance
}

func (c Config) validateArchive() error {
	if c.ArchiveRetentionDays < 1 || c.ArchiveRetentionDays > MaxArchiveRetentionDays {
		return fmt.Errorf("archiveRetentionDays %d: want 1 to %d (S3 Object Lock's limits)", c.ArchiveRetentionDays, MaxArchiveRetentionDays)
	}
	switch c.ArchiveLockMode {
	case "", "governance", "compliance":
	default:
		return fmt.Errorf("archiveLockMode %q: want governance or compliance", c.ArchiveLockMode)
	}
	if c.Stage == "prod" && c.ArchiveLock() != LockCompliance {
		return fmt.Errorf("stage prod: archiveLockMode must be compliance; governance lets a holder of s3:BypassGovernanceRetention delete the audit trail")
	}
	return nil
}

// The archive's functions' timeouts. archive-changes makes one PutObject of a batch, whose SDK
// retries take at most 58 s (internal/app/archiver); seal-digest reads every change object of
// each period it seals and makes up missed periods, so it gets five minutes, and a catch-up
// longer than that goes on in the next run from the digests this one wrote.
var ArchiveTimeouts = map[string]time.Duration{
	config.ArchiveFunction: time.Minute,
	config.SealFunction:    5 * time.Minute,
}

// The stack's sealing periods: hourly, and a grace of 15 minutes (config.AWSGrace, which make
// verify assumes in AWS). The grace must cover archive-changes' longest run, its timeout, so
// that no batch the writer took into a period is still being written when the period is
// sealed; 15 minutes is Lambda's longest timeout, so no timeout the writer may be given can
// outrun it.
var (
	SealInterval = config.AWSSealInterval
	SealGrace    = config.AWSGrace
)

// SealScheduleMinute is the minute past each hour (UTC) at which seal-digest runs: five minutes
// after the grace of the hour that just ended, so that each run seals that hour, an hour and
// 20 minutes after it began.
const SealScheduleMinute = 20

// checkSealTiming refuses settings under which a sealed period could still receive a batch or
// a run would find nothing due.
func checkSealTiming() error {
	if writer := ArchiveTimeouts[config.ArchiveFunction]; SealGrace < writer {
		return fmt.Errorf("SealGrace %s is shorter than archive-changes' timeout %s: a batch could land in a sealed period", SealGrace, writer)
	}
	if SealInterval != time.Hour || time.Duration(SealScheduleMinute)*time.Minute <= SealGrace || SealScheduleMinute >= 60 {
		return fmt.Errorf("seal-digest runs hourly at minute %d, which must come after the grace %s of hourly periods", SealScheduleMinute, SealGrace)
	}
	return nil
}

// ArchiveAccessLogDays is how long the archive bucket's server access logs (who read it, who
// was refused a delete) stay: an audit of a year's accesses is done the year after.
const ArchiveAccessLogDays = 2 * 365

// MissedSealThreshold: one due period left unsealed by every run of an hour, or no run in an
// hour at all. archive-changes' iterator age and dead letters alarm at the publisher's
// thresholds (IteratorAgeThresholdMs, DeadLettersThreshold) for the same reasons; sealing does
// not depend on the iterator age, as a late batch lands in the period of the writer's clock.
const MissedSealThreshold = 1

// NoLatencyAlarm names the functions without a p99 duration alarm, and why.
var NoLatencyAlarm = map[string]string{
	config.SealFunction: "it runs once an hour, so three five-minute periods in a row never hold a run and a p99 alarm " +
		"could never fire; a slow run ends in its timeout, an error and a missed seal, which alarm",
}

// Archive is the archive's resources.
type Archive struct {
	Bucket      awss3.Bucket
	AccessLogs  awss3.Bucket
	Key         awskms.Key
	DeadLetters awssqs.Queue
	Schedule    awsevents.Rule
}

// newArchive makes the bucket, its access-log bucket and the signing key. The statements that
// name the functions' roles come once the functions exist (connectArchive).
func newArchive(stack awscdk.Stack, cfg Config) *Archive {
	a := &Archive{}
	dev := cfg.Stage == "dev"
	a.AccessLogs = awss3.NewBucket(stack, jsii.String("ArchiveAccessLogs"), &awss3.BucketProps{
		// Server access log delivery writes with SSE-S3 only.
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-access-logs"),
			Expiration: awscdk.Duration_Days(jsii.Number(ArchiveAccessLogDays)),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// cdk-nag takes a bucket that receives server access logs for logged (AwsSolutions-S1).

	retention := awscdk.Duration_Days(jsii.Number(float64(cfg.ArchiveRetentionDays)))
	lock := awss3.ObjectLockRetention_Compliance(retention)
	if cfg.ArchiveLock() == LockGovernance {
		lock = awss3.ObjectLockRetention_Governance(retention)
	}
	a.Bucket = awss3.NewBucket(stack, jsii.String("ArchiveBucket"), &awss3.BucketProps{
		ObjectLockEnabled:          jsii.Bool(true),
		ObjectLockDefaultRetention: lock,
		// Object Lock requires it; every version is kept, and locked, on its own.
		Versioned:         jsii.Bool(true),
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		// SSE-S3 rather than a KMS key: the digests' signatures, not the encryption, prove the
		// archive whole, and a customer-managed key could be disabled or scheduled for deletion
		// by the account's administrators, making a locked archive unreadable for good.
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket: a.AccessLogs,
		ServerAccessLogsPrefix: jsii.String("archive/"),
		// In every stage: CloudFormation cannot delete a bucket that holds objects, and a
		// locked one cannot be emptied by it (the README says how a dev stage is torn down).
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// The denies below go with the bucket in every stage but dev, where the stack's deletion
	// takes them away so that the bucket can be emptied.
	if dev {
		a.Bucket.Policy().ApplyRemovalPolicy(awscdk.RemovalPolicy_DESTROY)
	} else {
		a.Bucket.Policy().ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN)
	}

	account := awsiam.NewAccountRootPrincipal()
	statements := []awsiam.PolicyStatement{
		// KMS requires a key policy that lets someone administer the key: without it the key
		// could not be changed, by CloudFormation either, and only AWS Support could recover
		// it. The account's root principal delegates to IAM, so the account's policies decide
		// who administers it. Signing is not administration: the statements added with the
		// sealer's role keep kms:Sign to it alone.
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AccountAdministersTheKey"),
			Principals: &[]awsiam.IPrincipal{account},
			Actions: jsii.Strings("kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
				"kms:Revoke*", "kms:Disable*", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:Delete*",
				"kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"),
			Resources: jsii.Strings("*"),
		}),
		// make verify reads the public part, through IAM (the README lists the actions).
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AccountReadsThePublicKey"),
			Principals: &[]awsiam.IPrincipal{account},
			Actions:    jsii.Strings("kms:GetPublicKey"),
			Resources:  jsii.Strings("*"),
		}),
	}
	if !dev {
		// Every digest ever written is checked with this key's public part: the key stays
		// while the stage does. Lifting this takes a change of the key policy, which
		// CloudTrail records.
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("NobodyDeletesTheKey"),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("kms:ScheduleKeyDeletion"),
			Resources:  jsii.Strings("*"),
		}))
	}
	a.Key = awskms.NewKey(stack, jsii.String("ArchiveSigningKey"), &awskms.KeyProps{
		Description: jsii.String("Signs the archive digests of " + StackName(cfg.Stage)),
		KeySpec:     awskms.KeySpec_ECC_NIST_P256,
		KeyUsage:    awskms.KeyUsage_SIGN_VERIFY,
		Policy:      awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements}),
		// Without the key's public part no digest can be checked: it outlives the stack.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})

	// As the publisher's: the messages are positions in the stream, no record data; kept as
	// long as SQS keeps anything, as the evidence of a gap in the archive.
	a.DeadLetters = awssqs.NewQueue(stack, jsii.String("ArchiveDeadLetters"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(DeadLetterRetentionDays)),
	})
	suppress(a.DeadLetters, "AwsSolutions-SQS3", "This is the dead-letter queue itself: archive-changes' event source mapping sends the stream "+
		"positions it gave up on here, and nothing consumes it but an operator.", false)
	return a
}

// environment is what the archive gives the functions' environment (EnvironmentValues).
func (a *Archive) environment() map[string]*string {
	return map[string]*string{
		config.EnvArchiveBucket: a.Bucket.BucketName(),
		config.EnvArchiveKMSKey: a.Key.KeyArn(),
		config.EnvSealInterval:  jsii.String(durationText(SealInterval)),
		config.EnvSealGrace:     jsii.String(durationText(SealGrace)),
	}
}

// durationText writes d as a Go duration a person would: 1h, 15m.
func durationText(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// S3 and KMS actions the bucket and key policies deny everyone.
var (
	// ArchiveDeniedObjectActions would delete a version, add a delete marker, or shorten or
	// lift a version's lock.
	ArchiveDeniedObjectActions = []string{"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention",
		"s3:PutObjectLegalHold", "s3:BypassGovernanceRetention"}
)

// connectArchive gives the functions what they may do and nothing more, closes the bucket and
// the key to everyone else, reads the table's stream into archive-changes and runs seal-digest
// on the hour.
func connectArchive(stack awscdk.Stack, cfg Config, a *Archive, table awsdynamodb.Table, functions map[string]awslambda.Function) {
	writer, sealer := functions[config.ArchiveFunction], functions[config.SealFunction]
	changes, digests := a.Bucket.ArnForObjects(jsii.String("changes/*")), a.Bucket.ArnForObjects(jsii.String("digests/*"))

	writerPolicy := awsiam.NewPolicy(stack, jsii.String(LogicalName(config.ArchiveFunction)+"ArchivePolicy"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{writer.Role()},
		Statements: &[]awsiam.PolicyStatement{
			allow([]string{"s3:PutObject"}, changes),
			// What the event source mapping reads the stream with, as the publisher's does:
			// the records on this table's stream only, ListStreams (no resource type) on "*".
			allow(StreamActions, table.TableStreamArn()),
			allow([]string{"dynamodb:ListStreams"}, jsii.String("*")),
			// The mapping sends a batch it gave up on with the function's role.
			allow([]string{"sqs:SendMessage"}, a.DeadLetters.QueueArn()),
		},
	})
	sealerPolicy := awsiam.NewPolicy(stack, jsii.String(LogicalName(config.SealFunction)+"ArchivePolicy"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{sealer.Role()},
		Statements: &[]awsiam.PolicyStatement{
			allow([]string{"s3:ListBucket"}, a.Bucket.BucketArn()),
			allow([]string{"s3:GetObject"}, changes, digests),
			allow([]string{"s3:PutObject"}, digests),
			allow([]string{"kms:Sign"}, a.Key.KeyArn()),
		},
	})
	for _, p := range []struct {
		policy awsiam.Policy
		what   string
	}{{writerPolicy, "the change objects it writes"}, {sealerPolicy, "the change objects it hashes and the digests it reads and writes"}} {
		suppress(p.policy, "AwsSolutions-IAM5", "Object keys are made per batch and per period, so the narrowest grant is a prefix of the "+
			"archive bucket: "+p.what+".", false, &cdknag.RegexAppliesTo{Regex: jsii.String(archivePrefixFindings)})
	}
	suppress(writerPolicy, "AwsSolutions-IAM5", listStreamsReason, false, "Resource::*")
	// A function called before its permissions exist would fail with AccessDenied.
	writer.Node().AddDependency(writerPolicy)
	sealer.Node().AddDependency(sealerPolicy)

	writerRole, sealerRole := writer.Role().RoleArn(), sealer.Role().RoleArn()
	anyone := &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()}
	for _, st := range []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("NobodyDeletesOrUnlocks"), Effect: awsiam.Effect_DENY, Principals: anyone,
			Actions: jsii.Strings(ArchiveDeniedObjectActions...), Resources: jsii.Strings(*a.Bucket.ArnForObjects(jsii.String("*"))),
		}),
		// S3's conditional write: a put without If-None-Match could replace an object's
		// current version (the locked one stays, hidden behind it).
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("NoPutWithoutIfNoneMatch"), Effect: awsiam.Effect_DENY, Principals: anyone,
			Actions: jsii.Strings("s3:PutObject"), Resources: jsii.Strings(*a.Bucket.ArnForObjects(jsii.String("*"))),
			Conditions: &map[string]interface{}{"Null": map[string]interface{}{"s3:if-none-match": "true"}},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("OnlyTheWriterPutsChanges"), Effect: awsiam.Effect_DENY, Principals: anyone,
			Actions: jsii.Strings("s3:PutObject"), Resources: jsii.Strings(*changes),
			Conditions: &map[string]interface{}{"ArnNotEquals": map[string]interface{}{"aws:PrincipalArn": writerRole}},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("OnlyTheSealerPutsDigests"), Effect: awsiam.Effect_DENY, Principals: anyone,
			Actions: jsii.Strings("s3:PutObject"), Resources: jsii.Strings(*digests),
			Conditions: &map[string]interface{}{"ArnNotEquals": map[string]interface{}{"aws:PrincipalArn": sealerRole}},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("NothingElseIsPut"), Effect: awsiam.Effect_DENY, Principals: anyone,
			Actions: jsii.Strings("s3:PutObject"), NotResources: jsii.Strings(*changes, *digests),
		}),
	} {
		a.Bucket.AddToResourcePolicy(st)
	}

	a.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("TheSealerSignsDigests"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewArnPrincipal(sealerRole)},
		Actions:    jsii.Strings("kms:Sign"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{
			"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "DIGEST",
		}},
	}), jsii.Bool(false))
	// An explicit deny beats any allow: no identity policy, grant or kms:* of an administrator
	// lets anyone else sign.
	a.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("NobodyElseSigns"),
		Effect:     awsiam.Effect_DENY,
		Principals: anyone,
		Actions:    jsii.Strings("kms:Sign"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{"ArnNotEquals": map[string]interface{}{"aws:PrincipalArn": sealerRole}},
	}), jsii.Bool(false))

	// config.ArchiveMapping, as the publisher's mapping reads it, but with no filter: the
	// archive keeps every change of every item, the guards, counts and counters included, as
	// make verify compares every item of the table with it.
	newStreamMapping(stack, "ArchiveChangesStream", writer, table, config.ArchiveMapping, a.DeadLetters, writerPolicy, nil)

	// An EventBridge rule rather than EventBridge Scheduler: a rule invokes through the
	// function's resource policy as events.amazonaws.com, for this rule only, which the
	// account's service control policy (README, Security) does not govern; Scheduler would
	// invoke with a role of the account, which that policy denies. Scheduler's time zones and
	// flexible windows are not needed for an hourly UTC run.
	a.Schedule = awsevents.NewRule(stack, jsii.String("SealSchedule"), &awsevents.RuleProps{
		RuleName:    jsii.String(StackName(cfg.Stage) + "-SealSchedule"),
		Description: jsii.String(fmt.Sprintf("Runs seal-digest at minute %d of every hour (UTC)", SealScheduleMinute)),
		Schedule:    awsevents.Schedule_Cron(&awsevents.CronOptions{Minute: jsii.String(fmt.Sprint(SealScheduleMinute))}),
	})
	// A failed run is retried twice by Lambda; an event older than an hour is left, as the
	// next run makes up whatever is due.
	a.Schedule.AddTarget(awseventstargets.NewLambdaFunction(sealer, &awseventstargets.LambdaFunctionProps{
		RetryAttempts: jsii.Number(2),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(1)),
	}))
	sealer.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(2),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(1)),
	})

	output(stack, "ArchiveBucketName", "S3 bucket of the archive (Object Lock, "+cfg.ArchiveLock()+"): make verify -bucket", a.Bucket.BucketName())
	output(stack, "ArchiveKeyArn", "KMS key that signs the archive's digests: make verify -kms-key", a.Key.KeyArn())
}

// archivePrefixFindings matches cdk-nag's IAM5 findings on a grant of the archive bucket's
// changes/* or digests/*, and no other (an ECMA-262 regex, as cdk-nag takes).
const archivePrefixFindings = `/^Resource::<ArchiveBucket[0-9A-F]+\.Arn>\/(changes|digests)\/\*$/`

// allow is an Allow statement of actions on resources.
func allow(actions []string, resources ...*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings(actions...), Resources: &resources})
}

// archiveAlarms are the archive's own alarms; the functions' errors and throttles, and
// archive-changes' p99 duration, come with every function's (addMonitoring).
func archiveAlarms(cfg Config, a *Archive, functions map[string]awslambda.Function) []alarmSpec {
	return []alarmSpec{{
		id: "ArchiveChangesIteratorAgeAlarm", name: LogicalName(config.ArchiveFunction) + "-IteratorAge",
		description: fmt.Sprintf("archive-changes is more than %d minutes behind the table's stream: changes are not yet archived, "+
			"and records older than %s go to the dead-letter queue.", IteratorAgeThresholdMs/60000, config.ArchiveMapping.MaximumRecordAge),
		metric:    iteratorAge(functions[config.ArchiveFunction]),
		threshold: IteratorAgeThresholdMs, evaluation: 1, datapoint: 1,
	}, {
		id: "ArchiveChangesDeadLettersAlarm", name: LogicalName(config.ArchiveFunction) + "-DeadLetters",
		description: "archive-changes gave up on a batch of the table's stream: those changes are not in the archive. Read them " +
			"again from the stream positions in the queue's message within 24 hours of the change (README, The archive in AWS).",
		metric:    deadLetterDepth(a.DeadLetters),
		threshold: DeadLettersThreshold, evaluation: 1, datapoint: 1,
	}, {
		id: "MissedSealAlarm", name: "MissedSeal",
		description: fmt.Sprintf("No digest sealed a period that ended more than %s ago (%s + %s grace): every run of seal-digest "+
			"in the hour left a period unsealed, or none ran. The chain has a gap until a run makes it up.",
			SealInterval+SealGrace, SealInterval, SealGrace),
		metric:    unsealedPeriods(cfg.Stage),
		threshold: MissedSealThreshold, evaluation: 1, datapoint: 1, missingBreaches: true,
	}}
}

// unsealedPeriods is the fewest due periods a run of the hour left unsealed: 0 once any run of
// the hour brought the chain up to date, missing when none ran. seal-digest runs once an hour,
// so the alarm reads hours: a five-minute period would nearly always be empty.
func unsealedPeriods(stage string) awscloudwatch.Metric {
	m := emfMetric(stage, config.MetricUnsealedPeriods, nil, "Minimum", "unsealed periods (fewest in the hour)")
	return m.With(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Hours(jsii.Number(1))})
}

// Dashboard widget titles of the archive.
const (
	WidgetArchiveWrites = "Archive: changes written"
	WidgetArchiveSeals  = "Archive: digests sealed"
	WidgetArchiveStream = "Archive: stream age (ms) and dead letters"
)

// archiveWidgets is the dashboard's archive row.
func archiveWidgets(cfg Config, a *Archive, functions map[string]awslambda.Function) *[]awscloudwatch.IWidget {
	sum := func(name, label string) awscloudwatch.IMetric { return emfMetric(cfg.Stage, name, nil, "Sum", label) }
	graph := func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Width: jsii.Number(8), Height: jsii.Number(6), Left: &metrics,
		})
	}
	return &[]awscloudwatch.IWidget{
		graph(WidgetArchiveWrites, sum(config.MetricChangesArchived, "changes archived"),
			sum(config.MetricArchiveObjectsWritten, "objects written"), sum(config.MetricArchiveFailures, "batches failed")),
		graph(WidgetArchiveSeals, sum(config.MetricDigestsWritten, "digests written"), sum(config.MetricFilesSealed, "files sealed"),
			unsealedPeriods(cfg.Stage)),
		graph(WidgetArchiveStream, iteratorAge(functions[config.ArchiveFunction]), deadLetterDepth(a.DeadLetters)),
	}
}
