// Package apidoc holds the tests that keep the API document (pkg/api/openapi.yaml) and the code
// in agreement: every route and error case is sent through the local API over real HTTP, and
// each request and answer is validated against the document with kin-openapi, a test-only
// dependency that no function links. It has only tests.
package apidoc
