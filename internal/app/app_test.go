package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/internal/app/archiver"
	"github.com/bufdir/export-audit/internal/app/publisher"
	"github.com/bufdir/export-audit/internal/app/sealer"
	"github.com/bufdir/export-audit/internal/testkit"
)

// Secrets the environment of a container holds, which no log line may show.
const (
	secretKey    = "secret-key-must-not-be-logged"
	sessionToken = "session-token-must-not-be-logged"
	jwtSecret    = "jwt-secret-must-not-be-logged"
)

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
	_, err := app.Load(context.Background(), testkit.Env(map[string]string{
		"TABLE_NAME": "audit", "AWS_REGION": "eu-north-1", "STAGE": "prod", "ORG_ID_CLAIM": "custom:org",
		"FILE_URL_ALLOWED_HOSTS": "storage.example.no", "DELETED_RETENTION_DAYS": "30",
		"LOG_LEVEL": "debug", "LOCAL_JWT_SECRET": jwtSecret,
		"AWS_SECRET_ACCESS_KEY": secretKey, "AWS_SESSION_TOKEN": sessionToken,
	}), &out)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	lines := testkit.JSONLines(t, out.Bytes())
	if len(lines) != 1 {
		t.Fatalf("want one start-up line, got %d: %s", len(lines), out.Bytes())
	}
	l := lines[0]
	want := map[string]any{
		"msg": "init", "level": "INFO", "stage": "prod", "table": "audit", "region": "eu-north-1",
		"dynamodb_endpoint": "", "org_id_claim": "custom:org", "file_url_allowed_hosts": "storage.example.no",
		"deleted_retention_days": json.Number("30"), "log_level": "DEBUG",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("want %s = %v in the init line, got %v", k, v, l[k])
		}
	}
	n, _ := l["init_ms"].(json.Number)
	if ms, err := n.Float64(); err != nil || ms < 0 {
		t.Errorf("want init_ms a number of milliseconds, got %#v", l["init_ms"])
	}
	wantNoSecret(t, out.Bytes())
}

// start is a root's Load that keeps only whether the function started.
type start func(ctx context.Context, getenv func(string) string, w io.Writer) error

func started[T any](load func(context.Context, func(string) string, io.Writer) (T, error)) start {
	return func(ctx context.Context, getenv func(string) string, w io.Writer) error {
		_, err := load(ctx, getenv, w)
		return err
	}
}

// Every function's root refuses to start without its own settings, with one ERROR line
// naming them: another function's settings are not enough.
func TestLoad_MissingSettingsLogOneErrorLine(t *testing.T) {
	t.Parallel()
	routes := map[string]string{"TABLE_NAME": "audit", "AWS_REGION": "eu-north-1", "STAGE": "dev"}
	writer := map[string]string{"AWS_REGION": "eu-north-1", "STAGE": "dev", "ARCHIVE_BUCKET": "b", "SEAL_INTERVAL": "1h"}
	for _, tc := range []struct {
		name    string
		load    start
		env     map[string]string
		missing []string
	}{
		{"routes", started(app.Load), map[string]string{"LOG_LEVEL": "error"}, []string{"TABLE_NAME", "AWS_REGION"}},
		{"publish-events with the routes' settings", started(publisher.Load), routes, []string{"EVENT_BUS_NAME"}},
		{"archive-changes with the routes' settings", started(archiver.Load), routes, []string{"ARCHIVE_BUCKET", "SEAL_INTERVAL"}},
		{"seal-digest with the writer's settings", started(sealer.Load), writer, []string{"ARCHIVE_KMS_KEY_ID", "SEAL_GRACE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out testkit.Buffer
			err := tc.load(context.Background(), testkit.Env(tc.env), &out)
			testkit.WantRefusedStart(t, err, out.Bytes(), tc.missing...)
		})
	}
}

func TestLoad_LogLevelSetsTheLevel(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := app.Load(context.Background(), testkit.Env(map[string]string{
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
