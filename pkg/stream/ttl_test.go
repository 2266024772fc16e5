package stream_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/stream"
)

func TestExpire_DeletesWhatDynamoDBsTTLWouldWithItsIdentity(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{KeepAll: true})
	now := time.Unix(1_800_000_000, 0)
	ttl := func(v types.AttributeValue) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"expires_at": v, "note": s("x")}
	}
	epoch := func(t time.Time) types.AttributeValue { return n(fmt.Sprint(t.Unix())) }
	f.put(t, item("past", 1, ttl(epoch(now.Add(-time.Minute)))))
	f.put(t, item("second-before", 1, ttl(n(fmt.Sprint(now.Unix()-1)))))
	f.put(t, item("at-now", 1, ttl(epoch(now))))
	f.put(t, item("future", 1, ttl(epoch(now.Add(time.Hour)))))
	f.put(t, item("no-ttl", 1, nil))
	f.put(t, item("string-ttl", 1, ttl(s(fmt.Sprint(now.Unix()-60)))))
	f.put(t, item("six-years-ago", 1, ttl(epoch(now.Add(-6*365*24*time.Hour)))))
	oldImages := map[string]map[string]events.DynamoDBAttributeValue{
		"past": f.get(t, tbl, key("past", 1)), "second-before": f.get(t, tbl, key("second-before", 1)),
	}
	start := len(f.Layer.Records(tbl))

	deleted, err := f.Layer.Expire(ctx, tbl, "expires_at", now)
	if err != nil || deleted != 2 {
		t.Fatalf("Expire = %d, %v; want 2 deleted", deleted, err)
	}
	recs := f.Layer.Records(tbl)[start:]
	got := names(recs)
	if strings.Join(got, ",") != "REMOVE past/1,REMOVE second-before/1" && strings.Join(got, ",") != "REMOVE second-before/1,REMOVE past/1" {
		t.Fatalf("records %q, want the two expired items removed", got)
	}
	for _, r := range recs {
		pk := r.Change.Keys["pk"].String()
		if r.UserIdentity == nil || *r.UserIdentity != (events.DynamoDBUserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}) {
			t.Errorf("%s: userIdentity %v, want the TTL service's", pk, r.UserIdentity)
		}
		sameImage(t, pk+" OldImage", r.Change.OldImage, oldImages[pk])
		if r.Change.NewImage != nil {
			t.Errorf("%s: a removal with a new image %v", pk, r.Change.NewImage)
		}
		b, _ := json.Marshal(r)
		if !strings.Contains(string(b), `"userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"}`) {
			t.Errorf("%s: record JSON %s lacks the TTL's userIdentity", pk, b)
		}
	}
	for _, pk := range []string{"past", "second-before"} {
		if f.get(t, tbl, key(pk, 1)) != nil {
			t.Errorf("%s is still there", pk)
		}
	}
	for _, pk := range []string{"at-now", "future", "no-ttl", "string-ttl", "six-years-ago"} {
		if f.get(t, tbl, key(pk, 1)) == nil {
			t.Errorf("%s was deleted", pk)
		}
	}
	if again, err := f.Layer.Expire(ctx, tbl, "expires_at", now); err != nil || again != 0 {
		t.Errorf("a second Expire = %d, %v; want nothing left to delete", again, err)
	}

	// A delete by anyone else names no one.
	if _, err := f.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tbl), Key: key("future", 1)}); err != nil {
		t.Fatal(err)
	}
	last := f.Layer.Records(tbl)
	if r := last[len(last)-1]; r.EventName != "REMOVE" || r.UserIdentity != nil {
		t.Errorf("a DeleteItem's record %s with userIdentity %v, want none", r.EventName, r.UserIdentity)
	}
}

func TestSweep_ExpiresItemsInTheBackground(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{KeepAll: true})
	f.put(t, item("old", 1, map[string]types.AttributeValue{"ttl": n(fmt.Sprint(time.Now().Add(-time.Hour).Unix()))}))
	f.Layer.Sweep(tbl, "ttl", 10*time.Millisecond)
	// The engine answers the sweeper's delete before the layer appends its record, so a read
	// can find the item gone a moment before the stream shows it: wait for both.
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := f.Layer.Records(tbl)
		r := recs[len(recs)-1]
		gone := f.get(t, tbl, key("old", 1)) == nil
		if gone && r.EventName == "REMOVE" {
			if r.UserIdentity == nil || r.UserIdentity.Type != "Service" {
				t.Errorf("the REMOVE is by %v, want the TTL's", r.UserIdentity)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: item gone %v, last record %s; want the sweeper's delete and its REMOVE", gone, r.EventName)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
