package batch

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/imgbatch/imgbatch"
)

// Source yields manifest items; io.EOF ends it.
type Source interface {
	Next() (imgbatch.Item, error)
}

// PlanOptions configure planning a run.
type PlanOptions struct {
	ClientToken  string // same token, same run: a repeated submit returns the existing run
	Source       string // where the items came from, for run.json
	OutputBucket string
	OutputPrefix string
	Recipe       imgbatch.Recipe
	ShardSize    int   // items per shard (default 200)
	ShardBytes   int64 // also cut a shard once it holds this many source bytes (0 = no limit)
	Width        int   // array width the run is planned for (informational; children claim until none is left)
	Tolerance    imgbatch.Tolerance
	// IsBadLine tells a malformed manifest line (counted, reported, skipped)
	// from a fatal read error.
	IsBadLine   func(error) bool
	MaxBadLines int64 // stop planning once more lines than this are malformed (0 = no limit)
	DryRun      bool  // count and size, write nothing
	Now         func() time.Time
}

// Plan is the outcome of planning.
type Plan struct {
	Run      imgbatch.Run
	BadLines []string // the first malformed lines, with their numbers and reasons
	Existing bool     // the client token named a run that was already planned
}

// maxBadLinesKept bounds the malformed lines kept for the bad-lines report.
const maxBadLinesKept = 1000

// NewRunID makes a run id: deterministic from a client token, else time-ordered and random.
func NewRunID(token string, now time.Time) string {
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		return "t-" + hex.EncodeToString(sum[:8])
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102t150405z") + "-" + hex.EncodeToString(b[:])
}

// PlanRun streams items from src into shard files and writes run.json last:
// a run exists once its run.json does, and run.json is written once
// (If-None-Match), so two submits with one client token make one run.
func (s *Store) PlanRun(ctx context.Context, src Source, o PlanOptions) (*Plan, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ShardSize <= 0 {
		o.ShardSize = 200
	}
	if o.Width <= 0 {
		o.Width = 1
	}
	if o.Tolerance == (imgbatch.Tolerance{}) {
		o.Tolerance = imgbatch.DefaultTolerance
	}
	if err := o.Recipe.Normalize(); err != nil {
		return nil, err
	}
	now := o.Now()
	runID := NewRunID(o.ClientToken, now)
	lay := imgbatch.Layout{RunID: runID}
	if o.ClientToken != "" && !o.DryRun {
		var existing imgbatch.Run
		if _, err := s.GetJSON(ctx, lay.Run(), &existing); err == nil {
			return &Plan{Run: existing, Existing: true}, nil
		} else if !IsNotFound(err) {
			return nil, err
		}
	}
	run := imgbatch.Run{
		ID: runID, ClientToken: o.ClientToken, CreatedAt: now.UTC(), Source: o.Source,
		WorkBucket: s.Bucket, OutputBucket: o.OutputBucket, OutputPrefix: o.OutputPrefix,
		Recipe: o.Recipe, RecipeHash: o.Recipe.Hash(), ShardSize: o.ShardSize, Width: o.Width,
		Tolerance: o.Tolerance,
	}
	plan := &Plan{}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	var buf bytes.Buffer
	var inShard int
	var shardBytes int64
	flush := func() {
		if inShard == 0 {
			return
		}
		n := run.Shards
		run.Shards++
		body := append([]byte(nil), buf.Bytes()...)
		buf.Reset()
		inShard, shardBytes = 0, 0
		if o.DryRun {
			return
		}
		g.Go(func() error {
			_, err := s.Put(gctx, lay.Shard(n), body, "application/x-ndjson", Cond{})
			return err
		})
	}
	enc := json.NewEncoder(&buf)
	for {
		if err := gctx.Err(); err != nil {
			break
		}
		it, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if o.IsBadLine != nil && o.IsBadLine(err) {
				run.BadLines++
				if len(plan.BadLines) < maxBadLinesKept {
					plan.BadLines = append(plan.BadLines, err.Error())
				}
				if o.MaxBadLines > 0 && run.BadLines > o.MaxBadLines {
					_ = g.Wait()
					return nil, fmt.Errorf("manifest has more than %d malformed lines (last: %v); fix the manifest or raise --max-bad-lines", o.MaxBadLines, err)
				}
				continue
			}
			_ = g.Wait()
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		if err := enc.Encode(it); err != nil {
			return nil, err
		}
		run.Items++
		run.Bytes += it.Size
		inShard++
		shardBytes += it.Size
		if inShard >= o.ShardSize || (o.ShardBytes > 0 && shardBytes >= o.ShardBytes) {
			flush()
		}
	}
	flush()
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("write shards: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	plan.Run = run
	if o.DryRun {
		return plan, nil
	}
	if len(plan.BadLines) > 0 {
		body := strings.Join(plan.BadLines, "\n") + "\n"
		if _, err := s.Put(ctx, lay.Prefix()+"bad-lines.txt", []byte(body), "text/plain", Cond{}); err != nil {
			return nil, err
		}
	}
	if _, err := s.PutJSON(ctx, lay.Run(), run, Cond{IfNoneMatch: true}); err != nil {
		if errors.Is(err, ErrConflict) {
			var existing imgbatch.Run
			if _, gerr := s.GetJSON(ctx, lay.Run(), &existing); gerr != nil {
				return nil, gerr
			}
			return &Plan{Run: existing, Existing: true}, nil
		}
		return nil, err
	}
	return plan, nil
}

// LoadRun reads run.json.
func (s *Store) LoadRun(ctx context.Context, runID string) (*imgbatch.Run, error) {
	var run imgbatch.Run
	if _, err := s.GetJSON(ctx, imgbatch.Layout{RunID: runID}.Run(), &run); err != nil {
		if IsNotFound(err) {
			return nil, fmt.Errorf("run %q not found in s3://%s (no run.json): %w", runID, s.Bucket, err)
		}
		return nil, err
	}
	return &run, nil
}

// LoadShard reads the items of shard n.
func (s *Store) LoadShard(ctx context.Context, runID string, n int) ([]imgbatch.Item, error) {
	b, _, err := s.Get(ctx, imgbatch.Layout{RunID: runID}.Shard(n))
	if err != nil {
		return nil, err
	}
	var items []imgbatch.Item
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var it imgbatch.Item
		if err := dec.Decode(&it); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("shard %d of run %s: %w", n, runID, err)
		}
		items = append(items, it)
	}
	return items, nil
}
