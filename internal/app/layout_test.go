package app_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/bufdir/export-audit"

// deps lists the packages patterns build with, as go list -deps prints them, without tests.
func deps(t *testing.T, env []string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// The adapters declare what they need and the root builds it: no package under pkg/ may
// import the composition root (Go's internal rule allows it, as pkg/ is inside the module).
func TestLayout_NoLibraryPackageImportsTheCompositionRoot(t *testing.T) {
	t.Parallel()
	for _, pkg := range deps(t, nil, module+"/pkg/...") {
		if strings.HasPrefix(pkg, module+"/internal/") {
			t.Errorf("a package under pkg/ imports %s", pkg)
		}
	}
}

// The functions import the root, and nothing of the local runs: the local API, the embedded
// engine, the token keeper, the fault injector, the test kit and the JWT library would cost
// every bootstrap size and init time.
func TestLayout_ShippedFunctionsLinkNothingOfTheLocalRuns(t *testing.T) {
	t.Parallel()
	// As the functions are built for Lambda: Linux, the deployment's build tags.
	pkgs := deps(t, []string{"GOOS=linux", "CGO_ENABLED=0"}, "-tags", "lambda.norpc", module+"/functions/...")
	if !contains(pkgs, module+"/internal/app") {
		t.Fatalf("want the functions to build through internal/app, go list names %v", pkgs)
	}
	for _, pkg := range pkgs {
		for _, local := range []string{
			module + "/internal/app/localrun", module + "/internal/testkit", module + "/pkg/local", module + "/pkg/clienttoken", module + "/pkg/faults",
			"github.com/truora/minidyn", "github.com/golang-jwt/jwt",
		} {
			if pkg == local || strings.HasPrefix(pkg, local+"/") {
				t.Errorf("the functions link %s", pkg)
			}
		}
	}
}

// pkg/config is the leaf that infra/ and every other part read names from: it imports only the
// standard library, so that reading a name compiles nothing else.
func TestLayout_ConfigImportsOnlyTheStandardLibrary(t *testing.T) {
	t.Parallel()
	for _, pkg := range deps(t, nil, module+"/pkg/config") {
		if first, _, _ := strings.Cut(pkg, "/"); strings.Contains(first, ".") && pkg != module+"/pkg/config" {
			t.Errorf("pkg/config imports %s", pkg)
		}
	}
}

// The stream's readers (the publisher, the archive) decode items with pkg/item and must not
// link the DynamoDB client, which alone would take the publisher past its size budget.
func TestLayout_ItemLayoutLinksNoDynamoDBClient(t *testing.T) {
	t.Parallel()
	pkgs := deps(t, nil, module+"/pkg/item")
	if !contains(pkgs, "github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue") {
		t.Fatalf("want pkg/item to encode with attributevalue, go list names %v", pkgs)
	}
	if contains(pkgs, "github.com/aws/aws-sdk-go-v2/service/dynamodb") {
		t.Error("pkg/item links the DynamoDB client (service/dynamodb)")
	}
}

// publish-events reads the table's stream, never the table: it links no DynamoDB client (which
// would take it past its size budget), nor the route functions' root that builds one, nor the
// local bus.
func TestLayout_PublisherLinksNoDynamoDBClient(t *testing.T) {
	t.Parallel()
	pkgs := deps(t, []string{"GOOS=linux", "CGO_ENABLED=0"}, "-tags", "lambda.norpc", module+"/functions/publish-events")
	if !contains(pkgs, "github.com/aws/aws-sdk-go-v2/service/eventbridge") {
		t.Fatalf("want publish-events to link the EventBridge client, go list names %v", pkgs)
	}
	for _, pkg := range []string{"github.com/aws/aws-sdk-go-v2/service/dynamodb", module + "/internal/app", module + "/pkg/store", module + "/pkg/bus"} {
		if contains(pkgs, pkg) {
			t.Errorf("publish-events links %s", pkg)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
