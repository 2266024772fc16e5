// Package config holds the names and settings that more than one part of the service reads:
// the configuration from the environment, the route table and the functions behind it, and the
// names of the metrics the alarms and the dashboard read. It imports only the standard library,
// so that a module that needs a name (the CDK app in infra/) compiles nothing else of the
// service.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Config is the service's configuration, read from the environment.
type Config struct {
	// Stage is the deployment's stage (dev, prod, local...): the Stage dimension of every
	// metric, so that each stage's alarms and dashboard read only its own. A Config built in
	// code rather than by Load (tests, the bench) may leave it empty; its metrics then carry
	// LocalStage.
	Stage               string
	TableName           string
	Region              string
	DynamoDBEndpoint    string // empty in AWS
	OrgIDClaim          string
	FileURLAllowedHosts []string
	DeletedRetention    time.Duration
	LogLevel            slog.Level
}

// Load reads the configuration through getenv (os.Getenv outside tests) and reports every
// missing or malformed setting at once.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		TableName:        strings.TrimSpace(getenv(EnvTableName)),
		Region:           strings.TrimSpace(getenv(EnvRegion)),
		DynamoDBEndpoint: strings.TrimSpace(getenv(EnvDynamoDBEndpoint)),
		OrgIDClaim:       strings.TrimSpace(getenv(EnvOrgIDClaim)),
		Stage:            strings.TrimSpace(getenv(EnvStage)),
		DeletedRetention: 365 * 24 * time.Hour,
	}
	var errs []error
	if c.TableName == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvTableName))
	} else if c.TableName == SAMTableLogicalID && getenv(EnvSAMLocal) == "true" {
		// sam local hands a function the logical id for `!Ref AuditTable`; failing here names
		// the fix, where the first call would end in a 500 from ResourceNotFound.
		errs = append(errs, fmt.Errorf("%s is %q, the logical id that sam local passes for !Ref %s, not a table: "+
			"run sam local with --parameter-overrides TableNameOverride=<table> DynamoDbEndpoint=<engine> "+
			"(make run's table is bufdir-export-audit-local; see the README, Local development with AWS SAM)",
			EnvTableName, c.TableName, SAMTableLogicalID))
	}
	errs = append(errs, checkCommon(c.Stage, c.Region, getenv, &c.LogLevel)...)
	if c.OrgIDClaim == "" {
		c.OrgIDClaim = "org_id"
	}
	for _, h := range strings.Split(getenv(EnvFileURLAllowedHosts), ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.FileURLAllowedHosts = append(c.FileURLAllowedHosts, h)
		}
	}
	if v := strings.TrimSpace(getenv(EnvDeletedRetentionDays)); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days < 1 || days > 36500 {
			errs = append(errs, fmt.Errorf("%s must be a whole number of days from 1 to 36500, not %q", EnvDeletedRetentionDays, v))
		} else {
			c.DeletedRetention = time.Duration(days) * 24 * time.Hour
		}
	}
	return c, errors.Join(errs...)
}

// checkCommon checks what every function reads (its stage and region) and reads LOG_LEVEL into
// level.
func checkCommon(stage, region string, getenv func(string) string, level *slog.Level) []error {
	var errs []error
	if stage == "" {
		errs = append(errs, fmt.Errorf("%s is required (the deployment's stage, which every metric carries)", EnvStage))
	}
	if region == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvRegion))
	}
	if v := strings.TrimSpace(getenv(EnvLogLevel)); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s must be debug, info, warn or error, not %q", EnvLogLevel, v))
		}
	}
	return errs
}

// Level is the configured log level.
func (c Config) Level() slog.Level { return c.LogLevel }

// Attrs describes the configuration for the start-up log line; it holds no secret.
func (c Config) Attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("stage", c.Stage),
		slog.String("table", c.TableName),
		slog.String("region", c.Region),
		slog.String("dynamodb_endpoint", c.DynamoDBEndpoint),
		slog.String("org_id_claim", c.OrgIDClaim),
		slog.String("file_url_allowed_hosts", strings.Join(c.FileURLAllowedHosts, ",")),
		slog.Int("deleted_retention_days", int(c.DeletedRetention/(24*time.Hour))),
		slog.String("log_level", c.LogLevel.String()),
	}
}
