package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

// alarmMetric is one metric of an alarm, in either of the template's two forms.
type alarmMetric struct {
	ID, Namespace, Name, Stat string
	Period                    float64
	Dimensions                map[string]any
}

func (m alarmMetric) String() string {
	return fmt.Sprintf("%s/%s %v %s/%v", m.Namespace, m.Name, m.Dimensions, m.Stat, m.Period)
}

// alarmQuery is what an alarm watches: one metric, or an expression over several.
type alarmQuery struct {
	Expression string
	Metrics    map[string]alarmMetric // by id; the single metric under ""
}

func dimensionMap(v any) map[string]any {
	out := map[string]any{}
	list, _ := v.([]any)
	for _, d := range list {
		name, _ := path(d, "Name").(string)
		value := path(d, "Value")
		if id := ref(value); id != "" {
			value = "Ref:" + id
		}
		out[name] = value
	}
	return out
}

func queryOf(t *testing.T, p map[string]any) alarmQuery {
	t.Helper()
	q := alarmQuery{Metrics: map[string]alarmMetric{}}
	if p["MetricName"] != nil {
		q.Metrics[""] = alarmMetric{
			Namespace: p["Namespace"].(string), Name: p["MetricName"].(string), Stat: fmt.Sprint(p["Statistic"]),
			Period: p["Period"].(float64), Dimensions: dimensionMap(p["Dimensions"]),
		}
		if p["ExtendedStatistic"] != nil {
			m := q.Metrics[""]
			m.Stat = p["ExtendedStatistic"].(string)
			q.Metrics[""] = m
		}
		return q
	}
	list, _ := p["Metrics"].([]any)
	for _, e := range list {
		id, _ := path(e, "Id").(string)
		if expr, ok := path(e, "Expression").(string); ok {
			if path(e, "ReturnData") != true || q.Expression != "" {
				t.Errorf("expression %s: want the one expression, returning data", id)
			}
			q.Expression = expr
			continue
		}
		ms := path(e, "MetricStat")
		m := alarmMetric{
			ID: id, Namespace: path(ms, "Metric", "Namespace").(string), Name: path(ms, "Metric", "MetricName").(string),
			Stat: path(ms, "Stat").(string), Period: path(ms, "Period").(float64), Dimensions: dimensionMap(path(ms, "Metric", "Dimensions")),
		}
		if len(list) == 1 {
			id = ""
		} else if path(e, "ReturnData") != false {
			t.Errorf("metric %s of an expression returns data", id)
		}
		q.Metrics[id] = m
	}
	return q
}

// wantAlarm is an alarm as the operators were told: written out again here on purpose.
type wantAlarm struct {
	op                     string
	threshold              float64
	evaluation, datapoints float64
	expression             *regexp.Regexp       // nil: a single metric
	metrics                func() []alarmMetric // every metric, ids ignored
}

