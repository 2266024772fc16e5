// Package app loads what a Lambda container needs once, at init: the configuration from the
// environment, the DynamoDB client and the repository. Handlers share the result for the
// container's life.
package app

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
	TableName           string
	Region              string
	DynamoDBEndpoint    string // empty in AWS
	OrgIDClaim          string
	FileURLAllowedHosts []string
	DeletedRetention    time.Duration
	LogLevel            slog.Level
}

// LoadConfig reads the configuration through getenv (os.Getenv outside tests) and reports
// every missing or malformed setting at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		TableName:        strings.TrimSpace(getenv(EnvTableName)),
		Region:           strings.TrimSpace(getenv(EnvRegion)),
		DynamoDBEndpoint: strings.TrimSpace(getenv(EnvDynamoDBEndpoint)),
		OrgIDClaim:       strings.TrimSpace(getenv(EnvOrgIDClaim)),
		DeletedRetention: 365 * 24 * time.Hour,
	}
	var errs []error
	if c.TableName == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvTableName))
	}
	if c.Region == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvRegion))
	}
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
	if v := strings.TrimSpace(getenv(EnvLogLevel)); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s must be debug, info, warn or error, not %q", EnvLogLevel, v))
		}
	}
	return c, errors.Join(errs...)
}

// Attrs describes the configuration for the start-up log line; it holds no secret.
func (c Config) Attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("table", c.TableName),
		slog.String("region", c.Region),
		slog.String("dynamodb_endpoint", c.DynamoDBEndpoint),
		slog.String("org_id_claim", c.OrgIDClaim),
		slog.String("file_url_allowed_hosts", strings.Join(c.FileURLAllowedHosts, ",")),
		slog.Int("deleted_retention_days", int(c.DeletedRetention/(24*time.Hour))),
		slog.String("log_level", c.LogLevel.String()),
	}
}
