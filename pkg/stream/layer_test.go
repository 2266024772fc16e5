package stream_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/image"
	"github.com/bufdir/export-audit/pkg/stream"
)

func TestRecords_HaveTheShapeLambdaHandsAFunction(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{KeepAll: true})
	before := time.Now().Add(-time.Second)
	every := item("a", 1, map[string]types.AttributeValue{
		"s": s("text"), "n": n("12.5"), "b": &types.AttributeValueMemberB{Value: []byte{0, 1, 2}},
		"t": &types.AttributeValueMemberBOOL{Value: true}, "z": &types.AttributeValueMemberNULL{Value: true},
		"ss": &types.AttributeValueMemberSS{Value: []string{"x", "y"}}, "ns": &types.AttributeValueMemberNS{Value: []string{"1", "2"}},
		"bs": &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2}}},
		"l":  &types.AttributeValueMemberL{Value: []types.AttributeValue{s("e"), n("3")}},
		"m":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": s("v"), "deep": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"x": n("1")}}}},
	})
	f.put(t, every)
	afterPut := f.get(t, tbl, key("a", 1))
	_, err := f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(tbl), Key: key("a", 1),
		UpdateExpression:          aws.String("SET s = :s, m.k = :v ADD n :one REMOVE z"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": s("changed"), ":v": s("w"), ":one": n("1")},
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	afterUpdate := f.get(t, tbl, key("a", 1))
	if _, err := f.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tbl), Key: key("a", 1)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	after := time.Now()

	recs := f.Layer.Records(tbl)
	sameNames(t, recs, "INSERT a/1", "MODIFY a/1", "REMOVE a/1")
	if len(recs) != 3 {
		t.FailNow()
	}
	sameImage(t, "INSERT NewImage", recs[0].Change.NewImage, afterPut)
	sameImage(t, "INSERT OldImage", recs[0].Change.OldImage, nil)
	sameImage(t, "MODIFY OldImage", recs[1].Change.OldImage, afterPut)
	sameImage(t, "MODIFY NewImage", recs[1].Change.NewImage, afterUpdate)
	sameImage(t, "REMOVE OldImage", recs[2].Change.OldImage, afterUpdate)
	sameImage(t, "REMOVE NewImage", recs[2].Change.NewImage, nil)

	arn := regexp.MustCompile(`^arn:aws:dynamodb:eu-north-1:000000000000:table/items/stream/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$`)
	seq := regexp.MustCompile(`^[1-9][0-9]{20}$`)
	ids := map[string]bool{}
	prev := new(big.Int)
	for i, r := range recs {
		if r.EventSource != "aws:dynamodb" || r.EventVersion != "1.1" || r.AWSRegion != region ||
			r.Change.StreamViewType != "NEW_AND_OLD_IMAGES" || r.UserIdentity != nil {
			t.Errorf("record %d: source %q version %q region %q view %q identity %v", i, r.EventSource,
				r.EventVersion, r.AWSRegion, r.Change.StreamViewType, r.UserIdentity)
		}
		if !arn.MatchString(r.EventSourceArn) || r.EventSourceArn != recs[0].EventSourceArn {
			t.Errorf("record %d: eventSourceARN %q is not the table's stream", i, r.EventSourceArn)
		}
		sameImage(t, fmt.Sprintf("record %d Keys", i), r.Change.Keys, image.FromSDK(key("a", 1)))
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(r.EventID) || ids[r.EventID] {
			t.Errorf("record %d: eventID %q is not a fresh one", i, r.EventID)
		}
		ids[r.EventID] = true
		num, ok := new(big.Int).SetString(r.Change.SequenceNumber, 10)
		if !seq.MatchString(r.Change.SequenceNumber) || !ok || num.Cmp(prev) <= 0 ||
			(i > 0 && r.Change.SequenceNumber <= recs[i-1].Change.SequenceNumber) {
			t.Errorf("record %d: SequenceNumber %q does not follow the previous one", i, r.Change.SequenceNumber)
		}
		prev = num
		if at := r.Change.ApproximateCreationDateTime.Time; at.Before(before) || at.After(after) {
			t.Errorf("record %d: ApproximateCreationDateTime %v is not the write's time", i, at)
		}
		if r.Change.SizeBytes < 20 {
			t.Errorf("record %d: SizeBytes %d is too small for its images", i, r.Change.SizeBytes)
		}
	}

	// What a function receives is JSON: the same fields, spelled as a real stream spells them.
	b, err := json.Marshal(recs[1])
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	top := slices.Sorted(maps.Keys(doc))
	if want := []string{"awsRegion", "dynamodb", "eventID", "eventName", "eventSource", "eventSourceARN", "eventVersion"}; !slices.Equal(top, want) {
		t.Errorf("record fields %q, want %q", top, want)
	}
	ddb := doc["dynamodb"].(map[string]any)
	if want := []string{"ApproximateCreationDateTime", "Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes", "StreamViewType"}; !slices.Equal(slices.Sorted(maps.Keys(ddb)), want) {
		t.Errorf("dynamodb fields %q, want %q", slices.Sorted(maps.Keys(ddb)), want)
	}
	if at, ok := ddb["ApproximateCreationDateTime"].(float64); !ok || at != float64(int64(at)) {
		t.Errorf("ApproximateCreationDateTime %v is not whole epoch seconds", ddb["ApproximateCreationDateTime"])
	}
	old := ddb["OldImage"].(map[string]any)
	if got, _ := json.Marshal(old["b"]); string(got) != `{"B":"AAEC"}` {
		t.Errorf("binary attribute as %s, want base64 as DynamoDB JSON has it", got)
	}
	if got, _ := json.Marshal(old["sk"]); string(got) != `{"N":"1"}` {
		t.Errorf("number attribute as %s, want a string as DynamoDB JSON has it", got)
	}
}

