// Command hello is the baseline of make bench: the smallest aws-lambda-go function behind an
// HTTP API (payload 2.0 event in, response out), built with the same flags as the service's
// functions, so that their size and cold start can be read against it.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handle(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       `{"hello":"` + ev.RequestContext.HTTP.Method + `"}`,
	}, nil
}

func main() {
	lambda.Start(handle)
}
