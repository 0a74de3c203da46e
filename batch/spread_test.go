package batch

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
)

// TestSpreadListing: the listings of a spread run (scanner ranges, the
// tolerance's count, the finalizer's and status's) find every claim and
// done marker in its range's folder, one LIST request per range and part
// — among them ranges 0 and 256, which share the folder 00.
func TestSpreadListing(t *testing.T) {
	srv, counter := startSimS3(t)
	s := &Store{S3: srv.Client, Bucket: "work"}
	ctx := context.Background()
	run := &imgbatch.Run{ID: "spread", Shards: 257_000, Layout: imgbatch.LayoutSpread}
	lay := imgbatch.LayoutOf(run)
	done := []int{0, 999, 1000, 1500, 256_000, 256_999}
	claims := []int{5, 1001, 256_001}
	for _, n := range done {
		srv.Put(t, "work", lay.Done(n), []byte("{}"))
	}
	for _, n := range claims {
		srv.Put(t, "work", lay.Claim(n), []byte("{}"))
	}
	listed := func() int64 { k := counter.snapshot(); return k["GET list:done 200"] + k["GET list:claims 200"] }

	var got []int
	if err := s.eachShardObject(ctx, run, "done", func(n int, _ time.Time) { got = append(got, n) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, done) {
		t.Errorf("done markers listed %v, want %v", got, done)
	}
	// 257 ranges, a page each (layout 0 would page through the same 257).
	if all := counter.total.Load() - int64(len(done)+len(claims)); all != 257 {
		t.Errorf("listing every range took %d requests, want 257", all)
	}

	before := listed()
	sc := newScanner(s, run, 0, 1)
	sc.cursor = 256 // the range that shares 00 with range 0
	st, err := sc.scan(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !sc.isDone[256_000] || !sc.isDone[256_999] || sc.isDone[0] {
		t.Error("the scan of range 256 did not mark exactly its done shards")
	}
	if _, ok := st.claimed[256_001]; !ok || len(st.claimed) != 1 {
		t.Errorf("the scan of range 256 saw claims %v, want only 256001", st.claimed)
	}
	if n := listed() - before; n != 2 {
		t.Errorf("a range scan took %d LIST requests, want 2 (done markers and claims)", n)
	}

	r := &Runner{Store: s}
	if n, err := r.countDone(ctx, run); err != nil || n != len(done) {
		t.Errorf("countDone = %d, %v; want %d", n, err, len(done))
	}
	sr := &StatusReader{Store: s, RunID: run.ID, run: run}
	claimed, err := sr.listShards(ctx, "claims", &RunStatus{})
	if err != nil || len(claimed) != len(claims) || !claimed[1001] {
		t.Errorf("status listed claims %v, %v; want %v", claimed, err, claims)
	}
}

// TestPlanLayout: a plan for SpreadWidth children or more spreads its run;
// narrower plans, and Layout -1, keep layout 0, which run.json then omits.
func TestPlanLayout(t *testing.T) {
	for _, c := range []struct{ width, layout, want int }{
		{1, 0, 0}, {SpreadWidth - 1, 0, 0}, {SpreadWidth, 0, imgbatch.LayoutSpread},
		{10_000, -1, 0}, {1, imgbatch.LayoutSpread, imgbatch.LayoutSpread},
	} {
		o := PlanOptions{Width: c.width, Layout: c.layout}
		if got := o.layoutFor(); got != c.want {
			t.Errorf("width %d, Layout %d: layout %d, want %d", c.width, c.layout, got, c.want)
		}
	}
	b, err := json.Marshal(imgbatch.Run{ID: "r"})
	if err != nil || strings.Contains(string(b), `"layout"`) {
		t.Errorf("run.json of layout 0 = %s, %v; want no layout field (old runs' hash and readers)", b, err)
	}
}