func TestTransactionsAndBatches_OneRecordPerChangedItem(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{KeepAll: true})
	f.createTable(t, "other")
	f.put(t, item("a", 1, map[string]types.AttributeValue{"v": n("1")}))
	f.put(t, item("c", 1, nil))
	f.put(t, item("d", 1, nil))
	beforeA, beforeC := f.get(t, tbl, key("a", 1)), f.get(t, tbl, key("c", 1))
	start := len(f.Layer.Records(""))

	_, err := f.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(tbl), Item: item("b", 1, map[string]types.AttributeValue{"v": n("2")})}},
		{Update: &types.Update{TableName: aws.String(tbl), Key: key("a", 1), UpdateExpression: aws.String("SET v = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": n("3")}}},
		{Delete: &types.Delete{TableName: aws.String(tbl), Key: key("c", 1)}},
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String(tbl), Key: key("d", 1), ConditionExpression: aws.String("attribute_exists(pk)")}},
	}})
	if err != nil {
		t.Fatalf("transaction: %v", err)
	}
	recs := f.Layer.Records("")[start:]
	sameNames(t, recs, "INSERT b/1", "MODIFY a/1", "REMOVE c/1")
	if len(recs) == 3 {
		sameImage(t, "transaction put", recs[0].Change.NewImage, f.get(t, tbl, key("b", 1)))
		sameImage(t, "transaction update old", recs[1].Change.OldImage, beforeA)
		sameImage(t, "transaction update new", recs[1].Change.NewImage, f.get(t, tbl, key("a", 1)))
		sameImage(t, "transaction delete old", recs[2].Change.OldImage, beforeC)
	}

	start = len(f.Layer.Records(""))
	_, err = f.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		"other": {{PutRequest: &types.PutRequest{Item: item("o", 1, nil)}}},
		tbl: {
			{PutRequest: &types.PutRequest{Item: item("e", 1, nil)}},
			{DeleteRequest: &types.DeleteRequest{Key: key("d", 1)}},
			{DeleteRequest: &types.DeleteRequest{Key: key("missing", 1)}},
		},
	}})
	if err != nil {
		t.Fatalf("batch write: %v", err)
	}
	recs = f.Layer.Records("")[start:]
	sameNames(t, recs, "INSERT e/1", "REMOVE d/1", "INSERT o/1")
	if len(recs) == 3 && recs[2].EventSourceArn == recs[0].EventSourceArn {
		t.Errorf("two tables share the stream %s", recs[0].EventSourceArn)
	}
	if got := names(f.Layer.Records("other")); !slices.Equal(got, []string{"INSERT o/1"}) {
		t.Errorf("Records(other) = %q", got)
	}
}

