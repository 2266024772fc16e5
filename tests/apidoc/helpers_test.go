package apidoc

const (
	single  = "/api/v1/bufdir-audit-records"
	doubled = single + single
)

const secret = "contract-test-secret-of-at-least-32-bytes"
