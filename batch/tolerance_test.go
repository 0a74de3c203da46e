package batch

import (
	"testing"

	"github.com/imgbatch/imgbatch"
)

// TestToleranceBreaksOnlyForCertain: the early judge stops a run only when
// the failures it read break the tolerance even if every done shard it did
// not read succeeded. A cluster of failing shards (a bad prefix) among
// healthy ones must not stop the run; a run whose shards all fail stops.
func TestToleranceBreaksOnlyForCertain(t *testing.T) {
	tol := imgbatch.Tolerance{MinTasks: 100, MaxFailedPercent: 10}
	read := func(shards int, items, failed int64) *doneTally {
		d := &doneTally{}
		for i := range shards {
			d.add(&DoneMarker{Shard: i, Counts: imgbatch.Counts{Items: items, Failed: failed}})
		}
		return d
	}
	for _, c := range []struct {
		name       string
		tally      *doneTally
		doneShards int
		want       bool
	}{
		{"every shard read fails, no other shard done", read(5, 50, 50), 5, true},
		{"a failing cluster among 95 healthy done shards", read(5, 50, 50), 100, false},
		{"a failing cluster among 10 done shards", read(5, 50, 50), 10, true},
		{"fewer items read than MinTasks", read(1, 50, 50), 1, false},
		{"a low failure rate", read(10, 50, 2), 10, false},
	} {
		if got := c.tally.breaks(tol, c.doneShards, 50); got != c.want {
			t.Errorf("%s: breaks = %v, want %v", c.name, got, c.want)
		}
	}
	// MaxFailed is a count: failures read are failures, whatever else ran.
	if !read(5, 50, 50).breaks(imgbatch.Tolerance{MinTasks: 1000, MaxFailedPercent: 100, MaxFailed: 200}, 1000, 50) {
		t.Error("250 failures read did not break MaxFailed 200")
	}
}
