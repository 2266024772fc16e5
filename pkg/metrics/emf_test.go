package metrics_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// emfUnits are the units the EMF specification allows (CloudWatch's StandardUnit).
var emfUnits = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true,
	"Megabytes": true, "Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true,
	"Megabits": true, "Gigabits": true, "Terabits": true, "Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true,
	"Gigabytes/Second": true, "Terabytes/Second": true, "Bits/Second": true,
	"Kilobits/Second": true, "Megabits/Second": true, "Gigabits/Second": true,
	"Terabits/Second": true, "Count/Second": true, "None": true,
}

// checkEMF checks line against the EMF specification's document structure and returns the
// root object: _aws with an integer Timestamp in milliseconds and CloudWatchMetrics, each
// directive with a Namespace, Dimensions (arrays of at most 30 keys, each a string member of
// the root) and Metrics (at most 100 in the document, each naming a root member that is a
// number or an array of at most 100 numbers, with a known Unit), no member the specification
// does not define, and valid UTF-8.
func checkEMF(t *testing.T, line []byte) map[string]any {
	t.Helper()
	if !utf8.Valid(line) {
		t.Errorf("want the line valid UTF-8, got %q", line)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("want one JSON object, got %s: %v", line, err)
	}
	if dec.More() {
		t.Fatalf("want nothing after the object in %s", line)
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("want an _aws object in %s", line)
	}
	for k := range aws {
		if k != "Timestamp" && k != "CloudWatchMetrics" {
			t.Errorf("want only Timestamp and CloudWatchMetrics in _aws, got %q", k)
		}
	}
	ts, ok := aws["Timestamp"].(json.Number)
	if _, err := ts.Int64(); !ok || err != nil {
		t.Errorf("want _aws.Timestamp an integer, got %#v", aws["Timestamp"])
	}
	dirs, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(dirs) == 0 {
		t.Fatalf("want _aws.CloudWatchMetrics a non-empty array, got %#v", aws["CloudWatchMetrics"])
	}
	total := 0
	for i, d := range dirs {
		dir, ok := d.(map[string]any)
		if !ok {
			t.Fatalf("want directive %d an object, got %#v", i, d)
		}
		for k := range dir {
			if k != "Namespace" && k != "Dimensions" && k != "Metrics" {
				t.Errorf("want only Namespace, Dimensions and Metrics in directive %d, got %q", i, k)
			}
		}
		if ns, _ := dir["Namespace"].(string); ns == "" {
			t.Errorf("want directive %d to have a Namespace, got %#v", i, dir["Namespace"])
		}
		sets, ok := dir["Dimensions"].([]any)
		if !ok {
			t.Fatalf("want directive %d Dimensions an array, got %#v", i, dir["Dimensions"])
		}
		for _, s := range sets {
			keys, ok := s.([]any)
			if !ok {
				t.Fatalf("want a dimension set an array, got %#v", s)
			}
			if len(keys) > metrics.MaxDimensions {
				t.Errorf("want at most 30 keys in a dimension set, got %d", len(keys))
			}
			for _, k := range keys {
				name, _ := k.(string)
				if v, ok := root[name].(string); !ok || v == "" {
					t.Errorf("want dimension %q a non-empty string member of the root, got %#v", name, root[name])
				}
			}
		}
		ms, ok := dir["Metrics"].([]any)
		if !ok {
			t.Fatalf("want directive %d Metrics an array, got %#v", i, dir["Metrics"])
		}
		total += len(ms)
		for _, m := range ms {
			def, ok := m.(map[string]any)
			if !ok {
				t.Fatalf("want a metric definition an object, got %#v", m)
			}
			name, _ := def["Name"].(string)
			if unit, ok := def["Unit"].(string); !ok || !emfUnits[unit] {
				t.Errorf("want metric %s to have a CloudWatch unit, got %#v", name, def["Unit"])
			}
			switch v := root[name].(type) {
			case json.Number:
			case []any:
				if len(v) > metrics.MaxValues {
					t.Errorf("want at most 100 values of %s, got %d", name, len(v))
				}
				for _, x := range v {
					if _, ok := x.(json.Number); !ok {
						t.Errorf("want values of %s numbers, got %#v", name, x)
					}
				}
			default:
				t.Errorf("want metric %s a number or array of numbers in the root, got %#v", name, root[name])
			}
		}
	}
	if total > metrics.MaxMetrics {
		t.Errorf("want at most 100 metrics in a document, got %d", total)
	}
	return root
}