func TestWritesThatChangeNothing_WriteNoRecord(t *testing.T) {
	t.Parallel()
	cond := func(err error) {
		var ccf *types.ConditionalCheckFailedException
		var tce *types.TransactionCanceledException
		if !errors.As(err, &ccf) && !errors.As(err, &tce) {
			t.Errorf("want a failed condition or a cancelled transaction, got %v", err)
		}
	}
	ok := func(err error) {
		if err != nil {
			t.Errorf("write failed: %v", err)
		}
	}
	existing := item("a", 1, map[string]types.AttributeValue{"v": n("1"), "w": s("x"), "ss": &types.AttributeValueMemberSS{Value: []string{"p", "q"}}})
	update := func(f *fixture, expr string, values map[string]types.AttributeValue, condition *string) error {
		_, err := f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(tbl), Key: key("a", 1),
			UpdateExpression: aws.String(expr), ExpressionAttributeValues: values, ConditionExpression: condition})
		return err
	}
	cases := map[string]func(f *fixture){
		"put of the same item": func(f *fixture) {
			_, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl), Item: existing})
			ok(err)
		},
		"update to the same value": func(f *fixture) {
			ok(update(f, "SET v = :v", map[string]types.AttributeValue{":v": n("1")}, nil))
		},
		"put of the same number spelled otherwise": func(f *fixture) {
			_, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl),
				Item: item("a", 1, map[string]types.AttributeValue{"v": n("1.0"), "w": s("x"), "ss": existing["ss"]})})
			ok(err)
		},
		"put of the same set in another order": func(f *fixture) {
			_, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl),
				Item: item("a", 1, map[string]types.AttributeValue{"v": n("1"), "w": s("x"), "ss": &types.AttributeValueMemberSS{Value: []string{"q", "p"}}})})
			ok(err)
		},
		"update removing a missing attribute": func(f *fixture) {
			ok(update(f, "REMOVE nothere", nil, nil))
		},
		"delete of a missing item": func(f *fixture) {
			_, err := f.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tbl), Key: key("zz", 9)})
			ok(err)
		},
		"put with a failed condition": func(f *fixture) {
			_, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl),
				Item: item("a", 1, nil), ConditionExpression: aws.String("attribute_not_exists(pk)")})
			cond(err)
		},
		"update with a failed condition": func(f *fixture) {
			cond(update(f, "SET v = :v", map[string]types.AttributeValue{":v": n("2")}, aws.String("v = :v")))
		},
		"delete with a failed condition": func(f *fixture) {
			_, err := f.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tbl), Key: key("a", 1),
				ConditionExpression: aws.String("attribute_not_exists(v)")})
			cond(err)
		},
		"cancelled transaction": func(f *fixture) {
			_, err := f.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Put: &types.Put{TableName: aws.String(tbl), Item: item("new", 1, nil)}},
				{Delete: &types.Delete{TableName: aws.String(tbl), Key: key("a", 1), ConditionExpression: aws.String("v = :two"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":two": n("2")}}},
			}})
			cond(err)
		},
		"batch delete of a missing item": func(f *fixture) {
			_, err := f.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
				tbl: {{DeleteRequest: &types.DeleteRequest{Key: key("zz", 9)}}},
			}})
			ok(err)
		},
	}
	for name, write := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, stream.Options{KeepAll: true})
			f.put(t, existing)
			before := f.get(t, tbl, key("a", 1))
			write(f)
			sameNames(t, f.Layer.Records(tbl), "INSERT a/1")
			// minidyn keeps a number as spelled, where DynamoDB keeps its value.
			if after := f.get(t, tbl, key("a", 1)); !equalJSON(after, before) && !strings.Contains(name, "otherwise") {
				t.Errorf("the item changed: %v → %v", before, after)
			}
		})
	}
}

