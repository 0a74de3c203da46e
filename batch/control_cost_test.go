package batch

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/s3count"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// controlCost is what one fault-free run of the control plane cost: the
// requests that reached the work bucket, per item.
type controlCost struct {
	Items, Shards, Children int
	Requests                int64
	ByKind                  map[string]int64
	Wall                    time.Duration
	Summary                 Summary // summary.json: what the children counted
	Run                     imgbatch.Run
	Store                   *Store // the work bucket, to look at afterwards
}

func (c controlCost) PerItem() float64 { return float64(c.Requests) / float64(c.Items) }

// runControlCost plans shards×size items and lets children production-
// configured Runners (default checkpoints, heartbeats, control polls; a
// shorter Poll and lease; a zero-delay processor) work them to the end, counting every request to
// the work bucket after the plan.
func runControlCost(t testing.TB, children, shards, size, layout int) controlCost {
	t.Helper()
	srv, counter := startSimS3(t)
	ctx := context.Background()
	planStore := &Store{S3: newSimClient(srv.URL, newChildHTTPTransport()), Bucket: "work"}
	p := mustPlan(t, planStore, itemtest.NewSource(numberedItems("sim/%07d.jpg", shards*size)...),
		PlanOptions{OutputBucket: "out", Recipe: imgbatch.DefaultRecipe, ShardSize: size, Width: children, Layout: layout})
	c := controlCost{Run: p.Run, Store: planStore}
	planned := counter.total.Load()
	proc := &simProcessor{seen: map[string][]int64{}}
	note := &countingNotifier{}
	start := time.Now()
	log := simLog(t)
	var wg sync.WaitGroup
	for i := 0; i < children; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := newChildHTTPTransport()
			defer tr.CloseIdleConnections()
			count := &s3count.Counter{}
			count.SetWorkBucket("work")
			cl := s3test.NewClient(srv.URL, s3test.HTTPClient(&http.Client{Transport: tr}), simChecksums, count.Install)
			r := &Runner{Store: &Store{S3: cl, Bucket: "work"}, RunID: p.Run.ID,
				Me:        Identity{JobID: "cost", Index: i, ArraySize: children, Attempt: 1},
				Processor: proc, Notifier: note, Log: log.With("child", i), Linger: true, Requests: count,
				// The watchers look for the run's end every Poll (5 s by
				// default), and the one that finds the finalizer's lease
				// held waits until it could expire: a 10 s lease (2 min by
				// default) and looking more often cost a few requests more
				// (heartbeats every TTL/3, HEADs) and keep the test's time
				// from swinging by minutes.
				Poll: 250 * time.Millisecond, LeaseTTL: 10 * time.Second}
			if _, err := r.Run(ctx); err != nil {
				t.Errorf("child %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	c.Items, c.Shards, c.Children, c.Wall = shards*size, shards, children, time.Since(start)
	c.Requests, c.ByKind = counter.total.Load()-planned, counter.snapshot()
	if note.runs.Load() != 1 {
		t.Errorf("run finished %d times, want 1", note.runs.Load())
	}
	if _, err := planStore.GetJSON(ctx, imgbatch.Layout{RunID: p.Run.ID}.Summary(), &c.Summary); err != nil {
		t.Fatal(err)
	}
	return c
}

// simChecksums computes checksums only where S3 requires them, as
// newSimClient does.
func simChecksums(o *s3.Options) {
	o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
}

func (c controlCost) String() string {
	s := fmt.Sprintf("%d items in %d shards, %d children, %s: %d control requests = %.4f per item, %.1f per shard\n",
		c.Items, c.Shards, c.Children, c.Wall.Round(time.Millisecond), c.Requests, c.PerItem(), float64(c.Requests)/float64(c.Shards))
	keys := slices.Sorted(maps.Keys(c.ByKind))
	for _, k := range keys {
		s += fmt.Sprintf("  %-32s %8d\n", k, c.ByKind[k])
	}
	return s
}

// TestControlRequestsPerItem is issue 20's bar: a 100,000-item run in
// 200-item shards costs at most 0.05 control-plane requests per item.
func TestControlRequestsPerItem(t *testing.T) {
	children := 20
	if s := os.Getenv("IMGBATCH_COST_CHILDREN"); s != "" {
		children, _ = strconv.Atoi(s)
	}
	c := runControlCost(t, children, 500, 200, 0)
	t.Logf("%s", c)
	if c.PerItem() > 0.05 {
		t.Errorf("%.4f control requests per item, want <= 0.05", c.PerItem())
	}
	checkAccounting(t, c)
}

// checkAccounting compares what summary.json says the children asked of S3
// with what the server saw: a floor (requests after a child's last done
// marker, but the finalizer's, are not counted), not below 90% of it.
func checkAccounting(t *testing.T, c controlCost) {
	t.Helper()
	req := c.Summary.Requests
	if req == nil {
		t.Fatal("summary.json has no requests")
	}
	counted := req.Control.Total()
	t.Logf("summary.json: requests %+v, controlPerItem %.4f", *req, c.Summary.ControlPerItem)
	if counted > c.Requests || float64(counted) < 0.9*float64(c.Requests) {
		t.Errorf("summary.json counts %d control requests; the server saw %d", counted, c.Requests)
	}
	if req.Data.Total() != 0 {
		t.Errorf("summary.json counts %d data requests; the processor sent none", req.Data.Total())
	}
	if want := float64(counted) / float64(c.Items); c.Summary.ControlPerItem != want {
		t.Errorf("controlPerItem %.5f, want %.5f", c.Summary.ControlPerItem, want)
	}
}

// TestSpreadLayout runs 1,050 one-item shards (two ranges; 300 in one
// range with -short: a minute less on two busy cores, and
// TestSpreadListing covers many ranges) planned with the spread layout:
// every claim and done marker lies under its range's prefix (00, 80), none
// under layout 0's folders, and the run ends with every item in its
// summary.
func TestSpreadLayout(t *testing.T) {
	shards := 1050
	if testing.Short() {
		shards = 300
	}
	c := runControlCost(t, 10, shards, 1, imgbatch.LayoutSpread)
	t.Logf("%s", c)
	if c.Run.Layout != imgbatch.LayoutSpread {
		t.Fatalf("run.json layout %d, want %d", c.Run.Layout, imgbatch.LayoutSpread)
	}
	if c.Summary.Counts.Items != int64(shards) {
		t.Errorf("summary counts %d items, want %d", c.Summary.Counts.Items, shards)
	}
	lay, ctx := imgbatch.LayoutOf(&c.Run), context.Background()
	count := func(prefix string) int {
		n := 0
		if err := c.Store.List(ctx, prefix, func(string, int64) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, part := range []string{"claims", "done"} {
		in := 0
		for lo := 0; lo < shards; lo += imgbatch.SpreadRange {
			in += count(lay.SpreadDir(part, lo))
		}
		if in != shards {
			t.Errorf("%d %s objects under the ranges' prefixes, want %d", in, part, shards)
		}
		if n := count(imgbatch.Layout{RunID: c.Run.ID}.SpreadDir(part, 0)); n != 0 {
			t.Errorf("%d %s objects under layout 0's folder", n, part)
		}
	}
	if !testing.Short() && count(lay.SpreadDir("done", 1000)) != shards-1000 {
		t.Errorf("range 1 (%s) does not hold shards 1000…%d", lay.SpreadDir("done", 1000), shards-1)
	}
}
