// Command update-status is the Lambda function behind the update-status route.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/bufdir/export-audit/pkg/api"
	"github.com/bufdir/export-audit/pkg/app"
)

func main() {
	deps := app.MustLoad(context.Background())
	lambda.Start(api.Handle(deps, api.UpdateStatus))
}