func encodeDoc(t *testing.T, d *metrics.Document) []byte {
	t.Helper()
	b, err := d.AppendJSON(nil)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

// directives returns, by metric name, the directive (namespace and dimension sets) it is in.
func directives(root map[string]any) map[string]string {
	out := map[string]string{}
	for _, d := range root["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
		dir := d.(map[string]any)
		sets, _ := json.Marshal(dir["Dimensions"])
		for _, m := range dir["Metrics"].([]any) {
			def := m.(map[string]any)
			out[def["Name"].(string)] = fmt.Sprintf("%s %s %s", dir["Namespace"], sets, def["Unit"])
		}
	}
	return out
}

func TestDocument_FollowsTheSpecification(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 8, 0, 0, 123_000_000, time.UTC)
	d := metrics.New(at)
	d.Dimension("Route", "create-record")
	d.Dimension("StatusClass", "2xx")
	d.DefaultDimensions([]string{"Route"})
	d.Add("Requests", metrics.Count, 1, []string{"Route", "StatusClass"}, []string{"Route"})
	d.Put("Latency", metrics.Milliseconds, 12.5)
	d.Put("DynamoDBLatency", metrics.Milliseconds, 3.25)
	d.Put("DynamoDBLatency", metrics.Milliseconds, 4)
	d.Add("DynamoDBCalls", metrics.Count, 1)
	d.Add("DynamoDBCalls", metrics.Count, 1)
	d.Add("RecordsCreated", metrics.Count, 1, []string{})

	root := checkEMF(t, encodeDoc(t, d))
	if got := root["_aws"].(map[string]any)["Timestamp"].(json.Number).String(); got != "1772352000123" {
		t.Errorf("want Timestamp in milliseconds 1772352000123, got %s", got)
	}
	want := map[string]string{
		"Requests":        `BufdirExportAudit [["Route","StatusClass"],["Route"]] Count`,
		"Latency":         `BufdirExportAudit [["Route"]] Milliseconds`,
		"DynamoDBLatency": `BufdirExportAudit [["Route"]] Milliseconds`,
		"DynamoDBCalls":   `BufdirExportAudit [["Route"]] Count`,
		"RecordsCreated":  `BufdirExportAudit [[]] Count`,
	}
	got := directives(root)
	for name, w := range want {
		if got[name] != w {
			t.Errorf("want %s in directive %s, got %q", name, w, got[name])
		}
	}
	if n := len(root["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)); n != 3 {
		t.Errorf("want metrics sharing dimension sets to share a directive (3 directives), got %d", n)
	}
	values := map[string]string{
		"Route": `"create-record"`, "StatusClass": `"2xx"`, "Requests": "1", "Latency": "12.5",
		"DynamoDBLatency": "[3.25,4]", "DynamoDBCalls": "2", "RecordsCreated": "1",
	}
	for k, w := range values {
		b, _ := json.Marshal(root[k])
		if string(b) != w {
			t.Errorf("want %s = %s, got %s", k, w, b)
		}
	}
}

func TestDocument_AlwaysDimensionIsOnEverySet(t *testing.T) {
	t.Parallel()
	d := metrics.New(time.Now())
	d.AlwaysDimension("Stage", "prod")
	d.AlwaysDimension("Stage", "dev") // a second call changes the value, not the sets
	d.Dimension("Route", "update-status")
	d.Dimension("StatusClass", "2xx")
	d.Dimension("ToStatus", "completed")
	d.DefaultDimensions([]string{"Route"})
	d.Add("Requests", metrics.Count, 1, []string{"Route", "StatusClass"}, []string{"Route"})
	d.Put("Latency", metrics.Milliseconds, 3)
	d.Add("StatusMoves", metrics.Count, 1, []string{"ToStatus"})
	d.Add("Everything", metrics.Count, 1, []string{})
	d.Add("Named", metrics.Count, 1, []string{"Route", "Stage"})

	root := checkEMF(t, encodeDoc(t, d))
	want := map[string]string{
		"Requests":    `BufdirExportAudit [["Stage","Route","StatusClass"],["Stage","Route"]] Count`,
		"Latency":     `BufdirExportAudit [["Stage","Route"]] Milliseconds`,
		"StatusMoves": `BufdirExportAudit [["Stage","ToStatus"]] Count`,
		"Everything":  `BufdirExportAudit [["Stage"]] Count`,
		"Named":       `BufdirExportAudit [["Route","Stage"]] Count`,
	}
	got := directives(root)
	for name, w := range want {
		if got[name] != w {
			t.Errorf("want %s in directive %s, got %q", name, w, got[name])
		}
	}
	if root["Stage"] != "dev" {
		t.Errorf("want Stage = dev, got %v", root["Stage"])
	}

	t.Run("it counts towards a set's 30 keys", func(t *testing.T) {
		t.Parallel()
		fill := func(n int) *metrics.Document {
			d := metrics.New(time.Now())
			d.AlwaysDimension("Stage", "prod")
			var set []string
			for i := range n {
				name := fmt.Sprintf("D%02d", i)
				d.Dimension(name, "v")
				set = append(set, name)
			}
			d.Add("Requests", metrics.Count, 1, set)
			return d
		}
		checkEMF(t, encodeDoc(t, fill(metrics.MaxDimensions-1)))
		if b, err := fill(metrics.MaxDimensions).AppendJSON(nil); !errors.Is(err, metrics.ErrInvalid) {
			t.Errorf("want ErrInvalid for 30 keys and Stage, got %v and %s", err, b)
		}
	})
	t.Run("an empty value is refused", func(t *testing.T) {
		t.Parallel()
		d := metrics.New(time.Now())
		d.AlwaysDimension("Stage", "")
		d.Add("Requests", metrics.Count, 1, []string{})
		if b, err := d.AppendJSON(nil); !errors.Is(err, metrics.ErrInvalid) {
			t.Errorf("want ErrInvalid, got %v and %s", err, b)
		}
	})
}

func TestDocument_EscapesStrings(t *testing.T) {
	t.Parallel()
	d := metrics.New(time.Now())
	odd := "quote\" backslash\\ newline\n nul\x00 tab\t bad\xff æøå"
	d.Dimension("Route", odd)
	d.Add("Requests", metrics.Count, 1, []string{"Route"})
	root := checkEMF(t, encodeDoc(t, d))
	if want := strings.ToValidUTF8(odd, "\uFFFD"); root["Route"] != want {
		t.Errorf("want the dimension value %q back, got %q", want, root["Route"])
	}
}

func TestDocument_Limits(t *testing.T) {
	t.Parallel()
	t.Run("the 101st metric is dropped", func(t *testing.T) {
		t.Parallel()
		d := metrics.New(time.Now())
		d.Dimension("Route", "list-records")
		for i := range metrics.MaxMetrics + 1 {
			d.Add(fmt.Sprintf("M%03d", i), metrics.Count, 1, []string{"Route"})
		}
		root := checkEMF(t, encodeDoc(t, d))
		if _, ok := root["M100"]; ok {
			t.Errorf("want M100 dropped")
		}
		if d.Dropped() != 1 {
			t.Errorf("want 1 dropped, got %d", d.Dropped())
		}
	})
	t.Run("the 101st value is dropped", func(t *testing.T) {
		t.Parallel()
		d := metrics.New(time.Now())
		d.Dimension("Route", "list-records")
		for range metrics.MaxValues + 5 {
			d.Put("DynamoDBLatency", metrics.Milliseconds, 1, []string{"Route"})
		}
		root := checkEMF(t, encodeDoc(t, d))
		if n := len(root["DynamoDBLatency"].([]any)); n != metrics.MaxValues {
			t.Errorf("want %d values, got %d", metrics.MaxValues, n)
		}
		if d.Dropped() != 5 {
			t.Errorf("want 5 dropped, got %d", d.Dropped())
		}
	})
	t.Run("30 dimensions in a set are accepted", func(t *testing.T) {
		t.Parallel()
		d := metrics.New(time.Now())
		var set []string
		for i := range metrics.MaxDimensions {
			name := fmt.Sprintf("D%02d", i)
			d.Dimension(name, "v")
			set = append(set, name)
		}
		d.Add("Requests", metrics.Count, 1, set)
		checkEMF(t, encodeDoc(t, d))
	})
}

func TestDocument_RefusesWhatCloudWatchWouldReject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fill func(d *metrics.Document)
	}{
		{"31 dimensions in a set", func(d *metrics.Document) {
			var set []string
			for i := range metrics.MaxDimensions + 1 {
				name := fmt.Sprintf("D%02d", i)
				d.Dimension(name, "v")
				set = append(set, name)
			}
			d.Add("Requests", metrics.Count, 1, set)
		}},
		{"a dimension without a value", func(d *metrics.Document) {
			d.Add("Requests", metrics.Count, 1, []string{"Route"})
		}},
		{"an empty dimension value", func(d *metrics.Document) {
			d.Dimension("Route", "")
			d.Add("Requests", metrics.Count, 1, []string{"Route"})
		}},
		{"a metric named like a dimension", func(d *metrics.Document) {
			d.Dimension("Route", "get-record")
			d.Add("Route", metrics.Count, 1, []string{"Route"})
		}},
		{"a metric without dimension sets", func(d *metrics.Document) {
			d.Add("Requests", metrics.Count, 1)
		}},
		{"NaN", func(d *metrics.Document) {
			d.Put("Latency", metrics.Milliseconds, math.NaN(), []string{})
		}},
		{"infinity", func(d *metrics.Document) {
			d.Put("Latency", metrics.Milliseconds, math.Inf(1), []string{})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := metrics.New(time.Now())
			c.fill(d)
			if b, err := d.AppendJSON(nil); !errors.Is(err, metrics.ErrInvalid) {
				t.Errorf("want ErrInvalid, got %v and %s", err, b)
			}
			var buf bytes.Buffer
			if err := metrics.NewEmitter(&buf).Emit(d); err == nil || buf.Len() != 0 {
				t.Errorf("want Emit to refuse and write nothing, got %v and %q", err, buf.String())
			}
		})
	}
}

