// Package metrics writes CloudWatch metrics in the Embedded Metric Format (EMF): JSON log lines
// that CloudWatch Logs turns into metrics, with no API call and no agent. A request gathers its
// metrics in one Document, carried in its context, and the handler writes the Document as one
// line when the request ends.
//
// The format is specified at
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html.
// AWS publishes EMF libraries for other languages but not for Go, and the Go ones around are
// unmaintained or not on the module proxy; this package is the small part of the format the
// service needs, written without reflection.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bufdir/export-audit/pkg/config"
)

// Limits of the EMF specification.
const (
	MaxMetrics    = 100 // metric definitions in one document
	MaxDimensions = 30  // dimension keys in one dimension set
	MaxValues     = 100 // values of one metric in one document
)

// Unit is a CloudWatch unit.
type Unit string

// The units the service uses.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
)

// Document is one EMF log event: the dimension values, and each metric's unit, values and the
// dimension sets it is published under. The zero value is not usable; a nil *Document is, and
// records nothing, so code that runs outside a request needs no check. A Document is safe for
// concurrent use.
type Document struct {
	mu       sync.Mutex
	at       time.Time
	dims     []member
	always   []string  // dimensions every set carries, ahead of its own keys
	alwaysAt [2]string // always's first backing array, inside the document: no allocation per request
	defaults [][]string
	metrics  []metric
	dropped  int
}

type member struct{ name, value string }

type metric struct {
	name  string
	unit  Unit
	sets  [][]string
	n     int       // values recorded
	first float64   // the first value, kept inline: most metrics have one
	more  []float64 // the values after the first
}

func (m *metric) value(i int) float64 {
	if i == 0 {
		return m.first
	}
	return m.more[i-1]
}

func (m *metric) put(v float64) {
	if m.n == 0 {
		m.first = v
	} else {
		m.more = append(m.more, v)
	}
	m.n++
}

// New returns an empty document timestamped at, with room for a request's metrics.
func New(at time.Time) *Document {
	d := &Document{at: at, dims: make([]member, 0, 8), metrics: make([]metric, 0, 16)}
	d.always = d.alwaysAt[:0]
	return d
}

// Dimension sets the value of the dimension name, replacing an earlier one.
func (d *Document) Dimension(name, value string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.dims {
		if d.dims[i].name == name {
			d.dims[i].value = value
			return
		}
	}
	d.dims = append(d.dims, member{name, value})
}

// AlwaysDimension sets the value of the dimension name and adds it to every dimension set of
// the document, ahead of the set's own keys: the dimension that keeps apart deployments
// sharing an account, region and namespace, which no metric may go without. A set that already
// names it is left as it is.
func (d *Document) AlwaysDimension(name, value string) {
	if d == nil {
		return
	}
	d.Dimension(name, value)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.always {
		if a == name {
			return
		}
	}
	d.always = append(d.always, name)
}

// Property sets a string member that no dimension set names: context for someone reading the
// line in CloudWatch Logs, such as a request id. An empty value is left out.
func (d *Document) Property(name, value string) {
	if value != "" {
		d.Dimension(name, value)
	}
}

// DefaultDimensions sets the dimension sets of metrics recorded without their own.
func (d *Document) DefaultDimensions(sets ...[]string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.defaults = sets
	d.mu.Unlock()
}

// Add adds v to the metric's one value: a counter. The first record of a name fixes its unit
// and dimension sets (the defaults when none are given).
func (d *Document) Add(name string, unit Unit, v float64, sets ...[]string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if m := d.metric(name, unit, sets); m != nil {
		if m.n == 0 {
			m.put(v)
		} else {
			m.first += v
		}
	}
}

// Put records one more value of the metric, such as the latency of one call; EMF publishes
// every value of a document. Values past MaxValues are dropped.
func (d *Document) Put(name string, unit Unit, v float64, sets ...[]string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.metric(name, unit, sets)
	if m == nil {
		return
	}
	if m.n >= MaxValues {
		d.dropped++
		return
	}
	m.put(v)
}

// metric finds or makes the metric name; nil when the document is full.
func (d *Document) metric(name string, unit Unit, sets [][]string) *metric {
	for i := range d.metrics {
		if d.metrics[i].name == name {
			return &d.metrics[i]
		}
	}
	if len(d.metrics) >= MaxMetrics {
		d.dropped++
		return nil
	}
	if len(sets) == 0 {
		sets = d.defaults
	}
	d.metrics = append(d.metrics, metric{name: name, unit: unit, sets: sets})
	return &d.metrics[len(d.metrics)-1]
}

// Value returns the metric's values; nil when it was not recorded.
func (d *Document) Value(name string) []float64 {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.metrics {
		if m := &d.metrics[i]; m.name == name {
			out := make([]float64, m.n)
			for j := range out {
				out[j] = m.value(j)
			}
			return out
		}
	}
	return nil
}

