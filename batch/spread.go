package batch

import (
	"context"
	"fmt"
	"time"

	"github.com/imgbatch/imgbatch"
)

// Listing the shard-numbered objects (claims, done markers) of a run of
// either layout (imgbatch.LayoutSpread: each range of SpreadRange shards
// under its own prefix). A spread run costs no more LIST requests than
// one of layout 0: one page per range of 1,000 shards either way.

// spreadLayout reports whether run uses the spread layout.
func spreadLayout(run *imgbatch.Run) bool { return run.Layout >= imgbatch.LayoutSpread }

// listSpreadRange lists part's keys of shards [lo, hi) of a spread run: the
// range's folder from the key after shard lo-1's. The folder holds the
// range's keys in shard order (and those of a range 256 further on, which
// sort after them): one page, unless a run of over a million shards mixes
// six- and seven-digit numbers there, when it pages on past the range's
// last key.
func (s *Store) listSpreadRange(ctx context.Context, run *imgbatch.Run, part string, lo, hi int, fn func(n int, modified time.Time)) error {
	dir := imgbatch.LayoutOf(run).SpreadDir(part, lo)
	after := ""
	if lo > 0 {
		after = fmt.Sprintf("%s%06d.json", dir, lo-1)
	}
	last := fmt.Sprintf("%s%06d.json", dir, hi-1)
	for {
		seen := ""
		more, err := s.ListPage(ctx, dir, after, scanRange, func(key string, mod time.Time) {
			seen = key
			if n, ok := shardOf(key); ok && n >= lo && n < hi {
				fn(n, mod)
			}
		})
		if err != nil || !more || seen == "" || seen >= last {
			return err
		}
		after = seen
	}
}

// eachShardObject calls fn for every object of part (claims, done) of the
// run's shards: under layout 0 one listing of the part's folder, under the
// spread layout one per range.
func (s *Store) eachShardObject(ctx context.Context, run *imgbatch.Run, part string, fn func(n int, modified time.Time)) error {
	if !spreadLayout(run) {
		return s.ListDetailed(ctx, imgbatch.LayoutOf(run).SpreadDir(part, 0), func(key string, mod time.Time) error {
			if n, ok := shardOf(key); ok {
				fn(n, mod)
			}
			return nil
		})
	}
	for lo := 0; lo < run.Shards; lo += imgbatch.SpreadRange {
		if err := s.listSpreadRange(ctx, run, part, lo, min(lo+imgbatch.SpreadRange, run.Shards), fn); err != nil {
			return err
		}
	}
	return nil
}

// SpreadWidth is the array width from which a plan spreads its run's
// control objects (imgbatch.LayoutSpread). A child sends about 5 control
// writes per shard (claim, results, done marker and its outbox update,
// the checkpoints and heartbeats of a long shard); with shards of ~10 s,
// 7,000 children would fill S3's 3,500 writes a second of one partition.
// The spread puts the wave of shards an array works at once (its width)
// over width/1,000 prefixes; from 1,000 children on it is worth its one
// difference: people browsing the work bucket find a shard's objects
// under its range's two hex digits.
const SpreadWidth = 1000

// layoutFor is the layout version of a run planned with o.
func (o *PlanOptions) layoutFor() int {
	if o.Layout != 0 {
		return max(o.Layout, 0)
	}
	if o.Width >= SpreadWidth {
		return imgbatch.LayoutSpread
	}
	return 0
}
