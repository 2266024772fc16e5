package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	dev := func(c *Config) {
		c.JWTIssuer = "https://login.example.no/realms/bufdir"
		c.JWTAudience = []string{"export-audit"}
	}
	prod := func(c *Config) {
		dev(c)
		c.Stage = "prod"
		c.FileURLAllowedHosts = "storage.example.no"
	}
	both := func(changes ...func(*Config)) func(*Config) {
		return func(c *Config) {
			for _, f := range changes {
				f(c)
			}
		}
	}
	cases := []struct {
		name    string
		change  func(*Config)
		wantErr string // "" for valid
	}{
		{"dev with an issuer and an audience is valid", dev, ""},
		{"dev may allow a file_url on any host", both(dev, func(c *Config) { c.FileURLAllowedHosts = "" }), ""},
		{"prod with an issuer, an audience and file hosts is valid", prod, ""},
		{"dev without issuer and audience names both keys", func(*Config) {}, "jwtIssuer (the https issuer, iss, of the tokens, e.g. -c jwtIssuer=https://login.example.no/realms/bufdir) and jwtAudience"},
		{"dev without an issuer", both(dev, func(c *Config) { c.JWTIssuer = "" }), "set context jwtIssuer"},
		{"dev without an audience", both(dev, func(c *Config) { c.JWTAudience = nil }), "set context jwtAudience"},
		{"dev with the placeholder issuer", both(dev, func(c *Config) { c.JWTIssuer = PlaceholderJWTIssuer }), "jwtIssuer"},
		{"dev with the placeholder audience", both(dev, func(c *Config) { c.JWTAudience = []string{"a", PlaceholderJWTAudience} }), "jwtAudience"},
		{"issuer on a documentation domain", both(dev, func(c *Config) { c.JWTIssuer = "https://login.example.com/realms/x" }), "placeholder"},
		{"issuer on a .test domain", both(dev, func(c *Config) { c.JWTIssuer = "https://idp.bufdir.test/" }), "placeholder"},
		{"issuer without a host", both(dev, func(c *Config) { c.JWTIssuer = "https:///realms/x" }), "jwtIssuer"},
		{"prod without file hosts", both(prod, func(c *Config) { c.FileURLAllowedHosts = "" }), "fileUrlAllowedHosts"},
		{"prod with blank file hosts", both(prod, func(c *Config) { c.FileURLAllowedHosts = " , " }), "fileUrlAllowedHosts"},
		{"a file host given as a URL", both(dev, func(c *Config) { c.FileURLAllowedHosts = "https://storage.example.no" }), "fileUrlAllowedHosts"},
		{"stage with capitals", func(c *Config) { c.Stage = "Prod" }, "stage"},
		{"stage too long for resource names", func(c *Config) { c.Stage = strings.Repeat("a", 21) }, "stage"},
		{"no asset root", func(c *Config) { c.AssetRoot = "" }, "assetRoot"},
		{"no org claim", func(c *Config) { c.OrgIDClaim = "" }, "orgIdClaim"},
		{"retention of zero days", func(c *Config) { c.DeletedRetentionDays = 0 }, "deletedRetentionDays"},
		{"unknown log level", func(c *Config) { c.LogLevel = "verbose" }, "logLevel"},
		{"issuer over http", both(dev, func(c *Config) { c.JWTIssuer = "http://login.example.no" }), "jwtIssuer"},
		{"prod with the placeholder issuer", both(prod, func(c *Config) { c.JWTIssuer = PlaceholderJWTIssuer }), "jwtIssuer"},
		{"prod with the placeholder audience", both(prod, func(c *Config) { c.JWTAudience = []string{PlaceholderJWTAudience} }), "jwtAudience"},
		{"CORS for any origin", both(dev, func(c *Config) { c.CORSOrigins = []string{"*"} }), "corsOrigins"},
		{"an alarm e-mail address is valid", both(dev, func(c *Config) { c.AlarmEmail = "drift@bufdir.example.no" }), ""},
		{"alarm e-mail without a domain", both(dev, func(c *Config) { c.AlarmEmail = "drift" }), "alarmEmail"},
		{"two alarm e-mail addresses", both(dev, func(c *Config) { c.AlarmEmail = "a@example.no,b@example.no" }), "alarmEmail"},
		{"alarm e-mail with a space", both(dev, func(c *Config) { c.AlarmEmail = "drift @example.no" }), "alarmEmail"},
		{"an archive kept for ever", both(dev, func(c *Config) { c.EventArchiveRetentionDays = 0 }), ""},
		{"an archive retention below zero", both(dev, func(c *Config) { c.EventArchiveRetentionDays = -1 }), "eventArchiveRetentionDays"},
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
	full.EventArchiveRetentionDays = 90
	devWithJWT := DefaultConfig()
	devWithJWT.JWTIssuer = testJWTIssuer
	devWithJWT.JWTAudience = []string{testJWTAudience}

	cases := []struct {
		name    string
		context map[string]interface{}
		want    Config
		wantErr string
	}{
		{"nothing set is refused, naming the JWT keys", nil, Config{}, "set context jwtIssuer (the https issuer"},
		{"the JWT keys alone give the dev defaults", map[string]interface{}{
			"jwtIssuer": testJWTIssuer, "jwtAudience": testJWTAudience,
		}, devWithJWT, ""},
		{"every key as -c strings", map[string]interface{}{
			"stage": "test", "assetRoot": "/tmp/assets", "orgIdClaim": "tenant",
			"fileUrlAllowedHosts": "storage.example.no,files.example.no", "deletedRetentionDays": "30",
			"logLevel": "debug", "jwtIssuer": "https://login.example.no/realms/bufdir",
			"jwtAudience": "export-audit, export-audit-web",
			"corsOrigins": "https://admin.example.no,https://admin-test.example.no",
			"alarmEmail":  "drift@example.no", "eventArchiveRetentionDays": "90",
		}, full, ""},
		{"cdk.json numbers and lists", map[string]interface{}{
			"stage": "test", "assetRoot": "/tmp/assets", "orgIdClaim": "tenant",
			"fileUrlAllowedHosts": []interface{}{"storage.example.no", "files.example.no"}, "deletedRetentionDays": 30,
			"logLevel": "debug", "jwtIssuer": "https://login.example.no/realms/bufdir",
			"jwtAudience": []interface{}{"export-audit", "export-audit-web"},
			"corsOrigins": []interface{}{"https://admin.example.no", "https://admin-test.example.no"},
			"alarmEmail":  "drift@example.no", "eventArchiveRetentionDays": 90,
		}, full, ""},
		{"retention that is not a number", map[string]interface{}{"deletedRetentionDays": "a year"}, Config{}, "deletedRetentionDays"},
		{"archive retention that is not a number", map[string]interface{}{"eventArchiveRetentionDays": "forever"}, Config{}, "eventArchiveRetentionDays"},
		{"prod without a real issuer", map[string]interface{}{"stage": "prod", "jwtAudience": "export-audit", "fileUrlAllowedHosts": "storage.example.no"}, Config{}, "jwtIssuer"},
		{"prod without file hosts", map[string]interface{}{"stage": "prod", "jwtIssuer": testJWTIssuer, "jwtAudience": testJWTAudience}, Config{}, "fileUrlAllowedHosts"},
		{"alarm e-mail that is not one", map[string]interface{}{"alarmEmail": "ops team", "jwtIssuer": testJWTIssuer, "jwtAudience": testJWTAudience}, Config{}, "alarmEmail"},
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
	if got := config.FunctionNames(); !reflect.DeepEqual(got, []string{"list-records", "get-record", "create-record", "update-status",
		"attach-file-url", "delete-record", "publish-events", "archive-changes", "seal-digest"}) {
		t.Errorf("config.FunctionNames() = %v", got)
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
