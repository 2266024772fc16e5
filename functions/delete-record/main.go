// Command delete-record is the Lambda function behind the delete-record route.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/pkg/api"
)

func main() {
	deps := app.MustLoad(context.Background())
	lambda.Start(api.Handle(deps, api.DeleteRecord))
}
