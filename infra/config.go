package main

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Placeholders of template.yaml's JwtIssuer and JwtAudience parameters and of the events'
// claims: sam local does not run the JWT authorizer, so nothing there needs a real identity
// provider. The stack refuses them in every stage, dev included: an authorizer configured with
// them refuses every token.
const (
	PlaceholderJWTIssuer   = "https://issuer.example.invalid/"
	PlaceholderJWTAudience = "bufdir-export-audit-placeholder"
)

// Config is everything that differs between deployments of the stack. It comes from CDK context
// (`-c key=value` or cdk.json), see ConfigFromContext.
type Config struct {
	Stage                string   // context stage: dev, test, prod...; part of the stack and API names
	AssetRoot            string   // context assetRoot: the directory holding <function>/bootstrap
	OrgIDClaim           string   // context orgIdClaim
	FileURLAllowedHosts  string   // context fileUrlAllowedHosts: comma-separated host suffixes, "" allows any
	DeletedRetentionDays int      // context deletedRetentionDays
	LogLevel             string   // context logLevel
	JWTIssuer            string   // context jwtIssuer
	JWTAudience          []string // context jwtAudience, comma-separated
	CORSOrigins          []string // context corsOrigins, comma-separated; none means no CORS at all
	AlarmEmail           string   // context alarmEmail: subscribed to the alarm topic; "" subscribes no one
	// context eventArchiveRetentionDays: how long the bus's archive keeps the change events for
	// replays; 0 keeps them for ever.
	EventArchiveRetentionDays int
	// The audit archive's bucket (archive.go): ArchiveRetentionDays is context
	// archiveRetentionDays, the Object Lock default retention; ArchiveLockMode is context
	// archiveLockMode, "governance" or "compliance", "" for the stage's default (ArchiveLock).
	ArchiveRetentionDays int
	ArchiveLockMode      string
}

// DefaultConfig is the dev configuration without the JWT authorizer's settings, which have no
// default: a synth needs jwtIssuer and jwtAudience in every stage.
func DefaultConfig() Config {
	return Config{
		Stage: "dev",
		// Relative to infra/, where both `go run .` and the CDK CLI run.
		AssetRoot:            "../build",
		OrgIDClaim:           "org_id",
		FileURLAllowedHosts:  "",
		DeletedRetentionDays: 365,
		LogLevel:             "info",
		JWTIssuer:            "",
		JWTAudience:          nil,
		CORSOrigins:          nil,
		AlarmEmail:           "",
		// A year: Bufdir's exports report a year at a time, so a consumer that lost its state
		// can replay the round it is in. The archive is not the audit trail (the table and its
		// own archive are); it is there so that consumers can catch up.
		EventArchiveRetentionDays: 365,
		ArchiveRetentionDays:      DefaultArchiveRetentionDays,
		ArchiveLockMode:           "",
	}
}

var stagePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)

// emailPattern is a plausibility check, not RFC 5322: it catches a missing value, a list, or a
// stray quote before SNS turns it into a subscription nobody can confirm.
var emailPattern = regexp.MustCompile(`^[^@\s,;"'<>]+@[^@\s,;"'<>]+\.[a-zA-Z]{2,}$`)

// Validate refuses a configuration that would synthesize a stack that cannot work.
func (c Config) Validate() error {
	if !stagePattern.MatchString(c.Stage) {
		return fmt.Errorf("stage %q: want lower-case letters, digits and '-', starting with a letter, at most 20 characters", c.Stage)
	}
	if c.AssetRoot == "" {
		return fmt.Errorf("assetRoot is empty")
	}
	if c.OrgIDClaim == "" {
		return fmt.Errorf("orgIdClaim is empty")
	}
	if c.DeletedRetentionDays < 1 {
		return fmt.Errorf("deletedRetentionDays %d: want at least 1", c.DeletedRetentionDays)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("logLevel %q: want debug, info, warn or error", c.LogLevel)
	}
	if err := c.validateJWT(); err != nil {
		return err
	}
	// Without a list, any holder of audit:write could store a link to any site for
	// administrators to open. dev may leave it open for trying things out.
	if c.Stage != "dev" && len(splitList(c.FileURLAllowedHosts)) == 0 {
		return fmt.Errorf("stage %s: set context fileUrlAllowedHosts, the host suffixes a file_url may name "+
			"(e.g. -c fileUrlAllowedHosts=storage.example.no); only dev may allow any host", c.Stage)
	}
	for _, h := range splitList(c.FileURLAllowedHosts) {
		if strings.ContainsAny(h, "/:@ *") {
			return fmt.Errorf("fileUrlAllowedHosts %q: want host suffixes such as storage.example.no, not URLs or patterns", h)
		}
	}
	if err := validateArchiveRetention(c.EventArchiveRetentionDays); err != nil {
		return err
	}
	if err := c.validateArchive(); err != nil {
		return err
	}
	if c.AlarmEmail != "" && !emailPattern.MatchString(c.AlarmEmail) {
		return fmt.Errorf("alarmEmail %q: want one e-mail address", c.AlarmEmail)
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			return fmt.Errorf("corsOrigins: '*' would let any web page call the API with a user's token; list the origins")
		}
	}
	return nil
}

