package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bufdir/export-audit/pkg/config"
)

// The agreement tests hold template.yaml (SAM, local work), the CDK stack (deployments),
// events/ (sam local invoke and the emulator tests) and config.Routes (the code) to one truth.

const repoRoot = ".."

// routeLine is one served route, as every source can state it.
type routeLine struct {
	Function, Method, Path, Scope string
}

func (r routeLine) String() string {
	return fmt.Sprintf("%s %s (%s) -> %s", r.Method, r.Path, r.Scope, r.Function)
}

func codeRoutes() map[string]routeLine {
	out := map[string]routeLine{}
	for _, prefix := range config.Prefixes {
		for _, r := range config.Routes {
			out[r.Method+" "+prefix+r.Path] = routeLine{r.Function, r.Method, prefix + r.Path, r.Scope}
		}
	}
	return out
}

// loadSAM parses template.yaml into plain Go values, turning the short-form intrinsics
// (!Ref, !GetAtt, !Sub, !If...) into their long form so they compare like CDK output.
func loadSAM(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatalf("read template.yaml: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse template.yaml: %v", err)
	}
	v, err := plainYAML(&doc)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("template.yaml is not a mapping")
	}
	return m
}

func plainYAML(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return plainYAML(n.Content[0])
	case yaml.AliasNode:
		return plainYAML(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := plainYAML(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := []any{}
		for _, c := range n.Content {
			val, err := plainYAML(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		if isIntrinsic(n.Tag) {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	}
	if !isIntrinsic(n.Tag) {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	if name == "Ref" || name == "Condition" {
		return map[string]any{name: v}, nil
	}
	if s, ok := v.(string); ok && name == "GetAtt" {
		parts := strings.SplitN(s, ".", 2)
		v = []any{parts[0], parts[len(parts)-1]}
	}
	return map[string]any{"Fn::" + name: v}, nil
}

func isIntrinsic(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

func path(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// samFunctions returns each function's properties with Globals.Function applied, as SAM does
// (function values win, Environment.Variables merged).
func samFunctions(t *testing.T, sam map[string]any) map[string]map[string]any {
	t.Helper()
	globals, _ := path(sam, "Globals", "Function").(map[string]any)
	out := map[string]map[string]any{}
	resources, _ := sam["Resources"].(map[string]any)
	for id, r := range resources {
		if path(r, "Type") != "AWS::Serverless::Function" {
			continue
		}
		props := map[string]any{}
		for k, v := range globals {
			props[k] = v
		}
		own, _ := path(r, "Properties").(map[string]any)
		for k, v := range own {
			props[k] = v
		}
		vars := map[string]any{}
		for _, src := range []any{path(globals, "Environment", "Variables"), path(own, "Environment", "Variables")} {
			m, _ := src.(map[string]any)
			for k, v := range m {
				vars[k] = v
			}
		}
		props["Environment"] = map[string]any{"Variables": vars}
		props["Metadata"] = path(r, "Metadata")
		out[id] = props
	}
	return out
}

func TestAgreement_FunctionsRuntimeAndBuild(t *testing.T) {
	sam := loadSAM(t)
	if sam["Transform"] != "AWS::Serverless-2016-10-31" {
		t.Errorf("template.yaml Transform = %v, want AWS::Serverless-2016-10-31", sam["Transform"])
	}
	fns := samFunctions(t, sam)
	var want []string
	for _, fn := range config.FunctionNames() {
		want = append(want, LogicalName(fn)+"Function")
	}
	if !sameSet(keys(fns), want) {
		t.Fatalf("template.yaml functions %v, want one per config.Routes function: %v", keys(fns), sorted(want))
	}
	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatalf("read Makefile: %v", err)
	}
	cdk := defaultStack(t)
	for _, fn := range config.FunctionNames() {
		id := LogicalName(fn) + "Function"
		t.Run(id, func(t *testing.T) {
			p := fns[id]
			cdkProps := cdk.cfn.Resources[cdk.functionID(t, fn)].Properties
			for _, k := range []string{"Runtime", "Handler", "Architectures", "MemorySize", "Timeout"} {
				if fmt.Sprint(p[k]) != fmt.Sprint(cdkProps[k]) {
					t.Errorf("%s: template.yaml says %v, the CDK stack %v", k, p[k], cdkProps[k])
				}
			}
			if got, cdkMode := p["Tracing"], path(cdkProps, "TracingConfig", "Mode"); got != "Active" || cdkMode != "Active" {
				t.Errorf("Tracing: template.yaml says %v, the CDK stack's TracingConfig.Mode %v; want Active in both", got, cdkMode)
			}
			if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" || fmt.Sprint(p["Architectures"]) != "[arm64]" {
				t.Errorf("runtime %v, handler %v, architectures %v; want provided.al2023, bootstrap, [arm64]", p["Runtime"], p["Handler"], p["Architectures"])
			}
			if got := path(p["Metadata"], "BuildMethod"); got != "makefile" {
				t.Errorf("Metadata.BuildMethod = %v, want makefile", got)
			}
			target := regexp.MustCompile(`(?m)^build-` + id + `:\n\t.*\bSAM_BUILD,` + regexp.QuoteMeta(fn) + `\)`)
			if !target.Match(makefile) {
				t.Errorf("Makefile has no target build-%s building ./functions/%s", id, fn)
			}
		})
	}
	t.Run("STACK_ARCH is the stack's architecture", func(t *testing.T) {
		arch := regexp.MustCompile(`(?m)^STACK_ARCH := (\S+)$`).FindSubmatch(makefile)
		if arch == nil || string(arch[1]) != StackGOARCH {
			t.Errorf("Makefile STACK_ARCH = %q, want %s (StackGOARCH)", arch, StackGOARCH)
		}
		if got := *StackArchitecture().Name(); got != StackGOARCH {
			t.Errorf("StackArchitecture() = %s, want %s", got, StackGOARCH)
		}
	})
	t.Run("SAM_BUILD builds a bootstrap of the stack's architecture into ARTIFACTS_DIR", func(t *testing.T) {
		line := regexp.MustCompile(`(?m)^SAM_BUILD = (.*)$`).FindSubmatch(makefile)
		if line == nil {
			t.Fatal("Makefile defines no SAM_BUILD")
		}
		for _, want := range []string{"GOOS=linux", "GOARCH=$(STACK_ARCH)", "CGO_ENABLED=0", "$(BUILD_FLAGS)", "-o $(ARTIFACTS_DIR)/bootstrap", "./functions/$(1)"} {
			if !bytes.Contains(line[1], []byte(want)) {
				t.Errorf("SAM_BUILD lacks %q: %s", want, line[1])
			}
		}
		flags := regexp.MustCompile(`(?m)^BUILD_FLAGS := (.*)$`).FindSubmatch(makefile)
		if flags == nil || string(flags[1]) != "-tags lambda.norpc -trimpath -ldflags='-s -w'" {
			t.Errorf("BUILD_FLAGS = %q, want -tags lambda.norpc -trimpath -ldflags='-s -w'", flags)
		}
	})
}

func TestAgreement_EnvironmentNames(t *testing.T) {
	sam := loadSAM(t)
	cdk := defaultStack(t)
	// The endpoints each kind of function takes for local runs only; AWS_REGION is Lambda's.
	localOnly := map[string][]string{
		config.PublisherFunction: {config.EnvEventBridgeEndpoint},
		config.ArchiveFunction:   {config.EnvS3Endpoint},
		config.SealFunction:      {config.EnvS3Endpoint, config.EnvKMSEndpoint},
	}
	for _, f := range config.Functions {
		id := LogicalName(f.Name) + "Function"
		p := samFunctions(t, sam)[id]
		endpoints, ok := localOnly[f.Name]
		if !ok {
			endpoints = []string{config.EnvDynamoDBEndpoint}
		}
		vars, _ := path(p, "Environment", "Variables").(map[string]any)
		cdkVars, _ := path(cdk.cfn.Resources[cdk.functionID(t, f.Name)].Properties, "Environment", "Variables").(map[string]any)
		if want := append(keys(cdkVars), endpoints...); !sameSet(keys(vars), want) {
			t.Errorf("%s: template.yaml variables %v, want the CDK stack's plus %v: %v", id, keys(vars), endpoints, sorted(want))
		}
		if want := append(append([]string(nil), f.Env...), endpoints...); !sameSet(keys(vars), want) {
			t.Errorf("%s: variables %v, want exactly what config.Functions says it reads, and %v: %v", id, keys(vars), endpoints, sorted(want))
		}
		for _, endpoint := range endpoints {
			if ref(vars[endpoint]) == "" || path(sam, "Parameters", ref(vars[endpoint]), "Default") != "" {
				t.Errorf("%s: %s = %v, want a parameter that defaults to empty", id, endpoint, vars[endpoint])
			}
		}
		// SAM is for local work: its metrics are make run's stage.
		if ref(vars[config.EnvStage]) == "" || path(sam, "Parameters", ref(vars[config.EnvStage]), "Default") != config.LocalStage {
			t.Errorf("%s: STAGE = %v, want a parameter that defaults to %s", id, vars[config.EnvStage], config.LocalStage)
		}
		if f.Name == config.ArchiveFunction || f.Name == config.SealFunction {
			// The template has no bucket (nor key): a parameter, empty unless given, which the
			// functions refuse at init.
			for _, name := range f.Env {
				if ref(vars[name]) == "" || path(sam, "Parameters", ref(vars[name])) == nil {
					t.Errorf("%s: %s = %v, want a template parameter", id, name, vars[name])
				}
			}
			if d := path(sam, "Parameters", ref(vars[config.EnvArchiveBucket]), "Default"); d != "" {
				t.Errorf("%s: ARCHIVE_BUCKET defaults to %v, want empty", id, d)
			}
			continue
		}
		// sam local resolves !Ref to the logical id; config refuses it at init and names the
		// override parameter.
		name, logicalID, typ := config.EnvTableName, config.SAMTableLogicalID, "AWS::DynamoDB::Table"
		if f.Name == config.PublisherFunction {
			name, logicalID, typ = config.EnvEventBusName, config.SAMEventBusLogicalID, "AWS::Events::EventBus"
		}
		branches, _ := path(vars[name], "Fn::If").([]any)
		if len(branches) != 3 || ref(branches[2]) != logicalID || path(sam, "Resources", logicalID, "Type") != typ {
			t.Errorf("%s: %s = %v, want an override parameter or else !Ref %s", id, name, vars[name], logicalID)
		}
	}
}

func TestAgreement_Routes(t *testing.T) {
	sam := loadSAM(t)
	cdk := defaultStack(t)
	want := codeRoutes()

	samRoutes := map[string]routeLine{}
	for id, p := range samFunctions(t, sam) {
		if id == LogicalName(config.PublisherFunction)+"Function" {
			continue // its event is the stream (TestAgreement_PublisherStreamMapping)
		}
		evs, _ := p["Events"].(map[string]any)
		for name, ev := range evs {
			ep, _ := path(ev, "Properties").(map[string]any)
			if path(ev, "Type") != "HttpApi" || ref(ep["ApiId"]) != "HttpApi" || path(ep, "Auth", "Authorizer") != "JwtAuthorizer" ||
				ep["PayloadFormatVersion"] != "2.0" {
				t.Errorf("%s.%s: want an HttpApi event on HttpApi with the JwtAuthorizer and payload 2.0, got %v", id, name, ev)
			}
			scopes := stringList(path(ep, "Auth", "AuthorizationScopes"))
			method, _ := ep["Method"].(string)
			p, _ := ep["Path"].(string)
			key := strings.ToUpper(method) + " " + p
			if _, dup := samRoutes[key]; dup || len(scopes) != 1 {
				t.Errorf("%s.%s: %s is served twice or has scopes %v (want one)", id, name, key, scopes)
			}
			samRoutes[key] = routeLine{strings.TrimSuffix(id, "Function"), strings.ToUpper(method), p, strings.Join(scopes, " ")}
		}
	}

	cdkRoutes := map[string]routeLine{}
	fnOf := map[string]string{}
	for _, fn := range config.FunctionNames() {
		fnOf[cdk.functionID(t, fn)] = LogicalName(fn)
	}
	for _, r := range cdk.ofType("AWS::ApiGatewayV2::Route") {
		key, _ := r.Properties["RouteKey"].(string)
		method, p, _ := strings.Cut(key, " ")
		join, _ := path(r.Properties, "Target", "Fn::Join").([]any)
		var integration string
		if len(join) == 2 {
			if parts, _ := join[1].([]any); len(parts) == 2 {
				integration = ref(parts[1])
			}
		}
		fnID, _ := getAtt(path(cdk.cfn.Resources[integration].Properties, "IntegrationUri"))
		cdkRoutes[key] = routeLine{fnOf[fnID], method, p, strings.Join(stringList(r.Properties["AuthorizationScopes"]), " ")}
	}

	for key, w := range want {
		w.Function = LogicalName(w.Function)
		if got, ok := samRoutes[key]; !ok || got != w {
			t.Errorf("template.yaml: %s is %v, want %v", key, got, w)
		}
		if got, ok := cdkRoutes[key]; !ok || got != w {
			t.Errorf("CDK stack: %s is %v, want %v", key, got, w)
		}
	}
	for key := range samRoutes {
		if _, ok := want[key]; !ok {
			t.Errorf("template.yaml serves %s, which config.Routes does not have", key)
		}
	}
	for key := range cdkRoutes {
		if _, ok := want[key]; !ok {
			t.Errorf("CDK stack serves %s, which config.Routes does not have", key)
		}
	}
}

func TestAgreement_APIAuthAndThrottling(t *testing.T) {
	sam := loadSAM(t)
	httpAPI := path(sam, "Resources", "HttpApi", "Properties")
	jwt := path(httpAPI, "Auth", "Authorizers", "JwtAuthorizer")
	if got := path(jwt, "IdentitySource"); got != JWTIdentitySource {
		t.Errorf("IdentitySource = %v, want %s", got, JWTIdentitySource)
	}
	issuer := ref(path(jwt, "JwtConfiguration", "issuer"))
	audience, _ := path(jwt, "JwtConfiguration", "audience").([]any)
	if len(audience) != 1 || path(sam, "Parameters", issuer, "Default") != PlaceholderJWTIssuer ||
		path(sam, "Parameters", ref(audience[0]), "Default") != PlaceholderJWTAudience {
		t.Errorf("JWT issuer %v / audience %v: want parameters defaulting to the stack's placeholders", issuer, audience)
	}
	// HTTP APIs have no X-Ray tracing; a TracingEnabled here would be SAM's REST API setting.
	if v := path(httpAPI, "TracingEnabled"); v != nil {
		t.Errorf("HttpApi TracingEnabled = %v: HTTP APIs cannot trace, the functions do", v)
	}
	rs := path(httpAPI, "DefaultRouteSettings")
	if fmt.Sprint(path(rs, "ThrottlingRateLimit")) != strconv.Itoa(RouteThrottleRateLimit) ||
		fmt.Sprint(path(rs, "ThrottlingBurstLimit")) != strconv.Itoa(RouteThrottleBurstLimit) {
		t.Errorf("throttling %v, want rate %d burst %d per route key as in the stack", rs, RouteThrottleRateLimit, RouteThrottleBurstLimit)
	}
}

func TestAgreement_TablePermissions(t *testing.T) {
	sam := loadSAM(t)
	for id, p := range samFunctions(t, sam) {
		fn := LogicalNameToFunction(id)
		if fn == config.ArchiveFunction || fn == config.SealFunction {
			// Their grants are on the stack's bucket and key, which the template has not.
			if p["Policies"] != nil || p["Events"] != nil {
				t.Errorf("%s: policies %v, events %v; want none, the archive in AWS is the CDK stack's", id, p["Policies"], p["Events"])
			}
			continue
		}
		policies, _ := p["Policies"].([]any)
		var statements []any
		for _, pol := range policies {
			st, _ := path(pol, "Statement").([]any)
			statements = append(statements, st...)
		}
		if fn == config.PublisherFunction {
			checkSAMPublisherPolicy(t, statements)
			continue
		}
		if len(statements) != 1 {
			t.Errorf("%s: %d policy statements, want one: %v", id, len(statements), policies)
			continue
		}
		st := statements[0]
		if got := stringList(path(st, "Action")); path(st, "Effect") != "Allow" || !sameSet(got, TableActions[fn]) {
			t.Errorf("%s: actions %v, want TableActions[%s] = %v", id, got, fn, TableActions[fn])
		}
		if res, attr := getAtt(path(st, "Resource")); res != "AuditTable" || attr != "Arn" {
			t.Errorf("%s: resource %v, want !GetAtt AuditTable.Arn", id, path(st, "Resource"))
		}
	}
}

func TestAgreement_Table(t *testing.T) {
	sam := loadSAM(t)
	cdk := defaultStack(t)
	samTable := path(sam, "Resources", "AuditTable")
	if path(samTable, "Type") != "AWS::DynamoDB::Table" || path(samTable, "DeletionPolicy") != "Retain" {
		t.Fatalf("AuditTable in template.yaml: %v, want an AWS::DynamoDB::Table with DeletionPolicy Retain", samTable)
	}
	cdkProps := cdk.cfn.Resources[cdk.onlyID(t, "AWS::DynamoDB::Table")].Properties
	for _, k := range []string{"KeySchema", "AttributeDefinitions", "BillingMode", "TimeToLiveSpecification",
		"PointInTimeRecoverySpecification", "DeletionProtectionEnabled", "SSESpecification", "GlobalSecondaryIndexes",
		"StreamSpecification"} {
		got := path(samTable, "Properties", k)
		if !reflect.DeepEqual(jsonRoundTrip(t, got), jsonRoundTrip(t, cdkProps[k])) {
			t.Errorf("table %s: template.yaml %v, CDK %v", k, got, cdkProps[k])
		}
	}
}

// checkSAMPublisherPolicy: under SAM, publish-events may put events on the bus and send to its
// dead-letter queue; SAM grants the stream's reads for the DynamoDB event itself.
func checkSAMPublisherPolicy(t *testing.T, statements []any) {
	t.Helper()
	got := map[string]string{}
	for _, st := range statements {
		res, attr := getAtt(path(st, "Resource"))
		if path(st, "Effect") != "Allow" {
			t.Errorf("PublishEventsFunction: statement %v", st)
		}
		got[strings.Join(sorted(stringList(path(st, "Action"))), " ")] = res + "." + attr
	}
	want := map[string]string{"events:PutEvents": "EventBus.Arn", "sqs:SendMessage": "PublishEventsDeadLetterQueue.Arn"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PublishEventsFunction: statements %v, want exactly %v", got, want)
	}
}

// TestAgreement_PublisherStreamMapping holds publish-events' DynamoDB event in template.yaml to
// the stack's event source mapping, and the bus, its archive and the dead-letter queue to the
// stack's.
func TestAgreement_PublisherStreamMapping(t *testing.T) {
	sam := loadSAM(t)
	cdk := defaultStack(t)
	fns := samFunctions(t, sam)
	evs, _ := fns[LogicalName(config.PublisherFunction)+"Function"]["Events"].(map[string]any)
	if len(evs) != 1 {
		t.Fatalf("PublishEventsFunction has events %v, want one, the stream", evs)
	}
	var ev any
	for _, e := range evs {
		ev = e
	}
	if path(ev, "Type") != "DynamoDB" {
		t.Fatalf("PublishEventsFunction's event is %v, want DynamoDB", path(ev, "Type"))
	}
	p, _ := path(ev, "Properties").(map[string]any)
	if res, attr := getAtt(p["Stream"]); res != config.SAMTableLogicalID || attr != "StreamArn" {
		t.Errorf("Stream %v, want !GetAtt AuditTable.StreamArn", p["Stream"])
	}
	if res, attr := getAtt(path(p, "DestinationConfig", "OnFailure", "Destination")); res != "PublishEventsDeadLetterQueue" || attr != "Arn" {
		t.Errorf("on-failure destination %v, want the dead-letter queue", path(p, "DestinationConfig"))
	}
	mapping := cdk.cfn.Resources[cdk.idWithPrefix(t, "AWS::Lambda::EventSourceMapping", "PublishEventsStreamMapping")].Properties
	for _, k := range []string{"StartingPosition", "BatchSize", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds",
		"BisectBatchOnFunctionError", "FunctionResponseTypes", "FilterCriteria", "MaximumBatchingWindowInSeconds", "ParallelizationFactor"} {
		if !reflect.DeepEqual(jsonRoundTrip(t, p[k]), jsonRoundTrip(t, mapping[k])) {
			t.Errorf("%s: template.yaml %v, the CDK stack %v", k, p[k], mapping[k])
		}
	}
	bus := cdk.cfn.Resources[cdk.onlyID(t, "AWS::Events::EventBus")].Properties
	if sub := path(sam, "Resources", config.SAMEventBusLogicalID, "Properties", "Name", "Fn::Sub"); sub != "bufdir-export-audit-${Stage}" || bus["Name"] != config.EventBusName("dev") {
		t.Errorf("bus name: template.yaml %v, the CDK stack %v; want bufdir-export-audit-<stage>", sub, bus["Name"])
	}
	archive := path(sam, "Resources", "EventArchive", "Properties")
	cdkArchive := cdk.cfn.Resources[cdk.onlyID(t, "AWS::Events::Archive")].Properties
	if !reflect.DeepEqual(jsonRoundTrip(t, path(archive, "EventPattern")), jsonRoundTrip(t, cdkArchive["EventPattern"])) {
		t.Errorf("archive pattern: template.yaml %v, the CDK stack %v", path(archive, "EventPattern"), cdkArchive["EventPattern"])
	}
	if res, _ := getAtt(path(archive, "SourceArn")); res != config.SAMEventBusLogicalID ||
		fmt.Sprint(path(sam, "Parameters", ref(path(archive, "RetentionDays")), "Default")) != fmt.Sprint(cdkArchive["RetentionDays"]) {
		t.Errorf("archive of %v keeping %v days by default, the CDK stack's %v", path(archive, "SourceArn"), path(archive, "RetentionDays"), cdkArchive["RetentionDays"])
	}
	queue := path(sam, "Resources", "PublishEventsDeadLetterQueue", "Properties")
	cdkQueue := cdk.cfn.Resources[queueID(t, cdk, "PublishEventsDeadLetterQueue")].Properties
	for _, k := range []string{"SqsManagedSseEnabled", "MessageRetentionPeriod", "KmsMasterKeyId"} {
		if !reflect.DeepEqual(jsonRoundTrip(t, path(queue, k)), jsonRoundTrip(t, cdkQueue[k])) {
			t.Errorf("dead-letter queue %s: template.yaml %v, the CDK stack %v", k, path(queue, k), cdkQueue[k])
		}
	}
	deny := path(sam, "Resources", "PublishEventsDeadLetterQueuePolicy", "Properties", "PolicyDocument", "Statement")
	if list, _ := deny.([]any); len(list) != 1 || path(list[0], "Effect") != "Deny" ||
		path(list[0], "Condition", "Bool", "aws:SecureTransport") != "false" {
		t.Errorf("dead-letter queue policy %v, want a deny of every request without TLS", deny)
	}
}

func jsonRoundTrip(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAgreement_EventsCarryThePlaceholderIssuer: events/*.json of the routes, which sam local
// invoke sends (functions/events_test.go holds them to the routes), carry the claims of a token
// from the placeholder issuer that template.yaml's JwtIssuer defaults to.
func TestAgreement_EventsCarryThePlaceholderIssuer(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(repoRoot, "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no events/*.json (%v)", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		if name == config.PublisherFunction || name == config.ArchiveFunction || name == config.SealFunction {
			continue // a batch of the table's stream or a schedule's event, which carry no token
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var ev struct {
				RequestContext struct {
					Authorizer struct {
						JWT struct {
							Claims map[string]string `json:"claims"`
						} `json:"jwt"`
					} `json:"authorizer"`
				} `json:"requestContext"`
			}
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			if iss := ev.RequestContext.Authorizer.JWT.Claims["iss"]; iss != PlaceholderJWTIssuer {
				t.Errorf("claim iss %q, want %s", iss, PlaceholderJWTIssuer)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// TestAgreement_READMEDeployAndSAM holds the commands of README.md's "Deploy" and "Local
// development with AWS SAM" sections to the files they name: Makefile targets, context keys,
// SAM logical ids, template parameters and event files.
func TestAgreement_READMEDeployAndSAM(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := func(title string) string {
		text := string(raw)
		i := strings.Index(text, "\n## "+title+"\n")
		if i < 0 {
			t.Fatalf("README.md has no section %q", title)
		}
		text = text[i+len(title)+5:]
		if j := strings.Index(text, "\n## "); j >= 0 {
			text = text[:j]
		}
		return text
	}
	deploy, sam := section("Deploy"), section("Local development with AWS SAM")

	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("make (?:-s )?([a-z][a-z-]*)(<?)").FindAllStringSubmatch(deploy+sam, -1) {
		if m[2] == "<" {
			continue // build-<LogicalId>, checked in TestAgreement_FunctionsRuntimeAndBuild
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `:`).Match(makefile) {
			t.Errorf("README names make %s, which the Makefile has no target for", m[1])
		}
	}

	configSource, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:str|contextValue)\((?:node, )?"(\w+)"`).FindAllStringSubmatch(string(configSource), -1) {
		known[m[1]] = true
	}
	if len(known) < 10 {
		t.Fatalf("found only context keys %v in config.go", keys(known))
	}
	for _, m := range regexp.MustCompile(`-c (\w+)=`).FindAllStringSubmatch(deploy, -1) {
		if !known[m[1]] && m[1] != "key" { // "-c key=value" explains the form
			t.Errorf("README passes -c %s, which ConfigFromContext does not read", m[1])
		}
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(\\w+)` \\|").FindAllStringSubmatch(deploy, -1) {
		documented[m[1]] = true
	}
	if !sameSet(keys(documented), keys(known)) {
		t.Errorf("README's context table has %v, config.go reads %v", keys(documented), keys(known))
	}

	template := loadSAM(t)
	fns := samFunctions(t, template)
	for _, m := range regexp.MustCompile(`sam local invoke (\w+) -e (\S+)`).FindAllStringSubmatch(sam, -1) {
		if _, ok := fns[m[1]]; !ok {
			t.Errorf("README invokes %s, which template.yaml has no function for", m[1])
		}
		if want := "events/" + LogicalNameToFunction(m[1]) + ".json"; m[2] != want {
			t.Errorf("README invokes %s with %s, want %s", m[1], m[2], want)
		}
		if _, err := os.Stat(filepath.Join(repoRoot, m[2])); err != nil {
			t.Errorf("README names %s: %v", m[2], err)
		}
	}
	for _, id := range regexp.MustCompile("`(\\w+Function)`").FindAllStringSubmatch(sam, -1) {
		if _, ok := fns[id[1]]; !ok {
			t.Errorf("README names %s, which template.yaml has no function for", id[1])
		}
	}
	overrides := regexp.MustCompile(`--parameter-overrides((?: \w+=\S+)+)`).FindAllStringSubmatch(sam, -1)
	if len(overrides) == 0 {
		t.Error("README's SAM section passes no --parameter-overrides")
	}
	for _, m := range overrides {
		for _, kv := range strings.Fields(m[1]) {
			k, v, _ := strings.Cut(strings.Trim(kv, "`"), "=")
			if path(template, "Parameters", k) == nil {
				t.Errorf("README overrides parameter %s, which template.yaml does not have", k)
			}
			if k == "TableNameOverride" && v != "bufdir-export-audit-local" {
				t.Errorf("TableNameOverride=%s, want the table of make run, bufdir-export-audit-local", v)
			}
		}
	}
}

// LogicalNameToFunction turns a SAM logical id ("ListRecordsFunction") back into the function
// name of config.Routes ("list-records"), or "" when no function has that id.
func LogicalNameToFunction(id string) string {
	for _, fn := range config.FunctionNames() {
		if LogicalName(fn)+"Function" == id {
			return fn
		}
	}
	return ""
}
