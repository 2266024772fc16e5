// Command peer is the second baseline of make bench: the get-one-item Lambda a user would write
// without this project, following the AWS SDK's documentation: aws-lambda-go, a client from
// config.LoadDefaultConfig built once per container, one GetItem, the item as JSON. It is built
// with the same flags as the service's functions and, in the bench, reads the same seeded item
// from the same table as get-record, so that their cold starts can be read against it.
//
// It reads TABLE_NAME, and the endpoint the SDK's own configuration takes
// (AWS_ENDPOINT_URL_DYNAMODB), which in AWS is unset.
package main

import (
	"context"
	"encoding/json"
	"log"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

var (
	db    *dynamodb.Client
	table = os.Getenv("TABLE_NAME")
)

func handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	// The table's keys: pk ORG#<org>, sk REC#<YYYYMMDD>#<sequence, 9 digits>, from the caller's
	// org_id claim and the path's rec-YYYYMMDD-NNN.
	var org string
	if a := ev.RequestContext.Authorizer; a != nil && a.JWT != nil {
		org = a.JWT.Claims["org_id"]
	}
	day, seq, ok := strings.Cut(strings.TrimPrefix(ev.PathParameters["record_id"], "rec-"), "-")
	if org == "" || !ok || len(seq) > 9 {
		return answer(400, map[string]string{"error": "bad request"})
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "ORG#" + org},
			"sk": &types.AttributeValueMemberS{Value: "REC#" + day + "#" + strings.Repeat("0", 9-len(seq)) + seq},
		},
		// As get-record reads: strongly consistent, so that both do the same work.
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if out.Item == nil {
		return answer(404, map[string]string{"error": "not found"})
	}
	var item map[string]any
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return answer(200, item)
}

func answer(status int, v any) (events.APIGatewayV2HTTPResponse, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}, nil
}

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("load AWS config: %v", err)
	}
	db = dynamodb.NewFromConfig(cfg)
	lambda.Start(handle)
}
