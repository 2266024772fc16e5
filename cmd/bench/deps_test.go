package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The peer's config module (config.LoadDefaultConfig and the credential chain behind it) is in
// go.mod for make bench only: the functions build their client from the environment Lambda
// gives them (internal/app), and linking it would cost them size and init time.
func TestShippedFunctionsDoNotLinkTheConfigModule(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pattern string
		links   bool
	}{
		{"github.com/bufdir/export-audit/functions/...", false},
		// The peer must link it, or this check would pass whatever go list printed.
		{"github.com/bufdir/export-audit/cmd/bench/peer", true},
	} {
		// As the functions are built for Lambda: Linux, the deployment's build tags.
		cmd := exec.Command(goTool(), "list", "-deps", "-tags", "lambda.norpc", c.pattern)
		cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", c.pattern, err)
		}
		var found []string
		for _, pkg := range strings.Fields(string(out)) {
			if configOnly(pkg) {
				found = append(found, pkg)
			}
		}
		if c.links && len(found) == 0 {
			t.Errorf("%s: links none of config and credentials, want config.LoadDefaultConfig's packages", c.pattern)
		}
		if !c.links && len(found) > 0 {
			t.Errorf("%s links %s, which only the bench's peer may", c.pattern, strings.Join(found, ", "))
		}
	}
}

// configOnly reports whether pkg is the SDK's config module or the credential providers it
// brings in.
func configOnly(pkg string) bool {
	for _, m := range []string{"github.com/aws/aws-sdk-go-v2/config", "github.com/aws/aws-sdk-go-v2/credentials"} {
		if pkg == m || strings.HasPrefix(pkg, m+"/") {
			return true
		}
	}
	return false
}
