package main

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/internal/app/archiver"
	"github.com/bufdir/export-audit/internal/app/sealer"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/config"
)

// startRig starts the archive's rig from the module root, where the bench runs and events/ is,
// with the functions' environment as the cold starts give it.
func startRig(t *testing.T, bucket string) (*archiveRig, func(string) string) {
	t.Chdir("../..")
	a, err := startArchiveRig(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	vars := map[string]string{config.EnvRegion: testkit.Region, config.EnvStage: config.LocalStage,
		"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
	for _, kv := range a.env(bucket) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	return a, func(k string) string { return vars[k] }
}

// Each of seal-digest's invokes must do an hourly run's work, no less on the second: the
// function's own sealer, as its root builds it, finds exactly one period due after each unseal,
// and the check finds its digest.
func TestArchiveRig_EachSealInvokeSealsOnePeriod(t *testing.T) {
	ctx := context.Background()
	a, getenv := startRig(t, sealBucket)
	s, err := sealer.Load(ctx, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	invs, err := a.sealInvocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k, inv := range invs {
		if err := inv.prepare(ctx); err != nil {
			t.Fatalf("invoke %d: prepare: %v", k+1, err)
		}
		if _, err := inv.check([]byte("null")); err == nil {
			t.Fatalf("invoke %d: the check passed before anything sealed the due period", k+1)
		}
		written, err := s.Seal(ctx)
		if want := []string{archive.DigestKey(a.due)}; err != nil || !slices.Equal(written, want) {
			t.Fatalf("invoke %d: sealed %v (%v), want %v", k+1, written, err, want)
		}
		if _, err := inv.check([]byte("null")); err != nil {
			t.Errorf("invoke %d: %v", k+1, err)
		}
	}
}

// Each of archive-changes' invokes must write a change object of its own, and the check must
// tell a redelivery, which writes nothing, from a new batch.
func TestArchiveRig_EachArchiveInvokeWritesAnObject(t *testing.T) {
	ctx := context.Background()
	a, getenv := startRig(t, changesBucket)
	w, err := archiver.Load(ctx, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	invs, err := a.archiveInvocations(ctx, 0, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	handle := func(inv invocation) error {
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(inv.event, &ev); err != nil {
			return err
		}
		resp, err := w.Handle(ctx, ev)
		if err != nil {
			return err
		}
		out, err := json.Marshal(resp)
		if err != nil {
			return err
		}
		_, err = inv.check(out)
		return err
	}
	for k, inv := range invs {
		if err := handle(inv); err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	if err := handle(invs[0]); err == nil {
		t.Error("a redelivery of batch 0 passed the check, want it refused: it writes no object")
	}
}
