package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/s3fault"
)

// moderateFaults are the rates of the fault runs: every kind of fault on
// every kind of request, a few percent each.
func moderateFaults() map[s3fault.Kind]s3fault.Rates {
	scale := 1.0
	if long {
		scale = 2
	}
	// Truncation is not scaled: the worker reads a source body 5 times
	// before it fails the item (S3Error); with resets and lost answers
	// also cutting bodies, the odds of such a row stay far below one per
	// long run (3 attempts were not enough: one in 1,240 items).
	r := func(m s3fault.Rates) s3fault.Rates {
		for k := range m {
			if k != s3fault.Truncate {
				m[k] *= scale
			}
		}
		return m
	}
	return map[s3fault.Kind]s3fault.Rates{
		s3fault.KindGet: r(s3fault.Rates{s3fault.InternalError: 0.03, s3fault.SlowDown: 0.03, s3fault.Reset: 0.02,
			s3fault.LostResponse: 0.02, s3fault.Stall: 0.01, s3fault.Truncate: 0.03}),
		s3fault.KindPut: r(s3fault.Rates{s3fault.InternalError: 0.03, s3fault.SlowDown: 0.03, s3fault.Conflict: 0.04,
			s3fault.Reset: 0.02, s3fault.LostResponse: 0.03, s3fault.Stall: 0.01}),
		s3fault.KindHead: r(s3fault.Rates{s3fault.InternalError: 0.03, s3fault.SlowDown: 0.03, s3fault.Reset: 0.02,
			s3fault.LostResponse: 0.02, s3fault.Stall: 0.01}),
		s3fault.KindList: r(s3fault.Rates{s3fault.InternalError: 0.03, s3fault.SlowDown: 0.03, s3fault.Reset: 0.02,
			s3fault.LostResponse: 0.02, s3fault.Stall: 0.01, s3fault.Truncate: 0.03}),
	}
}

// answerFaults are moderateFaults without truncated bodies: for tests
// about something else that need the run to finish whatever the state of
// the body-retry fixes (TestEachFaultAlone/Truncate covers truncation).
func answerFaults() map[s3fault.Kind]s3fault.Rates {
	m := moderateFaults()
	for _, r := range m {
		delete(r, s3fault.Truncate)
	}
	return m
}

// scaled multiplies every rate by f.
func scaled(m map[s3fault.Kind]s3fault.Rates, f float64) map[s3fault.Kind]s3fault.Rates {
	for _, r := range m {
		for k := range r {
			r[k] *= f
		}
	}
	return m
}

// TestS3Faults: runs through the fault proxy complete with the same
// outcomes and outputs as a clean run.
func TestS3Faults(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	for _, seed := range seeds(2, 10) {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			res := run(t, runSpec{backend: memS3, data: ds, seed: seed, rates: moderateFaults(), stall: 1500 * time.Millisecond})
			check(t, res, ref)
			if res.h.proxy.Total() == 0 {
				t.Errorf("no fault injected: %s", res.h.proxy.Summary())
			}
		})
	}
}

// TestEachFaultAlone puts one kind of fault on every kind of request at a
// high rate, so a failure names its cause.
func TestEachFaultAlone(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	for _, f := range s3fault.Faults {
		t.Run(string(f), func(t *testing.T) {
			rate := 0.08
			if long || f == s3fault.Conflict {
				// 409 applies to conditional PUTs only (about 40 in a short
				// run): at 8 % one run in 30 drew none of them.
				rate = 0.2
			}
			rates := map[s3fault.Kind]s3fault.Rates{}
			for _, k := range []s3fault.Kind{s3fault.KindGet, s3fault.KindPut, s3fault.KindHead, s3fault.KindList} {
				rates[k] = s3fault.Rates{f: rate}
			}
			if f == s3fault.Stall {
				rates = map[s3fault.Kind]s3fault.Rates{s3fault.KindGet: {f: 0.05}, s3fault.KindPut: {f: 0.05}}
			}
			res := run(t, runSpec{backend: memS3, data: ds, seed: 77, rates: rates, stall: time.Second})
			check(t, res, ref)
			if res.h.proxy.Total() == 0 {
				t.Errorf("no %s injected: %s", f, res.h.proxy.Summary())
			}
		})
	}
}

// TestTruncatedSourceGets cuts a third of the source images' GET bodies
// short (and nothing else): the worker must notice every one (the SDK
// reads fewer bytes than Content-Length and fails the read) and fetch
// again. No image may come from a short body: every output is the clean
// run's, byte for byte. An item whose every read was cut (five in a row,
// 0.3⁵ ≈ 0.2 % of items here) may fail, but only as S3Error after its
// retries, never as a corrupt image.
func TestTruncatedSourceGets(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	res := run(t, runSpec{backend: memS3, data: ds, seed: 9, transientOK: true,
		rates:    map[s3fault.Kind]s3fault.Rates{s3fault.KindGet: {s3fault.Truncate: 0.3}},
		eligible: func(r *s3fault.Request) bool { return r.Bucket == srcBucket }})
	check(t, res, ref)
	n := res.h.proxy.Injected()[s3fault.KindGet][s3fault.Truncate]
	failed := 0
	for _, row := range res.report {
		if row[3] == "failed" && row[4] == "S3Error" {
			failed++
			if !strings.Contains(row[6], "attempts") {
				t.Errorf("%s failed without retries: %q", row[1], row[6])
			}
		}
	}
	if n == 0 || n < int64(5*failed) {
		t.Errorf("%d truncations injected, %d items failed for them: each failure must follow 5 cut reads", n, failed)
	}
	t.Logf("%d truncated source reads, %d items failed after 5 cut reads", n, failed)
}

// TestKillsAndFaults: both at once — children killed and SIGTERMed while
// S3 misbehaves.
func TestKillsAndFaults(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	for _, seed := range seeds(1, 8) {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			res := run(t, runSpec{backend: memS3, data: ds, seed: seed, rates: moderateFaults(), stall: time.Second,
				chaos: &chaosPlan{Seed: seed, Rate: 0.7, MaxDelay: 3 * time.Second, TermShare: 0.3, TriggerShare: 0.4, StopTimeout: 3 * time.Second}})
			check(t, res, ref)
		})
	}
}
