package batch

import (
	"context"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imgbatch/imgbatch"
)

// scanRange is how many shards one LIST request covers: shard keys are
// zero-padded to six digits and sort by number, so the keys of shards
// k*1000 … k*1000+999 are the first page after the key of shard k*1000-1.
const scanRange = imgbatch.SpreadRange

// maxRangedShards is where ranged listing stops working (seven-digit shard
// numbers no longer sort with the six-digit ones); beyond it a scan lists
// everything.
const maxRangedShards = 1_000_000

// scanner keeps what a child knows of a run's shards between scans. Done
// markers are write-once, so a shard once seen done stays done and its
// range is not listed again. A scan lists one range (two LIST requests:
// done markers and claims), going round the ranges that are not all done,
// each child from its own place: a child looking for work stops at the
// first range that has some, and in the tail of a run there are only a
// handful of open ranges to go round.
type scanner struct {
	store  *Store
	run    *imgbatch.Run
	isDone []bool
	ndone  int
	cursor int // next range to list
	// since the last reset (progress or idle wait): the ranges listed and
	// the earliest a claim seen could expire
	scanned    []bool
	nextExpiry time.Time
	tally      doneTally // the done markers' counts, for the early stop (tolerance.go)
}

// scanBatch is how many ranges a scan lists.
const scanBatch = 1

// newScanner starts child index of stealers (the children that scan) at
// its own place among the ranges.
func newScanner(s *Store, run *imgbatch.Run, index, stealers int) *scanner {
	sc := &scanner{store: s, run: run, isDone: make([]bool, run.Shards)}
	sc.scanned = make([]bool, sc.ranges())
	if nr := sc.ranges(); nr > 0 && stealers > 0 {
		sc.cursor = index * nr / stealers % nr
	}
	return sc
}

func (sc *scanner) markDone(n int) {
	if n >= 0 && n < len(sc.isDone) && !sc.isDone[n] {
		sc.isDone[n] = true
		sc.ndone++
	}
}

func (sc *scanner) allDone() bool { return sc.ndone == sc.run.Shards }

// ranges is the number of ranges (1 for runs too large for ranged lists:
// those of layout 0).
func (sc *scanner) ranges() int {
	if sc.unranged() {
		return 1
	}
	return (sc.run.Shards + scanRange - 1) / scanRange
}

// bounds are the shards of range k.
func (sc *scanner) bounds(k int) (lo, hi int) {
	if sc.unranged() {
		return 0, sc.run.Shards
	}
	return k * scanRange, min((k+1)*scanRange, sc.run.Shards)
}

// unranged reports whether the run is listed whole: a run of layout 0
// over maxRangedShards (a spread run keeps each range apart).
func (sc *scanner) unranged() bool {
	return sc.run.Shards > maxRangedShards && !spreadLayout(sc.run)
}

// open reports whether range k holds a shard not known to be done.
func (sc *scanner) open(k int) bool {
	lo, hi := sc.bounds(k)
	for n := lo; n < hi; n++ {
		if !sc.isDone[n] {
			return true
		}
	}
	return false
}

// openRanges counts the ranges not known to be all done (for tests and logs).
func (sc *scanner) openRanges() int {
	c := 0
	for k := 0; k < sc.ranges(); k++ {
		if sc.open(k) {
			c++
		}
	}
	return c
}

// listRange lists the keys under dir/ of range k's shards in one request:
// the page of scanRange keys after the key of the shard before the range.
// Keys sort by shard number, so that page holds every key of the range
// (and maybe some of the next, passed on too). Runs too large for ranges
// list dir/ whole.
func (sc *scanner) listRange(ctx context.Context, dir string, k int, key func(int) string, fn func(n int, modified time.Time)) error {
	if spreadLayout(sc.run) {
		lo, hi := sc.bounds(k)
		return sc.store.listSpreadRange(ctx, sc.run, path.Base(dir), lo, hi, fn)
	}
	visit := func(k string, mod time.Time) {
		if n, ok := shardOf(k); ok && n >= 0 && n < sc.run.Shards {
			fn(n, mod)
		}
	}
	if sc.run.Shards > maxRangedShards {
		return sc.store.ListDetailed(ctx, dir, func(k string, mod time.Time) error { visit(k, mod); return nil })
	}
	after := ""
	if lo, _ := sc.bounds(k); lo > 0 {
		after = key(lo - 1)
	}
	_, err := sc.store.ListPage(ctx, dir, after, scanRange, visit)
	return err
}