func TestConcurrentWriters_RecordsFollowEachItemsChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{KeepAll: true})
	const writers, writes, items = 8, 25, 4
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				_, err := f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName: aws.String(tbl), Key: key(fmt.Sprintf("k%d", (w+i)%items), 1),
					UpdateExpression: aws.String("ADD c :one SET writer = :w"),
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":one": n("1"), ":w": s(fmt.Sprintf("writer %d write %d", w, i)),
					},
				})
				if err != nil {
					t.Errorf("update: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	recs := f.Layer.Records(tbl)
	if len(recs) != writers*writes {
		t.Fatalf("%d records, want %d", len(recs), writers*writes)
	}
	byItem := map[string][]int{}
	for i, r := range recs {
		byItem[r.Change.Keys["pk"].String()] = append(byItem[r.Change.Keys["pk"].String()], i)
	}
	for pk, idx := range byItem {
		for j, i := range idx {
			r := recs[i]
			if c := r.Change.NewImage["c"].Number(); c != fmt.Sprint(j+1) {
				t.Errorf("%s: record %d has c=%s, want %d: records out of the item's order", pk, j, c, j+1)
			}
			switch {
			case j == 0 && (r.EventName != "INSERT" || r.Change.OldImage != nil):
				t.Errorf("%s: first record %s with old image %v, want an INSERT", pk, r.EventName, r.Change.OldImage)
			case j > 0 && !equalJSON(r.Change.OldImage, recs[idx[j-1]].Change.NewImage):
				t.Errorf("%s: record %d's old image is not record %d's new image", pk, j, j-1)
			}
		}
		if got := f.get(t, tbl, key(pk, 1)); !equalJSON(got, recs[idx[len(idx)-1]].Change.NewImage) {
			t.Errorf("%s: the last new image is not the item", pk)
		}
	}
}

func TestRawWritesToThePort_AreStreamed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{KeepAll: true})
	for _, w := range []struct{ op, body string }{
		{"PutItem", `{"TableName":"items","Item":{"pk":{"S":"r"},"sk":{"N":"1"},"v":{"S":"one"}}}`},
		{"UpdateItem", `{"TableName":"items","Key":{"pk":{"S":"r"},"sk":{"N":"1"}},"UpdateExpression":"SET v = :v","ExpressionAttributeValues":{":v":{"S":"two"}}}`},
		{"DeleteItem", `{"TableName":"items","Key":{"pk":{"S":"r"},"sk":{"N":"1"}}}`},
	} {
		if code := raw(t, f.URL, w.op, w.body); code != 200 {
			t.Fatalf("%s answered %d", w.op, code)
		}
	}
	recs := f.Layer.Records(tbl)
	sameNames(t, recs, "INSERT r/1", "MODIFY r/1", "REMOVE r/1")
	if len(recs) == 3 && recs[1].Change.NewImage["v"].String() != "two" {
		t.Errorf("MODIFY's new image %v", recs[1].Change.NewImage)
	}
}

func TestTablesOption_StreamsOnlyTheNamedTables(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{KeepAll: true, Tables: []string{tbl}})
	f.createTable(t, "other")
	f.put(t, item("a", 1, nil))
	if _, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("other"), Item: item("o", 1, nil)}); err != nil {
		t.Fatal(err)
	}
	sameNames(t, f.Layer.Records(""), "INSERT a/1")
}

func TestRecreatedTable_GetsANewStreamAndItsNewKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{KeepAll: true})
	f.put(t, item("a", 1, nil))
	if _, err := f.db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(tbl)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // a stream label has millisecond precision
	_, err := f.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(tbl),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl),
		Item: map[string]types.AttributeValue{"id": s("x"), "pk": s("not a key now")}}); err != nil {
		t.Fatal(err)
	}
	recs := f.Layer.Records(tbl)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	if keys := recs[1].Change.Keys; len(keys) != 1 || keys["id"].String() != "x" {
		t.Errorf("Keys %v, want the new table's key", keys)
	}
	if recs[0].EventSourceArn == recs[1].EventSourceArn {
		t.Errorf("the new table kept the old stream %s", recs[0].EventSourceArn)
	}
}
