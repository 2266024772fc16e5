package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

// testRoot holds placeholder function assets and the cloud assemblies of the test runs. The
// placeholders stand in for build/<function>/bootstrap: these tests check the stack, the real
// binaries are built and tested by the service's own targets.
var testRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testRoot = dir
	for _, fn := range config.FunctionNames() {
		if err := os.MkdirAll(filepath.Join(dir, "assets", fn), 0o755); err == nil {
			err = os.WriteFile(filepath.Join(dir, "assets", fn, "bootstrap"), []byte("placeholder for "+fn+"\n"), 0o755)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	jsii.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Real-looking JWT settings: the stack has no default for them in any stage.
const (
	testJWTIssuer   = "https://login.bufdir.no/realms/export-audit"
	testJWTAudience = "export-audit"
)

// testConfig is the dev configuration pointed at the placeholder assets.
// stageConfig is testConfig for a stage other than dev, which must name the hosts a file URL
// may point to.
func stageConfig(stage string) Config {
	c := testConfig()
	c.Stage = stage
	c.FileURLAllowedHosts = "storage.example.no"
	return c
}

func testConfig() Config {
	c := DefaultConfig()
	c.AssetRoot = filepath.Join(testRoot, "assets")
	c.JWTIssuer = testJWTIssuer
	c.JWTAudience = []string{testJWTAudience}
	return c
}

// synthesized is one stack with its template, both for the assertions library and as plain Go
// values for the checks that follow references between resources.
type synthesized struct {
	stack    awscdk.Stack
	template assertions.Template
	cfn      cfnTemplate
}

type cfnTemplate struct {
	Resources map[string]cfnResource    `json:"Resources"`
	Outputs   map[string]map[string]any `json:"Outputs"`
}

type cfnResource struct {
	Type                string         `json:"Type"`
	Properties          map[string]any `json:"Properties"`
	DeletionPolicy      string         `json:"DeletionPolicy"`
	UpdateReplacePolicy string         `json:"UpdateReplacePolicy"`
}

var synthCount int
var synthMu sync.Mutex

func synthStack(t *testing.T, cfg Config) *synthesized {
	t.Helper()
	synthMu.Lock()
	synthCount++
	outdir := filepath.Join(testRoot, fmt.Sprintf("cdk.out.%d", synthCount))
	synthMu.Unlock()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	stack, err := NewAuditStack(app, cfg, nil)
	if err != nil {
		t.Fatalf("NewAuditStack: %v", err)
	}
	s := &synthesized{stack: stack, template: assertions.Template_FromStack(stack, nil)}
	raw, err := json.Marshal(s.template.ToJSON())
	if err != nil {
		t.Fatalf("template to JSON: %v", err)
	}
	if err := json.Unmarshal(raw, &s.cfn); err != nil {
		t.Fatalf("decode template: %v", err)
	}
	return s
}

var (
	defaultOnce  sync.Once
	defaultSynth *synthesized
)

// defaultStack is the dev stack, synthesized once for all tests that only read it.
func defaultStack(t *testing.T) *synthesized {
	t.Helper()
	defaultOnce.Do(func() { defaultSynth = synthStack(t, testConfig()) })
	if defaultSynth == nil {
		t.Fatal("the default stack did not synthesize (see the first failure)")
	}
	return defaultSynth
}

// check runs an assertions call, which panics with the library's explanation on a mismatch,
// and turns that into a test error.
func check(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

func (s *synthesized) ofType(typ string) map[string]cfnResource {
	out := map[string]cfnResource{}
	for id, r := range s.cfn.Resources {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// policiesOf are the stack's policies attached to the role roleID, by logical id.
func (s *synthesized) policiesOf(roleID string) map[string]cfnResource {
	out := map[string]cfnResource{}
	for id, p := range s.ofType("AWS::IAM::Policy") {
		for _, r := range p.Properties["Roles"].([]any) {
			if ref(r) == roleID {
				out[id] = p
			}
		}
	}
	return out
}

// functionID is the logical id of the function serving fn.
func (s *synthesized) functionID(t *testing.T, fn string) string {
	t.Helper()
	var ids []string
	for id := range s.ofType("AWS::Lambda::Function") {
		if strings.HasPrefix(id, LogicalName(fn)+"Function") {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("want one function for %s, found %v", fn, ids)
	}
	return ids[0]
}

func (s *synthesized) onlyID(t *testing.T, typ string) string {
	t.Helper()
	var ids []string
	for id := range s.ofType(typ) {
		ids = append(ids, id)
	}
	if len(ids) != 1 {
		t.Fatalf("want exactly one %s, found %v", typ, ids)
	}
	return ids[0]
}

// ref returns the logical id in {"Ref": id}, or "".
func ref(v any) string {
	m, _ := v.(map[string]any)
	id, _ := m["Ref"].(string)
	return id
}

// getAtt returns the logical id and attribute in {"Fn::GetAtt": [id, attr]}.
func getAtt(v any) (string, string) {
	m, _ := v.(map[string]any)
	parts, _ := m["Fn::GetAtt"].([]any)
	if len(parts) != 2 {
		return "", ""
	}
	id, _ := parts[0].(string)
	attr, _ := parts[1].(string)
	return id, attr
}

// strings of a JSON value that is a string or a list of strings (IAM allows both).
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

func sorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func sameSet(a, b []string) bool {
	return strings.Join(sorted(a), "\x00") == strings.Join(sorted(b), "\x00")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// idWithPrefix is the logical id of the stack's one resource of type typ whose id begins with
// prefix, where the stack has more than one of the type.
func (s *synthesized) idWithPrefix(t *testing.T, typ, prefix string) string {
	t.Helper()
	var ids []string
	for id := range s.ofType(typ) {
		if strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("want one %s named %s*, found %v among %v", typ, prefix, ids, keys(s.ofType(typ)))
	}
	return ids[0]
}

// queueID is the logical id of the stack's queue whose id begins with prefix.
func queueID(t *testing.T, s *synthesized, prefix string) string {
	t.Helper()
	return s.idWithPrefix(t, "AWS::SQS::Queue", prefix)
}
