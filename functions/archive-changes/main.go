// Command archive-changes is the Lambda function behind the table's stream that keeps the
// archive: it writes each batch of the stream as one change object in the archive's bucket.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/bufdir/export-audit/internal/app/archiver"
)

func main() {
	w := archiver.MustLoad(context.Background())
	lambda.Start(w.Handle)
}
