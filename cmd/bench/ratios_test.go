package main

import (
	"strings"
	"testing"
)

// wantAll fails t for each of wants that text, named what, lacks.
func wantAll(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, text)
		}
	}
}

// fixture is a run with both baselines and two functions: a is as large as the size limit
// allows and as slow as the peer but twice the hello world; b is too large and fast.
func fixture() *results {
	bin := func(name string, arm64 int64) *binary {
		return &binary{name: name, size: map[string]int64{"arm64": arm64, "amd64": arm64 + 10}}
	}
	hello, peer, a, b := bin(helloName, 1000), bin(peerName, 1300), bin("a", 1400), bin("b", 1500)
	runs := func(init, invoke, second, load float64) []coldRun {
		c := coldRun{init: init, invoke: invoke, second: second, loadMs: load}
		return []coldRun{c, c, c}
	}
	probe := func(b *binary, toNext float64, pkgs map[string]float64) initProbe {
		p := initProbe{bin: b, toNext: []float64{toNext, toNext, toNext}, pkgs: map[string][]float64{}}
		for pkg, v := range pkgs {
			p.pkgs[pkg] = []float64{v, v, v}
		}
		return p
	}
	return &results{
		o:    options{cold: 3},
		bins: []*binary{hello, peer, a, b},
		cold: []coldResult{
			{bin: hello, runs: runs(8, 2, 1, -1)},
			{bin: peer, runs: runs(15, 5, 2, -1)},
			{bin: a, runs: runs(16, 4, 2.5, 0.5)},
			{bin: b, runs: runs(11, 3, 2, 0.4)},
		},
		probes: []initProbe{
			probe(hello, 7, map[string]float64{"runtime": 1}),
			probe(peer, 12, map[string]float64{"runtime": 1, "github.com/aws/aws-sdk-go-v2/service/sts/schemas": 2}),
			probe(a, 13, map[string]float64{"runtime": 1, "github.com/aws/aws-sdk-go-v2/service/dynamodb/schemas": 3,
				"github.com/bufdir/export-audit/pkg/store": 0.2}),
			probe(b, 9, map[string]float64{"runtime": 1}),
		},
	}
}

func TestRatioChecks_EachFunctionAgainstEachBaseline(t *testing.T) {
	t.Parallel()
	type key struct {
		target ratioTarget
		fn     string
	}
	want := map[key]struct {
		v   float64
		met bool
	}{
		{sizeTarget, "a"}:      {1.4, true}, // at the limit
		{sizeTarget, "b"}:      {1.5, false},
		{coldPeerTarget, "a"}:  {1.0, true}, // 20 ms against the peer's 20 ms
		{coldPeerTarget, "b"}:  {0.7, true},
		{coldHelloTarget, "a"}: {2.0, false}, // 20 ms against the hello world's 10 ms
		{coldHelloTarget, "b"}: {1.4, true},
	}
	checks := fixture().ratioChecks()
	if len(checks) != len(want) {
		t.Fatalf("%d checks, want %d (one per function and target, none for the baselines): %+v", len(checks), len(want), checks)
	}
	for _, c := range checks {
		w, ok := want[key{c.target, c.fn}]
		if !ok {
			t.Errorf("unexpected check %s of %s", c.target.name, c.fn)
			continue
		}
		if diff := c.v - w.v; diff > 1e-9 || diff < -1e-9 || c.met() != w.met {
			t.Errorf("%s of %s: %.3f met=%v, want %.3f met=%v", c.target.name, c.fn, c.v, c.met(), w.v, w.met)
		}
	}
}

func TestRatioCheck_MetAsPrinted(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v    float64
		want bool
	}{{0.99, true}, {1.0, true}, {1.004, true}, {1.006, false}, {1.25, false}} {
		if got := (ratioCheck{target: coldPeerTarget, v: c.v}).met(); got != c.want {
			t.Errorf("%.3f against ≤ 1.00×: met=%v, want %v", c.v, got, c.want)
		}
	}
}

func TestMarkdown_MarksEachRatioMetOrMissed(t *testing.T) {
	t.Parallel()
	md := fixture().markdown()
	wantAll(t, "the report", md,
		// Each function's ratios, each marked.
		"| function | size ÷ hello world (≤ 1.40×) | cold start ÷ peer (≤ 1.00×) | cold start ÷ hello world (≤ 1.50×) |",
		"| a | 1.40× met | 1.00× met | 2.00× **missed** |",
		"| b | 1.50× **missed** | 0.70× met | 1.40× met |",
		// The targets, each by its worst function.
		"| binary size, arm64, every function ÷ hello world | ≤ 1.40× | worst 1.50× (b); 1 of 2 functions met it | **missed** by 0.10 (7% over) |",
		"| cold start (init + first invoke), median, every function ÷ the peer | ≤ 1.00× | worst 1.00× (a); 2 of 2 functions met it | **met**, at the limit |",
		"| cold start (init + first invoke), median, every function ÷ hello world | ≤ 1.50× | worst 2.00× (a); 1 of 2 functions met it | **missed** by 0.50 (33% over) |",
		"- **Cold start ÷ hello world: 1 of 2 functions within 1.50×.** The slowest, a,",
	)
	for _, old := range []string{"≤ 1.25×", "≤ 1.60×"} {
		if strings.Contains(md, old) {
			t.Errorf("the report still has the old limit %s", old)
		}
	}
}

func TestGap_SaysWhereTheTimeGoes(t *testing.T) {
	t.Parallel()
	r := fixture()
	got := r.gap("a", peerName)
	wantAll(t, "gap", got,
		"Where the time goes, a − peer",
		"**init** +1.00 ms under the emulator (16.0 ms against 15.0 ms); +1.00 ms from process start to `/next`",
		// 4.2 ms of package init against 3 ms: the SDK's +1 ms, this service's +0.2 ms.
		"**package initialisation** +1.20 ms: AWS SDK and smithy-go +1.00 ms",
		"this service +0.20 ms",
		"`aws-sdk-go-v2/service/dynamodb/schemas` +3.00 ms, `aws-sdk-go-v2/service/sts/schemas` −2.00 ms, `pkg/store` +0.20 ms.",
		// 13 − 4.2 against 12 − 3.
		"`app.Load` 0.50 ms in a, `config.LoadDefaultConfig` and `dynamodb.NewFromConfig` in the peer) −0.20 ms.",
		// First invokes 4 and 5, second invokes 2.5 and 2.
		"**first invoke** −1.00 ms (4.00 ms against 5.00 ms)",
		"endpoint) −1.50 ms; the call's own work (the second invoke) +0.50 ms.",
	)
	// A missed target's reading says where the time goes.
	if md := r.markdown(); !strings.Contains(md, "Where the time goes, a − hello world") {
		t.Errorf("the reading of the missed cold start target does not break it down:\n%s", md)
	}
	r.probes = nil
	if got := r.gap("a", peerName); got != "" {
		t.Errorf("gap without init probes = %q, want nothing", got)
	}
}
