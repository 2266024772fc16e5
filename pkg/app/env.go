package app

// Environment variable names, read once per container at init.
const (
	EnvTableName            = "TABLE_NAME"             // required
	EnvRegion               = "AWS_REGION"             // required (always set by Lambda)
	EnvDynamoDBEndpoint     = "DYNAMODB_ENDPOINT"      // local runs only
	EnvOrgIDClaim           = "ORG_ID_CLAIM"           // default "org_id"
	EnvFileURLAllowedHosts  = "FILE_URL_ALLOWED_HOSTS" // comma-separated host suffixes; empty allows any host
	EnvDeletedRetentionDays = "DELETED_RETENTION_DAYS" // default 365
	EnvLogLevel             = "LOG_LEVEL"              // debug, info, warn, error; default info
)