// scanState is one scan: the shards not done of the ranges listed, and
// their claims.
type scanState struct {
	undone  []int
	claimed map[int]time.Time // shard -> last write of its claim (S3 LastModified)
}

func shardOf(key string) (int, bool) {
	base := key[strings.LastIndexByte(key, '/')+1:]
	base = strings.TrimSuffix(base, ".json")
	n, err := strconv.Atoi(base)
	return n, err == nil
}

// scan lists the done markers and the claims of the next scanBatch open
// ranges.
func (sc *scanner) scan(ctx context.Context, ttl time.Duration) (*scanState, error) {
	lay := imgbatch.LayoutOf(sc.run)
	st := &scanState{claimed: map[int]time.Time{}}
	nr := sc.ranges()
	for listed, tried := 0, 0; listed < scanBatch && tried < nr && !sc.allDone(); tried++ {
		k := sc.cursor % max(nr, 1)
		sc.cursor = (k + 1) % max(nr, 1)
		if !sc.open(k) {
			continue
		}
		listed++
		sc.scanned[k] = true
		if err := sc.listRange(ctx, lay.DonePrefix(), k, lay.Done, func(n int, _ time.Time) { sc.markDone(n) }); err != nil {
			return nil, err
		}
		if !sc.open(k) {
			continue
		}
		lo, hi := sc.bounds(k)
		if err := sc.listRange(ctx, lay.ClaimsPrefix(), k, lay.Claim, func(n int, mod time.Time) {
			if n >= lo && n < hi && !sc.isDone[n] {
				st.claimed[n] = mod
				if t := mod.Add(ttl); sc.nextExpiry.IsZero() || t.Before(sc.nextExpiry) {
					sc.nextExpiry = t
				}
			}
		}); err != nil {
			return nil, err
		}
		for n := lo; n < hi; n++ {
			if !sc.isDone[n] {
				st.undone = append(st.undone, n)
			}
		}
	}
	return st, nil
}

// wentRound reports whether the scans since the last reset listed every
// range that is not known to be all done.
func (sc *scanner) wentRound() bool {
	for k := range sc.scanned {
		if !sc.scanned[k] && sc.open(k) {
			return false
		}
	}
	return true
}

// reset starts a new round.
func (sc *scanner) reset() {
	clear(sc.scanned)
	sc.nextExpiry = time.Time{}
}

// candidate is a shard to try; fresh when no claim of it was seen.
type candidate struct {
	n     int
	fresh bool
}

// claimable lists shards not done whose claim looks expired, then those
// never claimed from the last down (Acquire checks the lease itself before
// taking it). Expired leases come first: their owners are gone. Unclaimed
// shards are another child's own slots not reached yet; taking the last of
// them leaves that child its next ones.
func (s *scanState) claimable(now time.Time, ttl time.Duration) []candidate {
	var expired, unclaimed []candidate
	for _, n := range s.undone {
		mod, ok := s.claimed[n]
		switch {
		case !ok:
			unclaimed = append(unclaimed, candidate{n: n, fresh: true})
		case now.Sub(mod) > ttl:
			expired = append(expired, candidate{n: n})
		}
	}
	for i, j := 0, len(unclaimed)-1; i < j; i, j = i+1, j-1 {
		unclaimed[i], unclaimed[j] = unclaimed[j], unclaimed[i]
	}
	return append(expired, unclaimed...)
}

// lookDone learns which shards turned done since the last look, for a
// watcher waiting for the run's end: one LIST of the done markers of the
// range that holds the first shard not known done. Shards end in any
// order: a watcher that asked one HEAD at a time, in shard order, took
// tens of seconds after a busy tail to see that the last one was done
// (the gap before final.json). A run listed whole (layout 0, over
// maxRangedShards) is asked with HEADs in order, as many as turn out done
// (at most maxEndHeads).
func (sc *scanner) lookDone(ctx context.Context) error {
	first := slices.Index(sc.isDone, false)
	if first < 0 {
		return nil
	}
	lay := imgbatch.LayoutOf(sc.run)
	if !sc.unranged() {
		k := first / scanRange
		return sc.listRange(ctx, lay.DonePrefix(), k, lay.Done, func(n int, _ time.Time) { sc.markDone(n) })
	}
	for n, heads := first, 0; n < len(sc.isDone) && heads < maxEndHeads; n++ {
		if sc.isDone[n] {
			continue
		}
		heads++
		done, err := sc.store.Exists(ctx, lay.Done(n))
		if err != nil || !done {
			return err
		}
		sc.markDone(n)
	}
	return nil
}
