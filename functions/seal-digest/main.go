// Command seal-digest is the scheduled Lambda function that seals the archive: each run writes
// the signed digest of every period that is due. The schedule's event carries nothing it needs.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/bufdir/export-audit/internal/app/sealer"
)

func main() {
	s := sealer.MustLoad(context.Background())
	lambda.Start(s.Run)
}
