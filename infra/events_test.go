package main

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// The change events' side of the stack, spelled out: the table's stream, the stage's bus and
// its archive, the event source mapping with its settings, and the dead-letter queue.
func TestEvents_StreamBusArchiveMappingAndQueue(t *testing.T) {
	s := defaultStack(t)
	table := s.onlyID(t, "AWS::DynamoDB::Table")
	bus := s.onlyID(t, "AWS::Events::EventBus")
	queue := queueID(t, s, "PublishEventsDeadLetterQueue")
	publisher := s.functionID(t, "publish-events")

	cases := []struct {
		name  string
		typ   string
		props any
	}{
		{"the table streams new and old images", "AWS::DynamoDB::Table", obj{
			"StreamSpecification": obj{"StreamViewType": "NEW_AND_OLD_IMAGES"},
		}},
		{"one bus per stage, named with the stage", "AWS::Events::EventBus", obj{"Name": "bufdir-export-audit-dev"}},
		{"an archive of the bus's change events, a year by default", "AWS::Events::Archive", obj{
			"SourceArn":     obj{"Fn::GetAtt": arr{bus, "Arn"}},
			"EventPattern":  obj{"source": arr{"no.bufdir.export-audit"}},
			"RetentionDays": 365,
		}},
		{"the mapping reads the stream from the trim horizon into publish-events", "AWS::Lambda::EventSourceMapping", obj{
			"FunctionName":                   obj{"Ref": publisher},
			"EventSourceArn":                 obj{"Fn::GetAtt": arr{table, "StreamArn"}},
			"StartingPosition":               "TRIM_HORIZON",
			"BatchSize":                      100,
			"MaximumRetryAttempts":           10,
			"MaximumRecordAgeInSeconds":      3600,
			"BisectBatchOnFunctionError":     true,
			"FunctionResponseTypes":          arr{"ReportBatchItemFailures"},
			"DestinationConfig":              obj{"OnFailure": obj{"Destination": obj{"Fn::GetAtt": arr{queue, "Arn"}}}},
			"MaximumBatchingWindowInSeconds": assertions.Match_Absent(),
			"ParallelizationFactor":          assertions.Match_Absent(),
		}},
		{"the dead-letter queue is encrypted and keeps messages 14 days", "AWS::SQS::Queue", obj{
			"SqsManagedSseEnabled":   true,
			"MessageRetentionPeriod": 14 * 24 * 3600,
		}},
		{"the dead-letter queue refuses requests without TLS", "AWS::SQS::QueuePolicy", obj{
			"Queues": arr{obj{"Ref": queue}},
			"PolicyDocument": obj{"Statement": assertions.Match_ArrayWith(&arr{assertions.Match_ObjectLike(&obj{
				"Effect": "Deny", "Action": "sqs:*", "Condition": obj{"Bool": obj{"aws:SecureTransport": "false"}},
			})})},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check(t, c.name, func() { s.template.HasResourceProperties(jsii.String(c.typ), c.props) })
		})
	}
	t.Run("the mapping hands over record items only", func(t *testing.T) {
		m := s.cfn.Resources[s.idWithPrefix(t, "AWS::Lambda::EventSourceMapping", "PublishEventsStreamMapping")].Properties
		filters, _ := path(m, "FilterCriteria", "Filters").([]any)
		if len(filters) != 1 {
			t.Fatalf("filters %v, want one", path(m, "FilterCriteria"))
		}
		var pattern any
		if err := json.Unmarshal([]byte(path(filters[0], "Pattern").(string)), &pattern); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"dynamodb": map[string]any{"Keys": map[string]any{"sk": map[string]any{"S": []any{map[string]any{"prefix": "REC#"}}}}}}
		if !reflect.DeepEqual(pattern, want) {
			t.Errorf("filter %v, want %v", pattern, want)
		}
	})
	t.Run("the mapping waits for the publisher's permissions", func(t *testing.T) {
		raw, _ := json.Marshal(s.template.ToJSON())
		var tmpl struct {
			Resources map[string]struct {
				Type      string `json:"Type"`
				DependsOn []string
			}
		}
		if err := json.Unmarshal(raw, &tmpl); err != nil {
			t.Fatal(err)
		}
		policy := ""
		for id := range s.ofType("AWS::IAM::Policy") {
			if len(id) > len("PublishEventsPolicy") && id[:len("PublishEventsPolicy")] == "PublishEventsPolicy" {
				policy = id
			}
		}
		deps := tmpl.Resources[s.idWithPrefix(t, "AWS::Lambda::EventSourceMapping", "PublishEventsStreamMapping")].DependsOn
		if policy == "" || !contains(deps, policy) {
			t.Errorf("the mapping depends on %v, want %s (Lambda checks the role when it creates the mapping)", deps, policy)
		}
	})
	t.Run("outputs: the bus and the dead-letter queue", func(t *testing.T) {
		check(t, "EventBusName", func() { s.template.HasOutput(jsii.String("EventBusName"), obj{"Value": obj{"Ref": bus}}) })
		check(t, "EventBusArn", func() {
			s.template.HasOutput(jsii.String("EventBusArn"), obj{"Value": obj{"Fn::GetAtt": arr{bus, "Arn"}}})
		})
		check(t, "DeadLetterQueueUrl", func() { s.template.HasOutput(jsii.String("DeadLetterQueueUrl"), obj{"Value": obj{"Ref": queue}}) })
	})
	t.Run("an archive kept for ever with eventArchiveRetentionDays 0", func(t *testing.T) {
		cfg := testConfig()
		cfg.EventArchiveRetentionDays = 0
		forever := synthStack(t, cfg)
		archive := forever.cfn.Resources[forever.onlyID(t, "AWS::Events::Archive")].Properties
		if d, ok := archive["RetentionDays"]; ok && d != float64(0) {
			t.Errorf("RetentionDays %v, want none (EventBridge keeps the events indefinitely)", d)
		}
	})
}
