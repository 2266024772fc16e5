// Command publish-events is the Lambda function behind the table's stream: it puts a change
// event on the stage's event bus for every change of a record.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/bufdir/export-audit/internal/app/publisher"
)

func main() {
	h := publisher.MustLoad(context.Background())
	lambda.Start(h.Handle)
}
