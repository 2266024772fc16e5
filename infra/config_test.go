package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	prod := func(c *Config) {
		c.Stage = "prod"
		c.JWTIssuer = "https://login.example.no/realms/bufdir"
		c.JWTAudience = []string{"export-audit"}
	}
	cases := []struct {
		name    string
		change  func(*Config)
		wantErr string // "" for valid
	}{
		{"dev defaults are valid", func(*Config) {}, ""},
		{"prod with a real issuer and audience is valid", prod, ""},
		{"stage with capitals", func(c *Config) { c.Stage = "Prod" }, "stage"},
		{"stage too long for resource names", func(c *Config) { c.Stage = strings.Repeat("a", 21) }, "stage"},
		{"no asset root", func(c *Config) { c.AssetRoot = "" }, "assetRoot"},
		{"no org claim", func(c *Config) { c.OrgIDClaim = "" }, "orgIdClaim"},
		{"retention of zero days", func(c *Config) { c.DeletedRetentionDays = 0 }, "deletedRetentionDays"},
		{"unknown log level", func(c *Config) { c.LogLevel = "verbose" }, "logLevel"},
		{"issuer over http", func(c *Config) { c.JWTIssuer = "http://login.example.no" }, "jwtIssuer"},
		{"no audience", func(c *Config) { c.JWTAudience = nil }, "jwtAudience"},
		{"prod with the placeholder issuer", func(c *Config) { prod(c); c.JWTIssuer = PlaceholderJWTIssuer }, "jwtIssuer"},
		{"prod with the placeholder audience", func(c *Config) { prod(c); c.JWTAudience = []string{PlaceholderJWTAudience} }, "jwtAudience"},
		{"CORS for any origin", func(c *Config) { c.CORSOrigins = []string{"*"} }, "corsOrigins"},
		{"an alarm e-mail address is valid", func(c *Config) { c.AlarmEmail = "drift@bufdir.example.no" }, ""},
		{"alarm e-mail without a domain", func(c *Config) { c.AlarmEmail = "drift" }, "alarmEmail"},
		{"two alarm e-mail addresses", func(c *Config) { c.AlarmEmail = "a@example.no,b@example.no" }, "alarmEmail"},
		{"alarm e-mail with a space", func(c *Config) { c.AlarmEmail = "drift @example.no" }, "alarmEmail"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			c.change(&cfg)
			err := cfg.Validate()
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("want valid, got %v", err)
			case c.wantErr != "" && err == nil:
				t.Errorf("want an error about %s, got none", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Errorf("want an error about %s, got %v", c.wantErr, err)
			}
		})
	}
}

func TestConfigFromContext(t *testing.T) {
	full := DefaultConfig()
	full.Stage = "test"
	full.AssetRoot = "/tmp/assets"
	full.OrgIDClaim = "tenant"
	full.FileURLAllowedHosts = "storage.example.no,files.example.no"
	full.DeletedRetentionDays = 30
	full.LogLevel = "debug"
	full.JWTIssuer = "https://login.example.no/realms/bufdir"
	full.JWTAudience = []string{"export-audit", "export-audit-web"}
	full.CORSOrigins = []string{"https://admin.example.no", "https://admin-test.example.no"}
	full.AlarmEmail = "drift@example.no"

	cases := []struct {
		name    string
		context map[string]interface{}
		want    Config
		wantErr string
	}{
		{"nothing set gives the dev defaults", nil, DefaultConfig(), ""},
		{"every key as -c strings", map[string]interface{}{
			"stage": "test", "assetRoot": "/tmp/assets", "orgIdClaim": "tenant",
			"fileUrlAllowedHosts": "storage.example.no,files.example.no", "deletedRetentionDays": "30",
			"logLevel": "debug", "jwtIssuer": "https://login.example.no/realms/bufdir",
			"jwtAudience": "export-audit, export-audit-web",
			"corsOrigins": "https://admin.example.no,https://admin-test.example.no",
			"alarmEmail":  "drift@example.no",
		}, full, ""},
		{"cdk.json numbers and lists", map[string]interface{}{
			"stage": "test", "assetRoot": "/tmp/assets", "orgIdClaim": "tenant",
			"fileUrlAllowedHosts": []interface{}{"storage.example.no", "files.example.no"}, "deletedRetentionDays": 30,
			"logLevel": "debug", "jwtIssuer": "https://login.example.no/realms/bufdir",
			"jwtAudience": []interface{}{"export-audit", "export-audit-web"},
			"corsOrigins": []interface{}{"https://admin.example.no", "https://admin-test.example.no"},
			"alarmEmail":  "drift@example.no",
		}, full, ""},
		{"retention that is not a number", map[string]interface{}{"deletedRetentionDays": "a year"}, Config{}, "deletedRetentionDays"},
		{"prod without a real issuer", map[string]interface{}{"stage": "prod"}, Config{}, "jwtIssuer"},
		{"alarm e-mail that is not one", map[string]interface{}{"alarmEmail": "ops team"}, Config{}, "alarmEmail"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := c.context
			if ctx == nil {
				ctx = map[string]interface{}{}
			}
			app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})
			got, err := ConfigFromContext(app.Node())
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error about %s, got %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromContext: %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	if got := FunctionNames(); !reflect.DeepEqual(got, []string{"list-records", "get-record", "create-record", "update-status", "attach-file-url", "delete-record"}) {
		t.Errorf("FunctionNames() = %v", got)
	}
	for in, want := range map[string]string{"list-records": "ListRecords", "attach-file-url": "AttachFileUrl", "x": "X"} {
		if got := LogicalName(in); got != want {
			t.Errorf("LogicalName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContextFlags(t *testing.T) {
	t.Parallel()
	c := contextFlags{}
	for _, arg := range []string{"stage=test", "jwtAudience=a,b", "fileUrlAllowedHosts="} {
		if err := c.Set(arg); err != nil {
			t.Errorf("Set(%q): %v", arg, err)
		}
	}
	want := contextFlags{"stage": "test", "jwtAudience": "a,b", "fileUrlAllowedHosts": ""}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %v, want %v", c, want)
	}
	for _, bad := range []string{"stage", "=test"} {
		if err := c.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted a flag without key=value", bad)
		}
	}
}