// validateJWT refuses a missing or placeholder issuer or audience, naming the context keys: an
// authorizer configured with either refuses every token, or trusts a name nobody controls.
func (c Config) validateJWT() error {
	var missing []string
	if c.JWTIssuer == "" {
		missing = append(missing, "jwtIssuer (the https issuer, iss, of the tokens, e.g. -c jwtIssuer=https://login.example.no/realms/bufdir)")
	}
	if len(c.JWTAudience) == 0 {
		missing = append(missing, "jwtAudience (the audiences, aud, the tokens carry, comma-separated, e.g. -c jwtAudience=export-audit)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("stage %s: set context %s; the JWT authorizer has no default in any stage", c.Stage, strings.Join(missing, " and "))
	}
	// API Gateway fetches the issuer's OIDC discovery document, which only works over https.
	u, err := url.Parse(c.JWTIssuer)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return fmt.Errorf("jwtIssuer %q: want an https URL", c.JWTIssuer)
	}
	if reservedHost(u.Hostname()) {
		return fmt.Errorf("jwtIssuer %q: a placeholder (%s can never issue tokens); set context jwtIssuer to your identity provider's issuer", c.JWTIssuer, u.Hostname())
	}
	for _, a := range c.JWTAudience {
		if a == PlaceholderJWTAudience {
			return fmt.Errorf("jwtAudience %q: a placeholder; set context jwtAudience to the audience your identity provider puts in the tokens", a)
		}
	}
	return nil
}

// reservedHost reports whether host is a name reserved for documentation and testing (RFC 2606,
// RFC 6761), which no identity provider can have.
func reservedHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, tld := range []string{"invalid", "example", "test", "localhost"} {
		if host == tld || strings.HasSuffix(host, "."+tld) {
			return true
		}
	}
	for _, d := range []string{"example.com", "example.net", "example.org"} {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// ConfigFromContext reads the configuration from CDK context, falling back to DefaultConfig for
// every key that is not set, and validates it.
func ConfigFromContext(node constructs.Node) (Config, error) {
	c := DefaultConfig()
	str := func(key string, dst *string) {
		if v, ok := contextValue(node, key); ok {
			*dst = v
		}
	}
	str("stage", &c.Stage)
	str("assetRoot", &c.AssetRoot)
	str("orgIdClaim", &c.OrgIDClaim)
	str("fileUrlAllowedHosts", &c.FileURLAllowedHosts)
	str("logLevel", &c.LogLevel)
	str("jwtIssuer", &c.JWTIssuer)
	str("alarmEmail", &c.AlarmEmail)
	str("archiveLockMode", &c.ArchiveLockMode)
	if v, ok := contextValue(node, "jwtAudience"); ok {
		c.JWTAudience = splitList(v)
	}
	if v, ok := contextValue(node, "corsOrigins"); ok {
		c.CORSOrigins = splitList(v)
	}
	if v, ok := contextValue(node, "deletedRetentionDays"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return Config{}, fmt.Errorf("deletedRetentionDays %q: %w", v, err)
		}
		c.DeletedRetentionDays = n
	}
	if v, ok := contextValue(node, "eventArchiveRetentionDays"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return Config{}, fmt.Errorf("eventArchiveRetentionDays %q: %w", v, err)
		}
		c.EventArchiveRetentionDays = n
	}
	if v, ok := contextValue(node, "archiveRetentionDays"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return Config{}, fmt.Errorf("archiveRetentionDays %q: %w", v, err)
		}
		c.ArchiveRetentionDays = n
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("context: %w", err)
	}
	return c, nil
}

// contextValue returns a context value as a string. Values given with -c arrive as strings,
// values from cdk.json may be numbers or lists.
func contextValue(node constructs.Node, key string) (string, bool) {
	v := node.TryGetContext(jsii.String(key))
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case []interface{}:
		parts := make([]string, 0, len(v))
		for _, p := range v {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, ","), true
	default:
		return fmt.Sprint(v), true
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
