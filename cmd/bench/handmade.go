package main

import (
	"errors"
	"io/fs"
	"os"
	"strings"
)

// handMarker opens every section of docs/performance.md that make bench does not measure:
// figures taken by hand (the attributevalue trade, make verify's 100,000 changes), each
// saying how. A run keeps them, so that rewriting the report does not lose what it cannot
// measure again.
const handMarker = "Not measured by `make bench`"

// keepHandmade puts the hand-measured sections of the report at path (none when there is no
// such file) into report, before its "## Reproducing" section, in their old order.
func keepHandmade(report, path string) (string, error) {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return report, nil
	}
	if err != nil {
		return "", err
	}
	var kept strings.Builder
	for _, s := range sections(string(old)) {
		body := strings.TrimLeft(s[strings.IndexByte(s, '\n')+1:], "\n")
		if strings.HasPrefix(body, handMarker) {
			kept.WriteString(s)
		}
	}
	if kept.Len() == 0 {
		return report, nil
	}
	at := strings.Index(report, "\n## Reproducing\n")
	if at < 0 {
		return report + "\n" + kept.String(), nil
	}
	return report[:at+1] + kept.String() + report[at+1:], nil
}

// sections splits a Markdown document at its "## " headings; each part starts with its
// heading line, and the text before the first heading is left out.
func sections(doc string) []string {
	var out []string
	start := -1
	inFence := false
	lines := strings.SplitAfter(doc, "\n")
	pos := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(l, "## ") {
			if start >= 0 {
				out = append(out, doc[start:pos])
			}
			start = pos
		}
		pos += len(l)
	}
	if start >= 0 {
		out = append(out, doc[start:])
	}
	return out
}
