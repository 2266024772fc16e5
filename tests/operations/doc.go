// Package operations holds the tests of what an operator sees of each request through the local
// API, which logs and measures as the Lambda functions do: one JSON log line, one CloudWatch
// Embedded Metric Format line, and the trace id in both. It has only tests.
package operations
