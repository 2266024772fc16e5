package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/audit"
)

// MaxBody is the largest request body accepted, in bytes.
const MaxBody = 64 << 10

// body is a JSON object request body, split into its fields so that each can be checked on its
// own and every problem reported at once.
type body struct {
	fields map[string]json.RawMessage
	errs   *audit.ValidationError
}

// readBody checks the media type and size, and splits a JSON object into fields, refusing
// duplicate keys (encoding/json would silently keep the last one) and fields not in allowed.
func readBody(ev *events.APIGatewayV2HTTPRequest, allowed ...string) (*body, error) {
	mt, _, err := mime.ParseMediaType(header(ev, "content-type"))
	if err != nil || mt != "application/json" {
		return nil, problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be application/json")
	}
	raw := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if raw, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, malformed("the body is not valid base64")
		}
	}
	if len(raw) > MaxBody {
		return nil, problem(http.StatusRequestEntityTooLarge, "payload_too_large", "the body must be at most 64 KiB")
	}
	if !utf8.Valid(raw) {
		return nil, malformed("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, malformed("the body must be a JSON object")
	}
	b := &body{fields: map[string]json.RawMessage{}, errs: &audit.ValidationError{}}
	known := map[string]bool{}
	for _, f := range allowed {
		known[f] = true
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed("the body is not valid JSON")
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, malformed("the body is not valid JSON")
		}
		if _, dup := b.fields[name]; dup {
			return nil, malformed("field " + strconv.Quote(name) + " is given more than once")
		}
		b.fields[name] = v
		if !known[name] {
			b.errs.Add(name, "is not a known field")
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, malformed("the body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, malformed("the body must hold one JSON object and nothing after it")
	}
	return b, nil
}

func malformed(detail string) error {
	return problem(http.StatusBadRequest, "malformed_json", detail)
}

func header(ev *events.APIGatewayV2HTTPRequest, name string) string {
	// API Gateway's payload 2.0 lowercases header names; a hand-made event may not.
	if v, ok := ev.Headers[name]; ok {
		return v
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// present reports whether name was given with a value other than null.
func (b *body) present(name string) bool {
	v, ok := b.fields[name]
	return ok && string(v) != "null"
}

// str returns the string field name; absent or null is "", false.
func (b *body) str(name string) (string, bool) {
	if !b.present(name) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(b.fields[name], &s); err != nil {
		b.errs.Add(name, "must be a string")
		return "", false
	}
	return s, true
}

// required returns the string field name and notes it missing when it is absent or null.
func (b *body) required(name string) string {
	if !b.present(name) {
		if _, ok := b.fields[name]; !ok {
			b.errs.Add(name, "is required")
		} else {
			b.errs.Add(name, "must not be null")
		}
		return ""
	}
	s, _ := b.str(name)
	return s
}

var wholeNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// count returns a whole-number field that must be 0 or more; absent or null is nil.
func (b *body) count(name string) *int64 {
	if !b.present(name) {
		return nil
	}
	raw := string(b.fields[name])
	if !wholeNumber.MatchString(raw) {
		b.errs.Add(name, "must be a whole number")
		return nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		b.errs.Add(name, "is too large")
		return nil
	}
	if n < 0 {
		b.errs.Add(name, "must be 0 or more")
		return nil
	}
	return &n
}
