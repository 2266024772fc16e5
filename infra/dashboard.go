package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
)

// Dashboard widget titles; the tests look the widgets up by them.
const (
	WidgetRequests        = "Requests (HTTP API)"
	Widget5xxRate         = "5xx, % of requests"
	WidgetInvocations     = "Invocations by route"
	WidgetFunctionErrors  = "Function errors and throttles"
	WidgetAlarms          = "Alarms"
	WidgetAPILatency      = "HTTP API latency p99 (ms)"
	WidgetRouteLatency    = "Duration p99 by route (ms)"
	WidgetTableErrors     = "DynamoDB: throttled requests and system errors"
	WidgetServiceDynamoDB = "DynamoDB: the service's retries and throttled attempts"
	WidgetTableLatency    = "DynamoDB: request latency (ms)"
	WidgetRecordsCreated  = "Records created"
	WidgetStatusMoves     = "Records moved, by new status"
	WidgetChangeEvents    = "Change events"
	WidgetPublisherLag    = "Change events: iterator age (ms) and dead letters"
)

// DashboardName is the CloudWatch dashboard of a stage.
func DashboardName(stage string) string { return StackName(stage) }

// addDashboard adds the one dashboard of the stage: traffic, errors, latency, DynamoDB's
// health and what happens to the records, in rows in that order.
func addDashboard(stack awscdk.Stack, cfg Config, m monitored, rate awscloudwatch.IMetric, alarms []awscloudwatch.Alarm) {
	opts := func(statistic, label string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: period(), Statistic: jsii.String(statistic), Label: jsii.String(label)}
	}
	perFunction := func(metric func(fn string) awscloudwatch.IMetric) *[]awscloudwatch.IMetric {
		var out []awscloudwatch.IMetric
		for _, fn := range config.FunctionNames() {
			out = append(out, metric(fn))
		}
		return &out
	}
	graph := func(title string, width float64, left *[]awscloudwatch.IMetric, annotations ...*awscloudwatch.HorizontalAnnotation) awscloudwatch.GraphWidget {
		props := &awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Width: jsii.Number(width), Height: jsii.Number(6), Left: left}
		if len(annotations) > 0 {
			props.LeftAnnotations = &annotations
		}
		return awscloudwatch.NewGraphWidget(props)
	}
	threshold := func(v float64, label string) *awscloudwatch.HorizontalAnnotation {
		return &awscloudwatch.HorizontalAnnotation{Value: jsii.Number(v), Label: jsii.String(label)}
	}

	var errorsAndThrottles []awscloudwatch.IMetric
	for _, fn := range config.FunctionNames() {
		f := m.functions[fn]
		errorsAndThrottles = append(errorsAndThrottles,
			f.MetricErrors(opts("Sum", fn+" errors")), f.MetricThrottles(opts("Sum", fn+" throttles")))
	}
	alarmRefs := make([]interfacesawscloudwatch.IAlarmRef, 0, len(alarms))
	for _, a := range alarms {
		alarmRefs = append(alarmRefs, a)
	}
	var tableLatency []awscloudwatch.IMetric
	for _, op := range TableOperations() {
		tableLatency = append(tableLatency, awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String("AWS/DynamoDB"),
			MetricName:    jsii.String("SuccessfulRequestLatency"),
			DimensionsMap: &map[string]*string{"TableName": m.table.TableName(), "Operation": jsii.String(op)},
			Statistic:     jsii.String("Average"),
			Period:        period(),
			Label:         jsii.String(op),
		}))
	}
	// A record is created in queued or processing, and moves to any status but queued.
	var moves []awscloudwatch.IMetric
	for _, s := range audit.Statuses {
		if len(audit.Sources(s)) > 0 {
			moves = append(moves, emfMetric(cfg.Stage, config.MetricStatusMoves, map[string]string{config.DimToStatus: string(s)}, "Sum", string(s)))
		}
	}

	awscloudwatch.NewDashboard(stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String(DashboardName(cfg.Stage)),
		DefaultInterval: awscdk.Duration_Days(jsii.Number(1)),
		Widgets: &[]*[]awscloudwatch.IWidget{
			{
				graph(WidgetRequests, 8, &[]awscloudwatch.IMetric{
					m.api.MetricCount(opts("SampleCount", "requests")),
					m.api.MetricClientError(opts("Sum", "4xx")),
					m.api.MetricServerError(opts("Sum", "5xx")),
				}),
				graph(Widget5xxRate, 8, &[]awscloudwatch.IMetric{rate}, threshold(API5xxRatePercent, "alarm")),
				graph(WidgetInvocations, 8, perFunction(func(fn string) awscloudwatch.IMetric {
					return m.functions[fn].MetricInvocations(opts("Sum", fn))
				})),
			},
			{
				graph(WidgetFunctionErrors, 12, &errorsAndThrottles),
				awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
					Title: jsii.String(WidgetAlarms), Width: jsii.Number(12), Height: jsii.Number(6), Alarms: &alarmRefs,
				}),
			},
			{
				// API Gateway's own time, the JWT check included, is Latency - IntegrationLatency:
				// the HTTP API has no X-Ray tracing to show it.
				graph(WidgetAPILatency, 8, &[]awscloudwatch.IMetric{
					m.api.MetricLatency(opts("p99", "latency")),
					m.api.MetricIntegrationLatency(opts("p99", "integration latency")),
				}),
				graph(WidgetRouteLatency, 16, perFunction(func(fn string) awscloudwatch.IMetric {
					return functionDurationP99(m.functions[fn], fn)
				}), threshold(LatencyP99ThresholdMs["get-record"],
					fmt.Sprintf("alarm (list-records: %.0f)", LatencyP99ThresholdMs["list-records"]))),
			},
			{
				graph(WidgetTableErrors, 8, &[]awscloudwatch.IMetric{
					tableSum(m.table, "ThrottledRequests", "throttled requests"),
					tableSum(m.table, "SystemErrors", "system errors"),
				}),
				graph(WidgetServiceDynamoDB, 8, &[]awscloudwatch.IMetric{
					sumOverRoutes(cfg.Stage, config.MetricDynamoDBRetries, "retries"),
					sumOverRoutes(cfg.Stage, config.MetricDynamoDBThrottles, "throttled attempts"),
				}, threshold(DynamoDBRetriesThreshold, "retries alarm")),
				graph(WidgetTableLatency, 8, &tableLatency),
			},
			{
				graph(WidgetRecordsCreated, 12, &[]awscloudwatch.IMetric{
					emfMetric(cfg.Stage, config.MetricRecordsCreated, map[string]string{config.DimRoute: "create-record"}, "Sum", "created"),
					emfMetric(cfg.Stage, config.MetricIdempotentReplays, map[string]string{config.DimRoute: "create-record"}, "Sum", "replayed (no new record)"),
				}),
				graph(WidgetStatusMoves, 12, &moves),
			},
			{
				graph(WidgetChangeEvents, 12, &[]awscloudwatch.IMetric{
					emfMetric(cfg.Stage, config.MetricEventsPublished, nil, "Sum", "published"),
					emfMetric(cfg.Stage, config.MetricEventsFailed, nil, "Sum", "failed (retried)"),
					emfMetric(cfg.Stage, config.MetricEventsSkipped, nil, "Sum", "skipped (no change)"),
					emfMetric(cfg.Stage, config.MetricIllegalChanges, nil, "Sum", "illegal changes"),
				}),
				awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
					Title: jsii.String(WidgetPublisherLag), Width: jsii.Number(12), Height: jsii.Number(6),
					Left:            &[]awscloudwatch.IMetric{iteratorAge(m.functions[config.PublisherFunction])},
					LeftAnnotations: &[]*awscloudwatch.HorizontalAnnotation{threshold(IteratorAgeThresholdMs, "alarm")},
					Right:           &[]awscloudwatch.IMetric{deadLetterDepth(m.deadLetters)},
				}),
			},
			archiveWidgets(cfg, m.archive, m.functions),
		},
	})
}
