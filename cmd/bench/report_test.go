package main

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDist_PercentileIsNearestRank(t *testing.T) {
	t.Parallel()
	var d dist
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := d.pct(c.p); got != c.want {
			t.Errorf("p%v of 1..100 ms: got %v, want %v", c.p, got, c.want)
		}
	}
}

func TestItemSize_CountsAsDynamoDB(t *testing.T) {
	t.Parallel()
	item := json.RawMessage(`{"pk":{"S":"ORG#a"},"n":{"N":"-0123.40"},"ok":{"BOOL":true},"h":{"L":[{"M":{"at":{"S":"x"}}}]}}`)
	// pk 2+5; n 1 + (4 significant digits: 2 bytes) + 1; ok 2+1; h 1 + 3 + (1 + 3 + (1+2+1)).
	want := 7 + 4 + 3 + 1 + 3 + 1 + 3 + 4
	if got := itemSize(item); got != want {
		t.Errorf("itemSize = %d, want %d", got, want)
	}
}

func TestBenchLine_ParsesGoTestOutput(t *testing.T) {
	t.Parallel()
	m := benchRe.FindStringSubmatch("BenchmarkHandler/file-url-2   \t     200\t    995316 ns/op\t   49440 B/op\t     581 allocs/op")
	if m == nil || m[1] != "Handler" || m[2] != "file-url" || m[3] != "995316" || m[4] != "49440" || m[5] != "581" {
		t.Errorf("parsed %q", m)
	}
}

func TestVerdict_SaysByHowMuch(t *testing.T) {
	t.Parallel()
	if got, want := verdict(1.2, 1.25), "**met** (0.05 under)"; got != want {
		t.Errorf("verdict(1.2, 1.25) = %q, want %q", got, want)
	}
	if got, want := verdict(1.5, 1.25), "**missed** by 0.25 (20% over)"; got != want {
		t.Errorf("verdict(1.5, 1.25) = %q, want %q", got, want)
	}
}