func TestAlarms_ThresholdsAndMetrics(t *testing.T) {
	s := defaultStack(t)
	apiID := "Ref:" + s.onlyID(t, "AWS::ApiGatewayV2::Api")
	tableID := "Ref:" + s.onlyID(t, "AWS::DynamoDB::Table")
	topic := s.onlyID(t, "AWS::SNS::Topic")

	want := map[string]wantAlarm{
		"Api5xxRate": {"GreaterThanThreshold", 5, 3, 2,
			regexp.MustCompile(`^IF\((\w+) >= 10, 100 \* FILL\((\w+), 0\) / (\w+), 0\)$`),
			func() []alarmMetric {
				return []alarmMetric{
					{Namespace: "AWS/ApiGateway", Name: "5xx", Stat: "Sum", Period: 300, Dimensions: map[string]any{"ApiId": apiID}},
					{Namespace: "AWS/ApiGateway", Name: "Count", Stat: "SampleCount", Period: 300, Dimensions: map[string]any{"ApiId": apiID}},
				}
			}},
	}
	// seal-digest runs hourly: no p99 alarm could fire (NoLatencyAlarm).
	latency := map[string]float64{"list-records": 3000, "get-record": 1000, "create-record": 1000,
		"update-status": 1000, "attach-file-url": 1000, "delete-record": 1000, "publish-events": 5000, "archive-changes": 10000}
	for _, fn := range config.FunctionNames() {
		fnID := "Ref:" + s.functionID(t, fn)
		lambda := func(name, stat string) func() []alarmMetric {
			return func() []alarmMetric {
				return []alarmMetric{{Namespace: "AWS/Lambda", Name: name, Stat: stat, Period: 300, Dimensions: map[string]any{"FunctionName": fnID}}}
			}
		}
		want[LogicalName(fn)+"-Errors"] = wantAlarm{"GreaterThanOrEqualToThreshold", 1, 1, 1, nil, lambda("Errors", "Sum")}
		want[LogicalName(fn)+"-Throttles"] = wantAlarm{"GreaterThanOrEqualToThreshold", 1, 1, 1, nil, lambda("Throttles", "Sum")}
		if threshold, ok := latency[fn]; ok {
			want[LogicalName(fn)+"-LatencyP99"] = wantAlarm{"GreaterThanThreshold", threshold, 3, 3, nil, lambda("Duration", "p99")}
		}
	}
	operations := []string{"DeleteItem", "GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem"}
	sumOf := func(n int) *regexp.Regexp {
		terms := make([]string, n)
		for i := range terms {
			terms[i] = `FILL\(\w+, 0\)`
		}
		return regexp.MustCompile("^" + strings.Join(terms, ` \+ `) + "$")
	}
	perOperation := func(name string) func() []alarmMetric {
		return func() []alarmMetric {
			var out []alarmMetric
			for _, op := range operations {
				out = append(out, alarmMetric{Namespace: "AWS/DynamoDB", Name: name, Stat: "Sum", Period: 300,
					Dimensions: map[string]any{"TableName": tableID, "Operation": op}})
			}
			return out
		}
	}
	want["TableThrottledRequests"] = wantAlarm{"GreaterThanOrEqualToThreshold", 1, 1, 1, sumOf(len(operations)), perOperation("ThrottledRequests")}
	want["TableSystemErrors"] = wantAlarm{"GreaterThanOrEqualToThreshold", 1, 2, 2, sumOf(len(operations)), perOperation("SystemErrors")}
	want["DynamoDBRetries"] = wantAlarm{"GreaterThanOrEqualToThreshold", 10, 1, 1, sumOf(len(config.Routes)), func() []alarmMetric {
		var out []alarmMetric
		for _, fn := range config.RouteFunctionNames() {
			out = append(out, alarmMetric{Namespace: "BufdirExportAudit", Name: "DynamoDBRetries", Stat: "Sum", Period: 300,
				Dimensions: map[string]any{"Stage": "dev", "Route": fn}})
		}
		return out
	}}
	publisher := "Ref:" + s.functionID(t, "publish-events")
	queue := queueID(t, s, "PublishEventsDeadLetterQueue")
	want["PublishEvents-DeadLetters"] = wantAlarm{"GreaterThanOrEqualToThreshold", 1, 1, 1, nil, func() []alarmMetric {
		return []alarmMetric{{Namespace: "AWS/SQS", Name: "ApproximateNumberOfMessagesVisible", Stat: "Maximum", Period: 300,
			Dimensions: map[string]any{"QueueName": map[string]any{"Fn::GetAtt": []any{queue, "QueueName"}}}}}
	}}
	want["PublishEvents-IteratorAge"] = wantAlarm{"GreaterThanOrEqualToThreshold", 300000, 1, 1, nil, func() []alarmMetric {
		return []alarmMetric{{Namespace: "AWS/Lambda", Name: "IteratorAge", Stat: "Maximum", Period: 300, Dimensions: map[string]any{"FunctionName": publisher}}}
	}}
	want["IllegalChanges"] = wantAlarm{"GreaterThanOrEqualToThreshold", 1, 1, 1, nil, func() []alarmMetric {
		return []alarmMetric{{Namespace: "BufdirExportAudit", Name: "IllegalChanges", Stat: "Sum", Period: 300, Dimensions: map[string]any{"Stage": "dev"}}}
	}}

	got := map[string]map[string]any{}
	for id, r := range s.ofType("AWS::CloudWatch::Alarm") {
		name, _ := r.Properties["AlarmName"].(string)
		short, ok := strings.CutPrefix(name, "BufdirExportAudit-dev-")
		if !ok {
			t.Errorf("%s: alarm name %q lacks the stack's prefix", id, name)
		}
		if archiveOwnAlarms[short] {
			continue // TestArchive_Alarms
		}
		got[short] = r.Properties
	}
	if !sameSet(keys(got), keys(want)) {
		t.Errorf("alarms %v, want %v", keys(got), keys(want))
	}
	if len(want) != 1+2*9+8+3+3 {
		t.Errorf("%d alarms expected, want 33 (the rate, errors and throttles of nine functions, eight p99s, three for DynamoDB, three for the events)", len(want))
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			p, ok := got[name]
			if !ok {
				t.Fatal("no such alarm")
			}
			if p["ComparisonOperator"] != w.op || p["Threshold"] != w.threshold ||
				p["EvaluationPeriods"] != w.evaluation || p["DatapointsToAlarm"] != w.datapoints {
				t.Errorf("%v %v in %v of %v, want %s %v in %v of %v", p["ComparisonOperator"], p["Threshold"],
					p["DatapointsToAlarm"], p["EvaluationPeriods"], w.op, w.threshold, w.datapoints, w.evaluation)
			}
			if p["TreatMissingData"] != "notBreaching" {
				t.Errorf("TreatMissingData %v, want notBreaching (no traffic is no trouble)", p["TreatMissingData"])
			}
			for _, k := range []string{"AlarmActions", "OKActions"} {
				if a, _ := p[k].([]any); len(a) != 1 || ref(a[0]) != topic {
					t.Errorf("%s %v, want the alarm topic only", k, p[k])
				}
			}
			if d, _ := p["AlarmDescription"].(string); len(d) < 20 {
				t.Errorf("description %q tells the reader nothing", d)
			}
			q := queryOf(t, p)
			if w.expression == nil && (q.Expression != "" || len(q.Metrics) != 1) {
				t.Errorf("want one metric, got expression %q over %d metrics", q.Expression, len(q.Metrics))
			}
			if w.expression != nil {
				m := w.expression.FindStringSubmatch(q.Expression)
				if m == nil {
					t.Errorf("expression %q, want %s", q.Expression, w.expression)
				}
				for _, id := range regexp.MustCompile(`\b[a-z]\w*\b`).FindAllString(q.Expression, -1) {
					if _, ok := q.Metrics[id]; !ok && id != "requests" && id != "errors" {
						t.Errorf("expression names %s, which is none of its metrics", id)
					}
				}
				if name == "Api5xxRate" && (m == nil || q.Metrics[m[1]].Name != "Count" || q.Metrics[m[2]].Name != "5xx" || q.Metrics[m[3]].Name != "Count") {
					t.Errorf("expression %q must divide the 5xx by the Count, given at least 10 requests: %v", q.Expression, q.Metrics)
				}
				// Every metric is summed once.
				for id := range q.Metrics {
					if name != "Api5xxRate" && strings.Count(q.Expression, "FILL("+id+",") != 1 {
						t.Errorf("metric %s is not one FILL term of %q", id, q.Expression)
					}
				}
			}
			var gotMetrics, wantMetrics []string
			for _, m := range q.Metrics {
				gotMetrics = append(gotMetrics, m.String())
			}
			for _, m := range w.metrics() {
				wantMetrics = append(wantMetrics, m.String())
			}
			sort.Strings(gotMetrics)
			sort.Strings(wantMetrics)
			if strings.Join(gotMetrics, "\n") != strings.Join(wantMetrics, "\n") {
				t.Errorf("metrics\n  %s\nwant\n  %s", strings.Join(gotMetrics, "\n  "), strings.Join(wantMetrics, "\n  "))
			}
			if strings.HasSuffix(name, "-LatencyP99") && p["EvaluateLowSampleCountPercentile"] != "evaluate" {
				t.Errorf("EvaluateLowSampleCountPercentile %v, want evaluate: a period seldom holds 1000 requests", p["EvaluateLowSampleCountPercentile"])
			}
		})
	}
}

