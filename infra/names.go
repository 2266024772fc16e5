package main

import "strings"

// LogicalName turns a function name from config.Routes ("list-records") into the stem shared by
// the CDK construct ids and the SAM logical ids ("ListRecords" -> ListRecordsFunction).
func LogicalName(function string) string {
	var b strings.Builder
	for _, part := range strings.Split(function, "-") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]))
		b.WriteString(part[1:])
	}
	return b.String()
}
