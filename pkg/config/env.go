package config

// Environment variable names, read once per container at init.
const (
	EnvTableName            = "TABLE_NAME"             // required
	EnvRegion               = "AWS_REGION"             // required (always set by Lambda)
	EnvDynamoDBEndpoint     = "DYNAMODB_ENDPOINT"      // local runs only
	EnvOrgIDClaim           = "ORG_ID_CLAIM"           // default "org_id"
	EnvFileURLAllowedHosts  = "FILE_URL_ALLOWED_HOSTS" // comma-separated host suffixes; empty allows any host
	EnvDeletedRetentionDays = "DELETED_RETENTION_DAYS" // default 365
	EnvLogLevel             = "LOG_LEVEL"              // debug, info, warn, error; default info
	EnvStage                = "STAGE"                  // required: the deployment's stage, the Stage dimension of every metric
	EnvEventBusName         = "EVENT_BUS_NAME"         // publish-events: required, the stage's event bus (a name or an ARN)
	EnvEventBridgeEndpoint  = "EVENTBRIDGE_ENDPOINT"   // publish-events, local runs only: another EventBridge endpoint
)

// Set by the SAM CLI in the containers of `sam local invoke` and `sam local start-api`.
const EnvSAMLocal = "AWS_SAM_LOCAL"

// LocalStage is the stage of runs on a developer's machine: `make run` sets STAGE to it.
const LocalStage = "local"