func TestCoverage_EveryFunctionHasActionsAndALatencyThreshold(t *testing.T) {
	t.Parallel()
	if err := checkCoverage(config.FunctionNames(), TableActions, LatencyP99ThresholdMs); err != nil {
		t.Errorf("the stack's own tables: %v", err)
	}
	fns := []string{"list-records", "get-record"}
	actions := map[string][]string{"list-records": {"dynamodb:Query"}, "get-record": {"dynamodb:GetItem"}}
	latency := map[string]float64{"list-records": 3000, "get-record": 1000}
	if err := checkCoverage(fns, actions, map[string]float64{"list-records": 3000}); err == nil || !strings.Contains(err.Error(), "LatencyP99ThresholdMs") {
		t.Errorf("a function without a latency threshold: got %v, want an error naming LatencyP99ThresholdMs", err)
	}
	if err := checkCoverage(fns, map[string][]string{"get-record": {"dynamodb:GetItem"}}, latency); err == nil || !strings.Contains(err.Error(), "TableActions") {
		t.Errorf("a function without table actions: got %v, want an error naming TableActions", err)
	}
	if err := checkCoverage(fns, actions, latency); err != nil {
		t.Errorf("complete tables: %v", err)
	}
}

func TestAlarmTopic_EncryptedSSLOnlyAndOpenToTheStacksAlarms(t *testing.T) {
	s := defaultStack(t)
	topic := s.onlyID(t, "AWS::SNS::Topic")
	// The stack's other key signs the archive's digests (archive_test.go).
	var key string
	for id := range s.ofType("AWS::KMS::Key") {
		if strings.HasPrefix(id, "AlarmTopicKey") {
			key = id
		}
	}
	alarmArn := assertions.Match_ObjectLike(&obj{"Fn::Join": arr{"", assertions.Match_ArrayWith(&arr{
		assertions.Match_StringLikeRegexp(jsii.String(`:alarm:BufdirExportAudit-dev-\*$`)),
	})}})
	fromOurAlarms := obj{
		"StringEquals": obj{"aws:SourceAccount": obj{"Ref": "AWS::AccountId"}},
		"ArnLike":      obj{"aws:SourceArn": alarmArn},
	}
	cases := []struct {
		name  string
		typ   string
		props any
	}{
		{"topic encrypted with the stack's key", "AWS::SNS::Topic", obj{"KmsMasterKeyId": obj{"Fn::GetAtt": arr{key, "Arn"}}}},
		{"key rotates", "AWS::KMS::Key", obj{"EnableKeyRotation": true}},
		{"CloudWatch may use the key for this stack's alarms only", "AWS::KMS::Key", obj{"KeyPolicy": obj{
			"Statement": assertions.Match_ArrayWith(&arr{assertions.Match_ObjectLike(&obj{
				"Effect":    "Allow",
				"Principal": obj{"Service": "cloudwatch.amazonaws.com"},
				"Action":    arr{"kms:Decrypt", "kms:GenerateDataKey*"},
				"Resource":  "*",
				"Condition": fromOurAlarms,
			})}),
		}}},
		{"publishing without TLS is denied (SNS3)", "AWS::SNS::TopicPolicy", obj{
			"Topics": arr{obj{"Ref": topic}},
			"PolicyDocument": obj{"Statement": assertions.Match_ArrayWith(&arr{assertions.Match_ObjectLike(&obj{
				"Effect":    "Deny",
				"Principal": "*",
				"Action":    "sns:Publish",
				"Resource":  obj{"Ref": topic},
				"Condition": obj{"Bool": obj{"aws:SecureTransport": "false"}},
			})})},
		}},
		{"CloudWatch may publish for this stack's alarms only", "AWS::SNS::TopicPolicy", obj{
			"PolicyDocument": obj{"Statement": assertions.Match_ArrayWith(&arr{assertions.Match_ObjectLike(&obj{
				"Effect":    "Allow",
				"Principal": obj{"Service": "cloudwatch.amazonaws.com"},
				"Action":    "sns:Publish",
				"Resource":  obj{"Ref": topic},
				"Condition": fromOurAlarms,
			})})},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check(t, c.name, func() { s.template.HasResourceProperties(jsii.String(c.typ), c.props) })
		})
	}
	t.Run("no subscription without alarmEmail", func(t *testing.T) {
		check(t, "subscriptions", func() { s.template.ResourceCountIs(jsii.String("AWS::SNS::Subscription"), jsii.Number(0)) })
	})
	t.Run("one e-mail subscription with alarmEmail", func(t *testing.T) {
		cfg := testConfig()
		cfg.AlarmEmail = "drift@example.no"
		withEmail := synthStack(t, cfg)
		topic := withEmail.onlyID(t, "AWS::SNS::Topic")
		check(t, "subscription", func() {
			withEmail.template.ResourceCountIs(jsii.String("AWS::SNS::Subscription"), jsii.Number(1))
			withEmail.template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), obj{
				"Protocol": "email", "Endpoint": "drift@example.no", "TopicArn": obj{"Ref": topic},
			})
		})
	})
	t.Run("output names the topic", func(t *testing.T) {
		check(t, "AlarmTopicArn", func() { s.template.HasOutput(jsii.String("AlarmTopicArn"), obj{"Value": obj{"Ref": topic}}) })
	})
}

