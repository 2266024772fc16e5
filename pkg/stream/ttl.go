package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// ttlHorizon is how far in the past a TTL value may lie and still expire its item: DynamoDB
// skips older ones, which are more likely a mistake than a deadline.
const ttlHorizon = 5 * 365 * 24 * time.Hour

// Expire does what DynamoDB's TTL does for a table whose TTL attribute is attr: it deletes
// every item whose attr is a number of epoch seconds before now, each with a REMOVE record
// whose userIdentity names the TTL service. An item changed since it was read is left alone,
// as DynamoDB re-checks the attribute before it deletes. It returns how many items it deleted.
func (l *Layer) Expire(ctx context.Context, tableName, attr string, now time.Time) (int, error) {
	if l.engine() == nil {
		return 0, errNoEngine
	}
	t, err := l.describe(ctx, tableName)
	if err != nil {
		return 0, err
	}
	var due []map[string]json.RawMessage
	var start map[string]json.RawMessage
	for {
		req := map[string]any{"TableName": tableName, "ConsistentRead": true}
		if start != nil {
			req["ExclusiveStartKey"] = start
		}
		body, _ := json.Marshal(req)
		answer := l.call(ctx, "Scan", body, nil)
		if answer.status != http.StatusOK {
			return 0, fmt.Errorf("scan %s for expired items: engine answered %d %s", tableName, answer.status, answer.errorType())
		}
		var page struct {
			Items            []map[string]json.RawMessage
			LastEvaluatedKey map[string]json.RawMessage
		}
		if err := json.Unmarshal(answer.body.Bytes(), &page); err != nil {
			return 0, fmt.Errorf("scan %s for expired items: %w", tableName, err)
		}
		for _, item := range page.Items {
			if expired(item[attr], now) {
				due = append(due, item)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		start = page.LastEvaluatedKey
	}
	deleted := 0
	for _, item := range due {
		key := map[string]json.RawMessage{}
		for _, k := range t.keys {
			key[k] = item[k]
		}
		body, _ := json.Marshal(map[string]any{
			"TableName":                 tableName,
			"Key":                       key,
			"ConditionExpression":       "#ttl = :ttl",
			"ExpressionAttributeNames":  map[string]string{"#ttl": attr},
			"ExpressionAttributeValues": map[string]json.RawMessage{":ttl": item[attr]},
		})
		answer := l.write(ctx, "DeleteItem", body, nil, ttlIdentity)
		switch {
		case answer.status == http.StatusOK:
			deleted++
		case answer.errorType() == "ConditionalCheckFailedException":
		default:
			return deleted, fmt.Errorf("expire an item of %s: engine answered %d %s", tableName, answer.status, answer.errorType())
		}
	}
	return deleted, nil
}

// expired says whether a TTL attribute's value lies before now (and within the horizon).
func expired(raw json.RawMessage, now time.Time) bool {
	if raw == nil {
		return false
	}
	var v events.DynamoDBAttributeValue
	if json.Unmarshal(raw, &v) != nil || v.DataType() != events.DataTypeNumber {
		return false
	}
	secs, err := strconv.ParseFloat(v.Number(), 64)
	if err != nil {
		return false
	}
	t := float64(now.UnixNano()) / float64(time.Second)
	return secs < t && secs >= t-ttlHorizon.Seconds()
}

// Sweep runs Expire for a table every interval, in the background, until the layer closes:
// DynamoDB's TTL for `make run`. A failed sweep is logged and tried again at the next tick.
func (l *Layer) Sweep(tableName, attr string, every time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx.Err() != nil {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-l.ctx.Done():
				return
			case now := <-tick.C:
				if _, err := l.Expire(l.ctx, tableName, attr, now); err != nil && l.ctx.Err() == nil {
					l.log.Error("stream: TTL sweep failed", "table", tableName, "error", err.Error())
				}
			}
		}
	}()
}
