package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// ratioTarget is a limit on each function's figure divided by a baseline's, both measured in
// the same run (issue 9).
type ratioTarget struct {
	name  string // as the per-function table heads its column
	what  string // as the targets table names it
	limit float64
}

var (
	sizeTarget = ratioTarget{"size ÷ hello world", "binary size, arm64, every function ÷ hello world", 1.4}
	// The function's part of a cold invoke: its init and its first invoke (coldRun.part).
	coldPeerTarget  = ratioTarget{"cold start ÷ peer", "cold start (init + first invoke), median, every function ÷ the peer", 1.0}
	coldHelloTarget = ratioTarget{"cold start ÷ hello world", "cold start (init + first invoke), median, every function ÷ hello world", 1.5}
	ratioTargets    = []ratioTarget{sizeTarget, coldPeerTarget, coldHelloTarget}
)

// ratioCheck is one function's ratio against one target.
type ratioCheck struct {
	target ratioTarget
	fn     string
	v      float64
}

// within reports whether v meets limit as the report prints both, to two decimals.
func within(v, limit float64) bool { return v <= limit || math.Abs(v-limit) < 0.005 }

func (c ratioCheck) met() bool { return within(c.v, c.target.limit) }

// cell is the check as the per-function table shows it.
func (c ratioCheck) cell() string {
	if c.met() {
		return fmt.Sprintf("%.2f× met", c.v)
	}
	return fmt.Sprintf("%.2f× **missed**", c.v)
}

// ratioChecks is every function's ratio against each target this run measured, in the order
// of ratioTargets and then of the functions.
func (r *results) ratioChecks() []ratioCheck {
	var out []ratioCheck
	if h := r.binOf(helloName); h != nil && h.size["arm64"] > 0 {
		for _, b := range r.bins {
			if !b.baseline() {
				out = append(out, ratioCheck{sizeTarget, b.name, float64(b.size["arm64"]) / float64(h.size["arm64"])})
			}
		}
	}
	for _, t := range []struct {
		target ratioTarget
		base   string
	}{{coldPeerTarget, peerName}, {coldHelloTarget, helloName}} {
		base, ok := r.coldOf(t.base)
		if !ok {
			continue
		}
		bPart := base.median(coldRun.part)
		if bPart <= 0 {
			continue
		}
		for _, c := range r.cold {
			if !c.bin.baseline() {
				out = append(out, ratioCheck{t.target, c.bin.name, c.median(coldRun.part) / bPart})
			}
		}
	}
	return out
}

// worst is the highest ratio against t, and how many functions met it; ok is false when the
// run did not measure t.
func worst(checks []ratioCheck, t ratioTarget) (w ratioCheck, met, of int, ok bool) {
	for _, c := range checks {
		if c.target != t {
			continue
		}
		of++
		if c.met() {
			met++
		}
		if !ok || c.v > w.v {
			w, ok = c, true
		}
	}
	return w, met, of, ok
}

// ratioRows adds a row per ratio target to the targets table.
func (r *results) ratioRows(t *table, checks []ratioCheck) {
	for _, target := range ratioTargets {
		w, met, of, ok := worst(checks, target)
		if !ok {
			continue
		}
		t.add(target.what, fmt.Sprintf("≤ %.2f×", target.limit),
			fmt.Sprintf("worst %.2f× (%s); %d of %d functions met it", w.v, w.fn, met, of), verdict(w.v, target.limit))
	}
}

// perFunction writes each function's ratio against each target, marked met or missed.
func (r *results) perFunction(b *strings.Builder, checks []ratioCheck) {
	var targets []ratioTarget
	var fns []string
	for _, c := range checks {
		if !slices.Contains(targets, c.target) {
			targets = append(targets, c.target)
		}
		if !slices.Contains(fns, c.fn) {
			fns = append(fns, c.fn)
		}
	}
	if len(targets) == 0 {
		return
	}
	t := &table{head: []string{"function"}}
	for _, target := range targets {
		t.head = append(t.head, fmt.Sprintf("%s (≤ %.2f×)", target.name, target.limit))
	}
	for _, fn := range fns {
		row := []string{fn}
		for _, target := range targets {
			cell := "–"
			for _, c := range checks {
				if c.fn == fn && c.target == target {
					cell = c.cell()
				}
			}
			row = append(row, cell)
		}
		t.add(row...)
	}
	fmt.Fprintf(b, "Each function's ratios:\n\n%s\n", t)
}

func (r *results) binOf(name string) *binary {
	for _, b := range r.bins {
		if b.name == name {
			return b
		}
	}
	return nil
}