// dashboardBody renders the dashboard's Fn::Join into its JSON, references as ${id}.
func dashboardBody(t *testing.T, s *synthesized) map[string]any {
	t.Helper()
	p := s.cfn.Resources[s.onlyID(t, "AWS::CloudWatch::Dashboard")].Properties
	join, _ := path(p, "DashboardBody", "Fn::Join").([]any)
	if len(join) != 2 || join[0] != "" {
		t.Fatalf("DashboardBody is not a plain Fn::Join: %v", p["DashboardBody"])
	}
	var b strings.Builder
	for _, part := range join[1].([]any) {
		switch v := part.(type) {
		case string:
			b.WriteString(v)
		default:
			if id := ref(v); id != "" {
				b.WriteString("${" + id + "}")
			} else if id, attr := getAtt(v); id != "" {
				b.WriteString("${" + id + "." + attr + "}")
			} else {
				t.Fatalf("unexpected part %v in the dashboard body", v)
			}
		}
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(b.String()), &body); err != nil {
		t.Fatalf("dashboard body is not JSON: %v", err)
	}
	return body
}

func TestDashboard_Widgets(t *testing.T) {
	s := defaultStack(t)
	check(t, "one dashboard named for the stage", func() {
		s.template.ResourceCountIs(jsii.String("AWS::CloudWatch::Dashboard"), jsii.Number(1))
		s.template.HasResourceProperties(jsii.String("AWS::CloudWatch::Dashboard"), obj{"DashboardName": "BufdirExportAudit-dev"})
	})
	body := dashboardBody(t, s)
	widgets := map[string]map[string]any{}
	for _, w := range body["widgets"].([]any) {
		title, _ := path(w, "properties", "title").(string)
		widgets[title] = w.(map[string]any)
	}
	// metricsOf lists a widget's metrics as "namespace name dim=value..." and its expressions.
	metricsOf := func(title string) []string {
		var out []string
		list, _ := path(widgets[title], "properties", "metrics").([]any)
		for _, m := range list {
			row := m.([]any)
			if e, ok := path(row[len(row)-1], "expression").(string); ok && len(row) == 1 {
				out = append(out, "expression "+e)
				continue
			}
			var parts []string
			for _, p := range row {
				if s, ok := p.(string); ok {
					parts = append(parts, s)
				}
			}
			if len(parts) >= 2 {
				var dims []string
				for i := 2; i+1 < len(parts); i += 2 {
					dims = append(dims, parts[i]+"="+parts[i+1])
				}
				sort.Strings(dims)
				line := strings.Join(append(parts[:2:2], dims...), " ")
				stat, ok := path(row[len(row)-1], "stat").(string)
				if !ok {
					stat = "Average" // a graph's default, left out of the body
				}
				line += " " + stat
				out = append(out, line)
			}
		}
		return out
	}
	api := "${" + s.onlyID(t, "AWS::ApiGatewayV2::Api") + "}"
	table := "${" + s.onlyID(t, "AWS::DynamoDB::Table") + "}"
	fnRef := func(fn string) string { return "${" + s.functionID(t, fn) + "}" }
	var invocations, durations, errorsAndThrottles, tableLatency []string
	for _, fn := range config.FunctionNames() {
		invocations = append(invocations, "AWS/Lambda Invocations FunctionName="+fnRef(fn)+" Sum")
		durations = append(durations, "AWS/Lambda Duration FunctionName="+fnRef(fn)+" p99")
		errorsAndThrottles = append(errorsAndThrottles, "AWS/Lambda Errors FunctionName="+fnRef(fn)+" Sum",
			"AWS/Lambda Throttles FunctionName="+fnRef(fn)+" Sum")
	}
	for _, op := range []string{"DeleteItem", "GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem"} {
		tableLatency = append(tableLatency, "AWS/DynamoDB SuccessfulRequestLatency Operation="+op+" TableName="+table+" Average")
	}
	cases := []struct {
		title string
		want  []string // each must be among the widget's metrics
	}{
		{"Requests (HTTP API)", []string{"AWS/ApiGateway Count ApiId=" + api + " SampleCount",
			"AWS/ApiGateway 4xx ApiId=" + api + " Sum", "AWS/ApiGateway 5xx ApiId=" + api + " Sum"}},
		{"5xx, % of requests", []string{"expression IF(requests >= 10, 100 * FILL(errors, 0) / requests, 0)"}},
		{"Invocations by route", invocations},
		{"Function errors and throttles", errorsAndThrottles},
		{"HTTP API latency p99 (ms)", []string{"AWS/ApiGateway Latency ApiId=" + api + " p99", "AWS/ApiGateway IntegrationLatency ApiId=" + api + " p99"}},
		{"Duration p99 by route (ms)", durations},
		{"DynamoDB: throttled requests and system errors", []string{
			"AWS/DynamoDB ThrottledRequests Operation=TransactWriteItems TableName=" + table + " Sum",
			"AWS/DynamoDB SystemErrors Operation=GetItem TableName=" + table + " Sum"}},
		{"DynamoDB: the service's retries and throttled attempts", []string{
			"BufdirExportAudit DynamoDBRetries Route=create-record Stage=dev Sum", "BufdirExportAudit DynamoDBThrottles Route=list-records Stage=dev Sum"}},
		{"DynamoDB: request latency (ms)", tableLatency},
		{"Records created", []string{"BufdirExportAudit RecordsCreated Route=create-record Stage=dev Sum", "BufdirExportAudit IdempotentReplays Route=create-record Stage=dev Sum"}},
		{"Records moved, by new status", []string{"BufdirExportAudit StatusMoves Stage=dev ToStatus=processing Sum",
			"BufdirExportAudit StatusMoves Stage=dev ToStatus=completed Sum", "BufdirExportAudit StatusMoves Stage=dev ToStatus=failed Sum"}},
		{"Change events", []string{"BufdirExportAudit EventsPublished Stage=dev Sum", "BufdirExportAudit EventsFailed Stage=dev Sum",
			"BufdirExportAudit EventsSkipped Stage=dev Sum", "BufdirExportAudit IllegalChanges Stage=dev Sum"}},
		{"Change events: iterator age (ms) and dead letters", []string{
			"AWS/Lambda IteratorAge FunctionName=" + fnRef("publish-events") + " Maximum",
			"AWS/SQS ApproximateNumberOfMessagesVisible QueueName=${" + queueID(t, s, "PublishEventsDeadLetterQueue") + ".QueueName} Maximum"}},
		{"Archive: changes written", []string{"BufdirExportAudit ChangesArchived Stage=dev Sum",
			"BufdirExportAudit ArchiveObjectsWritten Stage=dev Sum", "BufdirExportAudit ArchiveFailures Stage=dev Sum"}},
		{"Archive: digests sealed", []string{"BufdirExportAudit DigestsWritten Stage=dev Sum",
			"BufdirExportAudit FilesSealed Stage=dev Sum", "BufdirExportAudit UnsealedPeriods Stage=dev Minimum"}},
		{"Archive: stream age (ms) and dead letters", []string{
			"AWS/Lambda IteratorAge FunctionName=" + fnRef(config.ArchiveFunction) + " Maximum",
			"AWS/SQS ApproximateNumberOfMessagesVisible QueueName=${" + queueID(t, s, "ArchiveDeadLetters") + ".QueueName} Maximum"}},
	}
	for _, c := range cases {
		t.Run(c.title, func(t *testing.T) {
			if widgets[c.title] == nil {
				t.Fatalf("no widget %q; have %v", c.title, keys(widgets))
			}
			got := metricsOf(c.title)
			for _, w := range c.want {
				if !contains(got, w) {
					t.Errorf("lacks %s; has\n  %s", w, strings.Join(got, "\n  "))
				}
			}
		})
	}
	t.Run("Alarms", func(t *testing.T) {
		w := widgets["Alarms"]
		if path(w, "type") != "alarm" {
			t.Fatalf("no alarm status widget titled Alarms")
		}
		listed, _ := path(w, "properties", "alarms").([]any)
		if n := len(s.ofType("AWS::CloudWatch::Alarm")); len(listed) != n {
			t.Errorf("alarm widget lists %d alarms, the stack has %d", len(listed), n)
		}
	})
	if len(widgets) != len(cases)+1 {
		t.Errorf("%d widgets %v, want the %d tested here", len(widgets), keys(widgets), len(cases)+1)
	}
}

