package config_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/config"
)

// wantRefusal checks that err refuses the configuration what and names every one of wants.
func wantRefusal(t *testing.T, err error, what string, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s accepted", what)
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestLoad_DefaultsAndValues(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(testkit.Env(map[string]string{"TABLE_NAME": "t", "AWS_REGION": "eu-north-1", "STAGE": "dev"}))
	if err != nil {
		t.Fatalf("minimal configuration: %v", err)
	}
	if cfg.Stage != "dev" || cfg.OrgIDClaim != "org_id" || cfg.DeletedRetention != 365*24*time.Hour || cfg.LogLevel != slog.LevelInfo || cfg.FileURLAllowedHosts != nil {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = config.Load(testkit.Env(map[string]string{
		"TABLE_NAME": "t", "AWS_REGION": "eu-north-1", "STAGE": " prod ", "ORG_ID_CLAIM": "custom:org",
		"FILE_URL_ALLOWED_HOSTS": " storage.example.no, ,files.bufdir.no ", "DELETED_RETENTION_DAYS": "30", "LOG_LEVEL": "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stage != "prod" || cfg.OrgIDClaim != "custom:org" || cfg.DeletedRetention != 30*24*time.Hour || cfg.LogLevel != slog.LevelDebug ||
		strings.Join(cfg.FileURLAllowedHosts, "|") != "storage.example.no|files.bufdir.no" {
		t.Errorf("values: %+v", cfg)
	}
}

func TestLoad_ReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := config.Load(testkit.Env(map[string]string{"DELETED_RETENTION_DAYS": "a year", "LOG_LEVEL": "loud"}))
	wantRefusal(t, err, "missing and malformed settings", "TABLE_NAME is required", "AWS_REGION is required", "STAGE is required", "DELETED_RETENTION_DAYS", "LOG_LEVEL")
}

// Under sam local, `!Ref AuditTable` reaches the function as the logical id; without
// TableNameOverride every call would end in a 500 from ResourceNotFound, so init refuses it and
// says what to pass.
func TestLoad_SAMLocalWithoutTableNameOverride(t *testing.T) {
	t.Parallel()
	base := map[string]string{"TABLE_NAME": "AuditTable", "AWS_REGION": "eu-north-1", "STAGE": "local"}
	sam := map[string]string{"AWS_SAM_LOCAL": "true"}
	for k, v := range base {
		sam[k] = v
	}
	_, err := config.Load(testkit.Env(sam))
	wantRefusal(t, err, "sam local with TABLE_NAME=AuditTable", "TABLE_NAME", "AuditTable", "TableNameOverride", "DynamoDbEndpoint", "bufdir-export-audit-local")
	// Outside sam local a table may well be called AuditTable.
	if _, err := config.Load(testkit.Env(base)); err != nil {
		t.Errorf("TABLE_NAME=AuditTable outside sam local: %v", err)
	}
	sam["TABLE_NAME"] = "bufdir-export-audit-local"
	if _, err := config.Load(testkit.Env(sam)); err != nil {
		t.Errorf("sam local with TableNameOverride: %v", err)
	}
}

func TestLoadPublisher_NeedsTheBusNotTheTable(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadPublisher(testkit.Env(map[string]string{
		"EVENT_BUS_NAME": " bufdir-export-audit-dev ", "AWS_REGION": "eu-north-1", "STAGE": "dev",
		"EVENTBRIDGE_ENDPOINT": "http://127.0.0.1:4010", "LOG_LEVEL": "warn",
	}))
	if err != nil {
		t.Fatalf("publisher configuration: %v", err)
	}
	if cfg.EventBusName != "bufdir-export-audit-dev" || cfg.Stage != "dev" || cfg.Region != "eu-north-1" ||
		cfg.EventBridgeEndpoint != "http://127.0.0.1:4010" || cfg.LogLevel != slog.LevelWarn {
		t.Errorf("values: %+v", cfg)
	}
	_, err = config.LoadPublisher(testkit.Env(map[string]string{"TABLE_NAME": "t", "LOG_LEVEL": "loud"}))
	wantRefusal(t, err, "missing and malformed settings", "EVENT_BUS_NAME is required", "AWS_REGION is required", "STAGE is required", "LOG_LEVEL")
}

func TestLoadPublisher_SAMLocalWithoutEventBusNameOverride(t *testing.T) {
	t.Parallel()
	env := map[string]string{"EVENT_BUS_NAME": "EventBus", "AWS_REGION": "eu-north-1", "STAGE": "local", "AWS_SAM_LOCAL": "true"}
	_, err := config.LoadPublisher(testkit.Env(env))
	wantRefusal(t, err, "sam local with EVENT_BUS_NAME=EventBus", "EventBusNameOverride", "bufdir-export-audit-local")
	env["EVENT_BUS_NAME"] = "bufdir-export-audit-local"
	if _, err := config.LoadPublisher(testkit.Env(env)); err != nil {
		t.Errorf("sam local with EventBusNameOverride: %v", err)
	}
}

func TestLoadArchive_EachFunctionItsOwnSettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"STAGE": "dev", "AWS_REGION": "eu-north-1", "ARCHIVE_BUCKET": " archive-bucket ", "SEAL_INTERVAL": "1h",
		"SEAL_GRACE": "15m", "ARCHIVE_KMS_KEY_ID": "arn:aws:kms:eu-north-1:111122223333:key/k", "LOG_LEVEL": "warn",
		"S3_ENDPOINT": "http://127.0.0.1:9000", "KMS_ENDPOINT": "http://127.0.0.1:4599",
	}
	w, err := config.LoadArchiveChanges(testkit.Env(env))
	if err != nil {
		t.Fatalf("archive-changes: %v", err)
	}
	if w.Bucket != "archive-bucket" || w.SealInterval != time.Hour || w.Stage != "dev" || w.Region != "eu-north-1" ||
		w.LogLevel != slog.LevelWarn || w.S3Endpoint != "http://127.0.0.1:9000" {
		t.Errorf("archive-changes: %+v", w)
	}
	// The writer has no key and no grace, whatever the environment holds.
	if w.KMSKeyID != "" || w.SealGrace != 0 || w.KMSEndpoint != "" {
		t.Errorf("archive-changes read the sealer's settings: %+v", w)
	}
	s, err := config.LoadSealDigest(testkit.Env(env))
	if err != nil {
		t.Fatalf("seal-digest: %v", err)
	}
	if s.KMSKeyID != env["ARCHIVE_KMS_KEY_ID"] || s.SealGrace != 15*time.Minute || s.KMSEndpoint != "http://127.0.0.1:4599" || s.SealInterval != time.Hour {
		t.Errorf("seal-digest: %+v", s)
	}
	// The writer needs no key: its environment (config.ArchiveChangesEnv) has none.
	delete(env, "ARCHIVE_KMS_KEY_ID")
	delete(env, "SEAL_GRACE")
	if _, err := config.LoadArchiveChanges(testkit.Env(env)); err != nil {
		t.Errorf("archive-changes without the sealer's settings: %v", err)
	}
}

func TestLoadArchive_ReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := config.LoadSealDigest(testkit.Env(map[string]string{"TABLE_NAME": "t", "LOG_LEVEL": "loud", "SEAL_GRACE": "soon"}))
	wantRefusal(t, err, "missing and malformed settings", "STAGE is required", "AWS_REGION is required", "ARCHIVE_BUCKET is required",
		"SEAL_INTERVAL is required", "ARCHIVE_KMS_KEY_ID is required", "SEAL_GRACE must be", "LOG_LEVEL")
	// A period is named to the second, so the interval must be whole seconds.
	for _, bad := range []string{"90m30.5s", "0s", "-1h", "hourly"} {
		_, err := config.LoadArchiveChanges(testkit.Env(map[string]string{"STAGE": "dev", "AWS_REGION": "eu-north-1", "ARCHIVE_BUCKET": "b", "SEAL_INTERVAL": bad}))
		if err == nil || !strings.Contains(err.Error(), "SEAL_INTERVAL must be") {
			t.Errorf("SEAL_INTERVAL=%s: %v, want it refused", bad, err)
		}
	}
}

func TestLoadLocalArchive_DefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	a, err := config.LoadLocalArchive(testkit.Env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := (config.LocalArchive{Dir: ".local/archive", KeyFile: ".local/archive-key.pem", SealInterval: time.Minute, SealGrace: 5 * time.Second}); a != want {
		t.Errorf("defaults: %+v, want %+v", a, want)
	}
	a, err = config.LoadLocalArchive(testkit.Env(map[string]string{"ARCHIVE_DIR": "/tmp/a", "ARCHIVE_KEY_FILE": "/tmp/k.pem", "SEAL_INTERVAL": "1s", "SEAL_GRACE": "0s"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (config.LocalArchive{Dir: "/tmp/a", KeyFile: "/tmp/k.pem", SealInterval: time.Second}); a != want {
		t.Errorf("overrides: %+v, want %+v", a, want)
	}
	_, err = config.LoadLocalArchive(testkit.Env(map[string]string{"SEAL_INTERVAL": "1.5s", "SEAL_GRACE": "soon"}))
	wantRefusal(t, err, "malformed durations", "SEAL_INTERVAL must be", "SEAL_GRACE must be")
}

func TestFunctions_RoutesThenTheArchive(t *testing.T) {
	t.Parallel()
	want := []string{"list-records", "get-record", "create-record", "update-status", "attach-file-url", "delete-record"}
	if got := config.RouteFunctionNames(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("RouteFunctionNames() = %v, want %v", got, want)
	}
	names := config.FunctionNames()
	for _, fn := range []string{"archive-changes", "seal-digest"} {
		if !slices.Contains(names, fn) || slices.Contains(config.RouteFunctionNames(), fn) {
			t.Errorf("%s: want it among the functions and behind no route; functions %v", fn, names)
		}
	}
}
