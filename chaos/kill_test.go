package chaos

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/s3fault"
)

// datasetSize is the number of generated photos of the chaos runs.
func datasetSize() int {
	if long {
		return 120
	}
	return 30
}

// seeds returns the seeds of a chaos test: few in CI, many in the long run.
func seeds(ci, longN int) []uint64 {
	n := ci
	if long {
		n = longN
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(1000 + i)
	}
	return out
}

// TestCleanRunMatchesItsManifest is the reference every other run is held
// to, checked on its own: gofakes3 on disk (as `imgbatch local` runs it).
func TestCleanRunMatchesItsManifest(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	res := run(t, runSpec{backend: diskS3, data: ds})
	check(t, res, ref)
}

// TestKilledChildren: children SIGKILLed at random moments and at chosen S3
// requests, and SIGTERMed with a short grace (Spot reclaims), every attempt
// but the retry strategy's last; the run loses nothing and makes the same
// outputs as a clean run.
func TestKilledChildren(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	disturbed := 0
	for _, seed := range seeds(2, 12) {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			res := run(t, runSpec{backend: memS3, data: ds, seed: seed,
				chaos: &chaosPlan{Seed: seed, Rate: 0.8, MaxDelay: 2500 * time.Millisecond, TermShare: 0.25, TriggerShare: 0.45, StopTimeout: 3 * time.Second}})
			check(t, res, ref)
			for _, a := range res.attempts {
				if a.disturbance != "" {
					disturbed++
				}
			}
		})
	}
	// A seed may spare every child (a timed kill can come after the child
	// ended); all of them together may not.
	if disturbed == 0 {
		t.Errorf("no child was disturbed: the chaos did not happen")
	}
}

// TestKillAtEveryPhase kills children at each S3 request that marks a
// phase of the work, so every phase is hit in CI, not only when the seeds
// happen to pick it. First run: the first two attempts of each of three
// children are armed with a different phase (mid-download, mid-upload,
// right after a claim, after a checkpoint, between results file and done
// marker, after the done marker). Second run: every first attempt is
// armed for finalization (report, summary or final marker being written);
// one child finalizes, dies there, and its retry must finish the job.
// Checkpoints get a run of their own with long shards.
func TestKillAtEveryPhase(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	plans := []struct {
		name             string
		width, shardSize int
		arm              map[string]string // app id -> phase
		env              []string
	}{
		{"work", 3, 4, map[string]string{"i0a1": "download", "i0a2": "upload", "i1a1": "claimed", "i2a1": "results", "i2a2": "done"}, nil},
		// Checkpoints every 25 results (by default they go by time, 10 s):
		// shards of 30 have one before they end, and the retry resumes from it.
		{"checkpoint", 2, 30, map[string]string{"i0a1": "checkpoint", "i1a1": "checkpoint"}, []string{"IMGBATCH_CHECKPOINT_EVERY=25"}},
		{"finalize", 3, 4, map[string]string{"i0a1": "finalize", "i1a1": "finalize", "i2a1": "finalize"}, nil},
	}
	for _, pl := range plans {
		t.Run(pl.name, func(t *testing.T) {
			res := run(t, runSpec{backend: memS3, data: ds, width: pl.width, shardSize: pl.shardSize, childEnv: pl.env,
				onStart: func(h *harness, a localAttempt) {
					id := appID(a.Index, a.Attempt)
					if phase, ok := pl.arm[id]; ok {
						h.mu.Lock()
						h.triggers[id] = &trigger{phase: phase, n: 1}
						h.mu.Unlock()
					}
				}})
			check(t, res, ref)
			fired := map[string]bool{}
			for _, a := range res.attempts {
				if _, p, ok := strings.Cut(a.disturbance, "phase:"); ok {
					fired[p] = true
				}
			}
			for _, phase := range pl.arm {
				if !fired[phase] {
					t.Errorf("no child was killed at %s (attempts: %+v)", phase, res.attempts)
				}
			}
		})
	}
}

// TestSpotReclaimMidShard SIGTERMs every first attempt at its third
// output upload (its first item is done), in the middle of a shard, as a Spot reclaim does: each
// must stop taking work, checkpoint and exit 75 (before the stop timeout's
// SIGKILL); the retries finish the run. "past-grace" holds the first
// attempts' output uploads for 3 s from the SIGTERM on, so that work is
// still in flight when the 1 s grace ends; "claim-in-flight" SIGTERMs at
// the second claim and holds that request past the grace.
func TestSpotReclaimMidShard(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	for _, tc := range []struct {
		name  string
		phase string
		n     int
		stall bool
	}{{"within-grace", "upload", 3, false}, {"past-grace", "upload", 3, true}, {"claim-in-flight", "claim", 2, true}} {
		t.Run(tc.name, func(t *testing.T) {
			spec := runSpec{backend: memS3, data: ds, width: 3,
				onStart: func(h *harness, a localAttempt) {
					if a.Attempt == 1 {
						h.mu.Lock()
						h.triggers[appID(a.Index, a.Attempt)] = &trigger{phase: tc.phase, n: tc.n, term: true}
						h.mu.Unlock()
					}
				}}
			if tc.stall && tc.phase == "claim" {
				// The SIGTERMed request, a claim, hangs past the grace.
				var mu sync.Mutex
				claims := map[string]int{}
				spec.before = func(h *harness, r *s3fault.Request) {
					if !phases["claim"].match(r) || !strings.HasSuffix(r.AppID, "a1") {
						return
					}
					mu.Lock()
					claims[r.AppID]++
					n := claims[r.AppID]
					mu.Unlock()
					if n == tc.n {
						time.Sleep(3 * time.Second)
					}
				}
			} else if tc.stall {
				// From the SIGTERM on, the first attempts' uploads hang 3 s:
				// results made before it are not checkpointed yet when the
				// grace ends with work in flight.
				var mu sync.Mutex
				uploads := map[string]int{}
				spec.before = func(h *harness, r *s3fault.Request) {
					if r.Bucket != outBucket || r.Kind != s3fault.KindPut || !strings.HasSuffix(r.AppID, "a1") {
						return
					}
					mu.Lock()
					uploads[r.AppID]++
					n := uploads[r.AppID]
					mu.Unlock()
					if n >= 3 {
						time.Sleep(3 * time.Second)
					}
				}
			}
			res := run(t, spec)
			check(t, res, ref) // includes: a SIGTERMed child exits 75 (or 0)
			termed := 0
			for _, a := range res.attempts {
				if strings.HasPrefix(a.disturbance, "term@") {
					termed++
					if a.exitCode != 75 && a.exitCode != 0 {
						t.Errorf("child %s: exit %d after SIGTERM (%s)", a.appID, a.exitCode, a.disturbance)
					}
				}
			}
			if termed == 0 {
				t.Error("no child was SIGTERMed mid-shard")
			}
		})
	}
}