// Two stages in one account and region share the BufdirExportAudit namespace: every one of the
// service's own metrics that a stage's alarms or dashboard read carries that stage, so that a
// load test in dev cannot fire prod's alarms.
func TestMonitoring_ReadsOnlyItsOwnStagesMetrics(t *testing.T) {
	for _, c := range []struct {
		stage string
		s     *synthesized
	}{{"dev", defaultStack(t)}, {"prod", synthStack(t, stageConfig("prod"))}} {
		t.Run(c.stage, func(t *testing.T) {
			var read []string
			for id, r := range c.s.ofType("AWS::CloudWatch::Alarm") {
				for _, m := range queryOf(t, r.Properties).Metrics {
					if m.Namespace != "BufdirExportAudit" {
						continue
					}
					read = append(read, id+" "+m.String())
					if m.Dimensions["Stage"] != c.stage {
						t.Errorf("alarm %s reads %s, want Stage=%s", id, m, c.stage)
					}
				}
			}
			for _, w := range dashboardBody(t, c.s)["widgets"].([]any) {
				rows, _ := path(w, "properties", "metrics").([]any)
				for _, r := range rows {
					row, _ := r.([]any)
					if len(row) == 0 || row[0] != "BufdirExportAudit" {
						continue
					}
					dims := map[string]any{}
					for i := 2; i+1 < len(row); i += 2 {
						if k, ok := row[i].(string); ok {
							dims[k] = row[i+1]
						}
					}
					read = append(read, fmt.Sprint(row[:2]))
					if dims["Stage"] != c.stage {
						t.Errorf("dashboard widget %v reads %v, want Stage=%s", path(w, "properties", "title"), row, c.stage)
					}
				}
			}
			// The retries alarm (6 routes), the illegal changes alarm and the missed seal's, and on
			// the dashboard retries and throttles (6 each), records created and replays, three
			// status moves, the four counts of the change events, and the archive's three of
			// writes and three of seals.
			if len(read) != 6+1+1+12+2+3+4+6 {
				t.Errorf("read %d of the service's own metrics, want 35: %v", len(read), read)
			}
			group := c.s.cfn.Resources[c.s.onlyID(t, "AWS::ApiGatewayV2::Stage")].Properties
			als, _ := group["AccessLogSettings"].(map[string]any)
			lg, _ := getAtt(als["DestinationArn"])
			if name := c.s.cfn.Resources[lg].Properties["LogGroupName"]; name != "/aws/vendedlogs/apigateway/BufdirExportAudit-"+c.stage+"/access" {
				t.Errorf("access log group %v, want the stage's own under /aws/vendedlogs/", name)
			}
		})
	}
}
