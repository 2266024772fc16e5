package api

import _ "embed"

// OpenAPI is the OpenAPI 3 document of the whole API, which the local API serves at
// GET /openapi.yaml. The Lambda functions never refer to it, so the linker leaves it out of
// their binaries (measured: the bootstrap's size does not change).
//
//go:embed openapi.yaml
var OpenAPI []byte