func TestDocument_NilRecordsNothing(t *testing.T) {
	t.Parallel()
	var d *metrics.Document
	d.Dimension("Route", "x")
	d.AlwaysDimension("Stage", "x")
	d.DefaultDimensions([]string{"Route"})
	d.Add("Requests", metrics.Count, 1)
	d.Put("Latency", metrics.Milliseconds, 1)
	if d.Value("Requests") != nil || d.Dropped() != 0 {
		t.Errorf("want a nil document to hold nothing")
	}
	var e *metrics.Emitter
	if err := e.Emit(metrics.New(time.Now())); err != nil {
		t.Errorf("want a nil emitter to write nothing, got %v", err)
	}
}

func TestEmitter_OneWholeLinePerDocumentUnderConcurrency(t *testing.T) {
	t.Parallel()
	var out testkit.Buffer
	e := metrics.NewEmitter(&out)
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := metrics.New(time.Now())
			d.Dimension("Route", fmt.Sprintf("route-%02d", i))
			d.DefaultDimensions([]string{"Route"})
			// A long document, so that interleaved writes would show.
			for j := range 50 {
				d.Put(fmt.Sprintf("Metric%02d", j), metrics.Milliseconds, float64(i))
			}
			if err := e.Emit(d); err != nil {
				t.Errorf("emit: %v", err)
			}
		})
	}
	wg.Wait()
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(nil, 1<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		root := checkEMF(t, sc.Bytes())
		seen[root["Route"].(string)] = true
	}
	if len(seen) != n {
		t.Errorf("want %d whole lines, one per document, got %d", n, len(seen))
	}
}
