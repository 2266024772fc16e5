package app_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/pkg/app"
)

func fromMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig_DefaultsAndValues(t *testing.T) {
	t.Parallel()
	cfg, err := app.LoadConfig(fromMap(map[string]string{"TABLE_NAME": "t", "AWS_REGION": "eu-north-1"}))
	if err != nil {
		t.Fatalf("minimal configuration: %v", err)
	}
	if cfg.OrgIDClaim != "org_id" || cfg.DeletedRetention != 365*24*time.Hour || cfg.LogLevel != slog.LevelInfo || cfg.FileURLAllowedHosts != nil {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = app.LoadConfig(fromMap(map[string]string{
		"TABLE_NAME": "t", "AWS_REGION": "eu-north-1", "ORG_ID_CLAIM": "custom:org",
		"FILE_URL_ALLOWED_HOSTS": " storage.example.no, ,files.bufdir.no ", "DELETED_RETENTION_DAYS": "30", "LOG_LEVEL": "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OrgIDClaim != "custom:org" || cfg.DeletedRetention != 30*24*time.Hour || cfg.LogLevel != slog.LevelDebug ||
		strings.Join(cfg.FileURLAllowedHosts, "|") != "storage.example.no|files.bufdir.no" {
		t.Errorf("values: %+v", cfg)
	}
}

func TestLoadConfig_ReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := app.LoadConfig(fromMap(map[string]string{"DELETED_RETENTION_DAYS": "a year", "LOG_LEVEL": "loud"}))
	if err == nil {
		t.Fatal("missing and malformed settings were accepted")
	}
	for _, want := range []string{"TABLE_NAME is required", "AWS_REGION is required", "DELETED_RETENTION_DAYS", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
