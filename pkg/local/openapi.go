package local

import (
	"net/http"

	"github.com/bufdir/export-audit/pkg/api"
)

// serveOpenAPI answers GET /openapi.yaml with the API document, without a token: it is the
// API's public description, the same for every caller.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", "this path does not take "+r.Method)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(api.OpenAPI)
}