func (r *results) coldOf(name string) (coldResult, bool) {
	for _, c := range r.cold {
		if c.bin.name == name {
			return c, true
		}
	}
	return coldResult{}, false
}

func (r *results) probeOf(name string) (initProbe, bool) {
	for _, p := range r.probes {
		if p.bin.name == name {
			return p, true
		}
	}
	return initProbe{}, false
}

// signed writes a difference in ms with its sign.
func signed(v float64) string {
	if v < 0 {
		return "−" + msf(-v)
	}
	return "+" + msf(v)
}

// gap says where fn's cold start differs from the baseline base's, from the cold starts under
// the emulator and the init probes of both, measured the same way in the same run: the
// breakdown behind a cold start ratio. It is empty when the run lacks either's figures.
func (r *results) gap(fn, base string) string {
	fc, ok1 := r.coldOf(fn)
	bc, ok2 := r.coldOf(base)
	fp, ok3 := r.probeOf(fn)
	bp, ok4 := r.probeOf(base)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return ""
	}
	initOf := func(c coldRun) float64 { return c.init }
	first := func(c coldRun) float64 { return c.invoke }
	second := func(c coldRun) float64 { return c.second }
	// What runs after package initialisation and before the first /next: the Go runtime's
	// own start, then main up to lambda.Start.
	rest := func(p initProbe) float64 { return medianf(p.toNext) - p.group("") }
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("  Where the time goes, %s − %s (medians):\n", fn, base)
	p("  - **init** %s under the emulator (%s against %s); %s from process start to `/next` without it.\n",
		signed(fc.median(initOf)-bc.median(initOf)), msf(fc.median(initOf)), msf(bc.median(initOf)), signed(medianf(fp.toNext)-medianf(bp.toNext)))
	p("  - **package initialisation** %s: AWS SDK and smithy-go %s, Go standard library %s, aws-lambda-go %s, this service %s.\n",
		signed(fp.group("")-bp.group("")), signed(fp.group("sdk")-bp.group("sdk")), signed(fp.group("std")-bp.group("std")),
		signed(fp.group("lambda")-bp.group("lambda")), signed(fp.group("ours")-bp.group("ours")))
	if d := pkgDiffs(fp, bp, 5); len(d) > 0 {
		p("    The packages that differ most: %s.\n", strings.Join(d, ", "))
	}
	label := "the Go runtime's start, then `main` up to `lambda.Start`"
	if l := fc.median(func(c coldRun) float64 { return c.loadMs }); l >= 0 {
		label += fmt.Sprintf(": `app.Load` %s in %s", msf(l), fn)
	}
	switch base {
	case peerName:
		label += ", `config.LoadDefaultConfig` and `dynamodb.NewFromConfig` in the peer"
	case helloName:
		label += ", nothing more in the hello world"
	}
	p("  - **the rest of the init** (%s) %s.\n", label, signed(rest(fp)-rest(bp)))
	p("  - **first invoke** %s (%s against %s): being the first call in its process (first − second invoke, mostly the\n",
		signed(fc.median(first)-bc.median(first)), msf(fc.median(first)), msf(bc.median(first)))
	p("    SDK's first request: connection, credentials, endpoint) %s; the call's own work (the second invoke) %s.\n",
		signed((fc.median(first)-fc.median(second))-(bc.median(first)-bc.median(second))), signed(fc.median(second)-bc.median(second)))
	return b.String()
}

// pkgDiffs lists the n packages whose median init time differs most between f and base.
func pkgDiffs(f, base initProbe, n int) []string {
	fm, bm := f.pkgMedians(), base.pkgMedians()
	type diff struct {
		pkg string
		ms  float64
	}
	var ds []diff
	for pkg, v := range fm {
		ds = append(ds, diff{pkg, v - bm[pkg]})
	}
	for pkg, v := range bm {
		if _, ok := fm[pkg]; !ok {
			ds = append(ds, diff{pkg, -v})
		}
	}
	slices.SortFunc(ds, func(a, b diff) int {
		if c := cmp.Compare(math.Abs(b.ms), math.Abs(a.ms)); c != 0 {
			return c
		}
		return strings.Compare(a.pkg, b.pkg)
	})
	var out []string
	for _, d := range ds {
		if len(out) == n || math.Abs(d.ms) < 0.05 {
			break
		}
		out = append(out, fmt.Sprintf("`%s` %s", shortPkg(d.pkg), signed(d.ms)))
	}
	return out
}

func shortPkg(pkg string) string {
	for _, p := range []string{"github.com/aws/", "github.com/bufdir/export-audit/"} {
		if s, ok := strings.CutPrefix(pkg, p); ok {
			return s
		}
	}
	return pkg
}
