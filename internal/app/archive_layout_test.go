package app_test

import "testing"

// The archive's functions build through their own roots: neither links the routes' root nor
// the DynamoDB client (they read the stream and the bucket, never the table), and the writer
// links no KMS client. Each client is a module's worth of bootstrap size and init time.
func TestLayout_ArchiveFunctionsLinkOnlyTheirClients(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		function string
		want     []string
		never    []string
	}{
		{"archive-changes",
			[]string{module + "/internal/app/archiver", "github.com/aws/aws-sdk-go-v2/service/s3"},
			[]string{"github.com/aws/aws-sdk-go-v2/service/kms", module + "/internal/app/sealer"}},
		{"seal-digest",
			[]string{module + "/internal/app/sealer", "github.com/aws/aws-sdk-go-v2/service/s3", "github.com/aws/aws-sdk-go-v2/service/kms"},
			nil},
	} {
		pkgs := deps(t, []string{"GOOS=linux", "CGO_ENABLED=0"}, "-tags", "lambda.norpc", module+"/functions/"+c.function)
		for _, p := range c.want {
			if !contains(pkgs, p) {
				t.Errorf("%s does not link %s", c.function, p)
			}
		}
		never := append([]string{"github.com/aws/aws-sdk-go-v2/service/dynamodb", module + "/internal/app", module + "/pkg/store",
			module + "/pkg/api", module + "/pkg/stream"}, c.never...)
		for _, p := range never {
			if contains(pkgs, p) {
				t.Errorf("%s links %s", c.function, p)
			}
		}
	}
}
