package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bufdir/export-audit/internal/app"
)

// Secrets the environment of a container holds, which no log line may show.
const (
	secretKey    = "secret-key-must-not-be-logged"
	sessionToken = "session-token-must-not-be-logged"
	jwtSecret    = "jwt-secret-must-not-be-logged"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// logLines decodes every line of out as a JSON object.
func logLines(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("want every line a JSON object, got %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func wantNoSecret(t *testing.T, out []byte) {
	t.Helper()
	for _, s := range []string{secretKey, sessionToken, jwtSecret} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("want no secret in the log, found %q in %s", s, out)
		}
	}
}

func TestLoad_LogsOneInitLineWithTheConfigurationAndNoSecret(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	t.Setenv("AWS_SESSION_TOKEN", sessionToken)
	var out bytes.Buffer
	_, err := app.Load(context.Background(), env(map[string]string{
		"TABLE_NAME": "audit", "AWS_REGION": "eu-north-1", "STAGE": "prod", "ORG_ID_CLAIM": "custom:org",
		"FILE_URL_ALLOWED_HOSTS": "storage.example.no", "DELETED_RETENTION_DAYS": "30",
		"LOG_LEVEL": "debug", "LOCAL_JWT_SECRET": jwtSecret,
		"AWS_SECRET_ACCESS_KEY": secretKey, "AWS_SESSION_TOKEN": sessionToken,
	}), &out)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	lines := logLines(t, out.Bytes())
	if len(lines) != 1 {
		t.Fatalf("want one start-up line, got %d: %s", len(lines), out.Bytes())
	}
	l := lines[0]
	want := map[string]any{
		"msg": "init", "level": "INFO", "stage": "prod", "table": "audit", "region": "eu-north-1",
		"dynamodb_endpoint": "", "org_id_claim": "custom:org", "file_url_allowed_hosts": "storage.example.no",
		"deleted_retention_days": 30.0, "log_level": "DEBUG",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("want %s = %v in the init line, got %v", k, v, l[k])
		}
	}
	if ms, ok := l["init_ms"].(float64); !ok || ms < 0 {
		t.Errorf("want init_ms a number of milliseconds, got %#v", l["init_ms"])
	}
	wantNoSecret(t, out.Bytes())
}

func TestLoad_MissingSettingLogsOneErrorLine(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := app.Load(context.Background(), env(map[string]string{"LOG_LEVEL": "error"}), &out)
	if err == nil {
		t.Fatal("want an error without TABLE_NAME and AWS_REGION")
	}
	lines := logLines(t, out.Bytes())
	if len(lines) != 1 || lines[0]["level"] != "ERROR" {
		t.Fatalf("want one ERROR line, got %s", out.Bytes())
	}
	if e, _ := lines[0]["error"].(string); !strings.Contains(e, "TABLE_NAME") || !strings.Contains(e, "AWS_REGION") {
		t.Errorf("want the error to name both missing settings, got %q", e)
	}
}

func TestLoad_LogLevelSetsTheLevel(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := app.Load(context.Background(), env(map[string]string{
		"TABLE_NAME": "audit", "AWS_REGION": "eu-north-1", "STAGE": "dev", "DYNAMODB_ENDPOINT": "http://127.0.0.1:1",
		"LOG_LEVEL": "warn",
	}), &out)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("want no info line at LOG_LEVEL=warn, got %s", out.Bytes())
	}
}