// Dropped returns how many records were dropped for the document's limits.
func (d *Document) Dropped() int {
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

// ErrInvalid is wrapped by the errors of a document that breaks the EMF specification.
var ErrInvalid = errors.New("invalid EMF document")

// AppendJSON appends the document as one JSON object to b. Metrics that share their dimension
// sets share one metric directive. It refuses a document that CloudWatch would reject (a
// dimension set naming a dimension without a value or holding more than MaxDimensions keys, a
// metric named like a dimension, a value that is not a finite number), rather than write a
// line that silently yields no metrics.
func (d *Document) AppendJSON(b []byte) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(); err != nil {
		return b, err
	}
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, d.at.UnixMilli(), 10)
	b = append(b, `,"CloudWatchMetrics":[`...)
	done := make([]bool, len(d.metrics))
	first := true
	for i := range d.metrics {
		if done[i] {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"Namespace":`...)
		b = appendString(b, config.MetricNamespace)
		b = append(b, `,"Dimensions":[`...)
		for j, set := range d.metrics[i].sets {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			k := 0
			for _, key := range d.always {
				if !contains(set, key) {
					if k > 0 {
						b = append(b, ',')
					}
					k++
					b = appendString(b, key)
				}
			}
			for _, key := range set {
				if k > 0 {
					b = append(b, ',')
				}
				k++
				b = appendString(b, key)
			}
			b = append(b, ']')
		}
		b = append(b, `],"Metrics":[`...)
		n := 0
		for j := i; j < len(d.metrics); j++ {
			if done[j] || !sameSets(d.metrics[i].sets, d.metrics[j].sets) {
				continue
			}
			done[j] = true
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, `{"Name":`...)
			b = appendString(b, d.metrics[j].name)
			b = append(b, `,"Unit":`...)
			b = appendString(b, string(d.metrics[j].unit))
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	b = append(b, "]}"...)
	for _, m := range d.dims {
		b = append(b, ',')
		b = appendString(b, m.name)
		b = append(b, ':')
		b = appendString(b, m.value)
	}
	for i := range d.metrics {
		m := &d.metrics[i]
		b = append(b, ',')
		b = appendString(b, m.name)
		b = append(b, ':')
		if m.n == 1 {
			b = strconv.AppendFloat(b, m.first, 'f', -1, 64)
			continue
		}
		b = append(b, '[')
		for j := range m.n {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, m.value(j), 'f', -1, 64)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func (d *Document) check() error {
	for _, m := range d.dims {
		if m.name == "" || m.name == "_aws" || m.value == "" {
			return fmt.Errorf("%w: dimension %q with value %q", ErrInvalid, m.name, m.value)
		}
	}
	for i := range d.metrics {
		m := &d.metrics[i]
		if m.name == "" || m.name == "_aws" || d.hasDim(m.name) {
			return fmt.Errorf("%w: metric name %q", ErrInvalid, m.name)
		}
		if m.n == 0 {
			return fmt.Errorf("%w: metric %s has no value", ErrInvalid, m.name)
		}
		for j := range m.n {
			if v := m.value(j); math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: metric %s has value %v", ErrInvalid, m.name, v)
			}
		}
		if len(m.sets) == 0 {
			return fmt.Errorf("%w: metric %s has no dimension set", ErrInvalid, m.name)
		}
		for _, set := range m.sets {
			if n := d.setSize(set); n > MaxDimensions {
				return fmt.Errorf("%w: metric %s has a dimension set of %d keys", ErrInvalid, m.name, n)
			}
			for _, key := range set {
				if !d.hasDim(key) {
					return fmt.Errorf("%w: metric %s names dimension %q, which has no value", ErrInvalid, m.name, key)
				}
			}
		}
	}
	return nil
}

// setSize is the number of keys of set as written: its own and the always dimensions it does
// not name. (The always dimensions have values: AlwaysDimension sets them.)
func (d *Document) setSize(set []string) int {
	n := len(set)
	for _, a := range d.always {
		if !contains(set, a) {
			n++
		}
	}
	return n
}

func contains(set []string, key string) bool {
	for _, k := range set {
		if k == key {
			return true
		}
	}
	return false
}

// hasDim reports whether the dimension name has a value; a document holds a handful, so a scan
// beats a map.
func (d *Document) hasDim(name string) bool {
	for _, m := range d.dims {
		if m.name == name {
			return true
		}
	}
	return false
}

func sameSets(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// Emitter writes documents to w, one line each. It is safe for concurrent use: a line is
// written with one Write, under a lock, so lines of concurrent requests never interleave.
type Emitter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewEmitter returns an Emitter writing to w; in Lambda, os.Stdout, which CloudWatch Logs reads.
func NewEmitter(w io.Writer) *Emitter { return &Emitter{w: w} }

// Emit writes d as one line. A nil Emitter writes nothing.
func (e *Emitter) Emit(d *Document) error {
	if e == nil || d == nil {
		return nil
	}
	b, err := d.AppendJSON(make([]byte, 0, 1024))
	if err != nil {
		return err
	}
	b = append(b, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err = e.w.Write(b)
	return err
}

type ctxKey struct{}

// NewContext returns ctx carrying d, the document of the request ctx belongs to.
func NewContext(ctx context.Context, d *Document) context.Context {
	return context.WithValue(ctx, ctxKey{}, d)
}

// FromContext returns the request's document, or nil (which records nothing) when there is none.
func FromContext(ctx context.Context) *Document {
	d, _ := ctx.Value(ctxKey{}).(*Document)
	return d
}
