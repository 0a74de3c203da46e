package batch

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/imgbatch/imgbatch"
)

// A scan lists one range of a thousand shards per request pair, whatever
// else the run holds, and a round covers every range not known done.
func TestScannerRangesOverManyShards(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	run := &imgbatch.Run{ID: "scan", Shards: 2500}
	done := map[int]bool{}
	claimed := map[int]bool{}
	for n := 0; n < run.Shards; n++ {
		switch {
		case n%3 == 0 || (n >= 1000 && n < 2000): // range 1 all done
			done[n], claimed[n] = true, true
		case n%3 == 1:
			claimed[n] = true
		}
	}
	done[999], claimed[999] = true, true // the last key of range 0 and the first of range 2 edge the pages
	done[2000], claimed[2000] = true, true
	writeScanFixture(t, s, run, done, claimed)

	sc := newScanner(s, run, 0, 1)
	seenClaims := map[int]bool{}
	var undone []int
	scans := 0
	for !sc.wentRound() {
		st, err := sc.scan(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		scans++
		for n := range st.claimed {
			seenClaims[n] = true
		}
		undone = append(undone, st.undone...)
	}
	// Range 1 turns out all done from its done listing and is not listed for claims.
	if scans != 3 || sc.ndone != len(done) {
		t.Errorf("%d scans, %d shards known done; want 3 and %d", scans, sc.ndone, len(done))
	}
	for n := 0; n < run.Shards; n++ {
		if sc.isDone[n] != done[n] {
			t.Errorf("shard %d: done %v, want %v", n, sc.isDone[n], done[n])
		}
	}
	if len(undone) != run.Shards-len(done) {
		t.Errorf("%d undone shards listed, want %d", len(undone), run.Shards-len(done))
	}
	for _, n := range undone {
		if seenClaims[n] != claimed[n] {
			t.Errorf("shard %d: claim seen %v, want %v", n, seenClaims[n], claimed[n])
		}
	}
	// Another round starts from the ranges still open.
	sc.reset()
	if got := sc.openRanges(); got != 2 {
		t.Errorf("%d open ranges, want 2", got)
	}
}

// writeScanFixture writes the claims and done markers of run, and some
// shard files around them as in a real run.
func writeScanFixture(t *testing.T, s *Store, run *imgbatch.Run, done, claimed map[int]bool) {
	t.Helper()
	lay := imgbatch.Layout{RunID: run.ID}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for n := 0; n < run.Shards; n++ {
		g.Go(func() error {
			mu.Lock()
			d, c := done[n], claimed[n]
			mu.Unlock()
			if c {
				if _, err := s.Put(gctx, lay.Claim(n), []byte("{}"), "application/json", Cond{}); err != nil {
					return err
				}
			}
			if d {
				if _, err := s.Put(gctx, lay.Done(n), []byte("{}"), "application/json", Cond{}); err != nil {
					return err
				}
			}
			if n%50 != 0 {
				return nil
			}
			// Objects around the listed ones, as in a real run.
			_, err := s.Put(gctx, lay.Shard(n), []byte("{}\n"), "application/x-ndjson", Cond{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestStrideOrderGivesEachChildItsOwnShardsFirst(t *testing.T) {
	cs := make([]candidate, 10)
	for i := range cs {
		cs[i] = candidate{n: i}
	}
	first := map[int]int{}
	for child := 0; child < 4; child++ {
		o := strideOrder(cs, child, 4)
		if len(o) != 10 {
			t.Fatalf("child %d: %d candidates, want 10", child, len(o))
		}
		seen := map[int]bool{}
		for _, c := range o {
			if seen[c.n] {
				t.Fatalf("child %d tries %d twice", child, c.n)
			}
			seen[c.n] = true
		}
		for _, c := range o[:(10-child+3)/4] { // its residue class
			if c.n%4 != child {
				t.Errorf("child %d starts with %d", child, c.n)
			}
			first[c.n]++
		}
	}
	if len(first) != 10 {
		t.Errorf("the children's first tries cover %d of 10 shards", len(first))
	}
}
