package batch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/manifest"
)

// PlanOptions configure planning a run.
type PlanOptions struct {
	ClientToken  string // same token, same run: a repeated submit returns the existing run
	Source       string // where the items came from, for run.json
	OutputBucket string
	OutputPrefix string
	Recipe       imgbatch.Recipe
	ShardSize    int   // items per shard (default 200)
	ShardBytes   int64 // also cut a shard once it holds this many source bytes (0 = no limit)
	// TargetShardDuration lowers ShardSize and ShardBytes so that one child
	// takes about this long per shard at AssumedItemsPerSecond and
	// AssumedBytesPerSecond (0 = the defaults); see ShardSizing.
	TargetShardDuration   time.Duration
	AssumedItemsPerSecond float64
	AssumedBytesPerSecond float64
	Width                 int // array width the run is planned for (informational; children claim until none is left)
	Tolerance             imgbatch.Tolerance
	// Dedupe drops repeated items (same bucket, key and version ID) with
	// manifest.Dedupe, in bounded memory with temporary files under
	// DedupeDir ("" = the system's); they are counted in run.json's
	// duplicates and processed once. The order of items changes (grouped by
	// a hash of their identity), the same way for the same manifest.
	Dedupe       bool
	DedupeDir    string
	DedupeMemory int // bytes (0 = DefaultPlanDedupeMemory)
	// MaxBadLines stops planning once more lines than this are malformed
	// (0 = no limit). A malformed line is a *manifest.LineError: counted,
	// kept for bad-lines.txt and skipped; any other error of the source is
	// fatal.
	MaxBadLines int64
	DryRun      bool // count and size, write nothing
	Now         func() time.Time
}

// Sizing is the shard sizing of the options.
func (o PlanOptions) Sizing() ShardSizing {
	return ShardSizing{Items: o.ShardSize, Bytes: o.ShardBytes, TargetDuration: o.TargetShardDuration,
		ItemsPerSecond: o.AssumedItemsPerSecond, BytesPerSecond: o.AssumedBytesPerSecond}
}

// Plan is the outcome of planning.
type Plan struct {
	Run      imgbatch.Run
	BadLines []string // the first malformed lines, with their numbers and reasons
	Existing bool     // the client token named a run that was already planned
	Shards   ShardStats
	// Manifest counts what the manifest reader saw (lines, filtered,
	// duplicates…); zero for sources that are not manifest readers.
	Manifest manifest.Stats
}

// maxBadLinesKept bounds the malformed lines kept for the bad-lines report.
const maxBadLinesKept = 1000

// DefaultPlanDedupeMemory is the dedupe budget of planning: it dedupes
// about 12 M items (manifest.Dedupe's 64 partitions of up to ~190 k items)
// in one pass, and larger manifests with a second pass over the partitions
// that overflow, with the planner's RSS well under 100 MB.
const DefaultPlanDedupeMemory = 16 << 20

// NewRunID makes a run id: deterministic from a client token, else time-ordered and random.
func NewRunID(token string, now time.Time) string {
	if token != "" {
		return imgbatch.TokenRunID(token)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102t150405z") + "-" + hex.EncodeToString(b[:])
}

// PlanRun streams items from src into shard files and writes run.json last:
// a run exists once its run.json does, and run.json is written once
// (If-None-Match), so two submits with one client token make one run.
// Memory stays bounded whatever the size of the manifest: a few shards are
// held at a time (and the dedupe budget, with Dedupe).
func (s *Store) PlanRun(ctx context.Context, src manifest.Reader, o PlanOptions) (*Plan, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	sizing := o.Sizing()
	maxItems, maxBytes := sizing.Limits()
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
	if o.Dedupe {
		if o.DedupeMemory <= 0 {
			o.DedupeMemory = DefaultPlanDedupeMemory
		}
		d := manifest.Dedupe(src, o.DedupeDir, o.DedupeMemory)
		defer d.Close()
		src = d
	}
	run := imgbatch.Run{
		ID: runID, ClientToken: o.ClientToken, CreatedAt: now.UTC(), Source: o.Source,
		WorkBucket: s.Bucket, OutputBucket: o.OutputBucket, OutputPrefix: o.OutputPrefix,
		Recipe: o.Recipe, RecipeHash: o.Recipe.Hash(), ShardSize: maxItems, Width: o.Width,
		Tolerance: o.Tolerance,
	}
	plan := &Plan{Shards: ShardStats{ItemLimit: maxItems, ByteLimit: maxBytes}}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	buf := make([]byte, 0, 64<<10)
	var inShard int
	var shardBytes int64
	flush := func(byBytes bool) {
		if inShard == 0 {
			return
		}
		n := run.Shards
		run.Shards++
		plan.Shards.add(inShard, shardBytes, byBytes)
		plan.Shards.EstimatedMax = max(plan.Shards.EstimatedMax, sizing.Estimate(int64(inShard), shardBytes))
		inShard, shardBytes = 0, 0
		if o.DryRun {
			return
		}
		body := buf
		buf = make([]byte, 0, len(body)+len(body)/4) // the next shard is about as big
		g.Go(func() error {
			_, err := s.Put(gctx, lay.Shard(n), body, "application/x-ndjson", Cond{})
			return err
		})
	}
	for i := 0; ; i++ {
		if i&1023 == 0 {
			if err := gctx.Err(); err != nil {
				break
			}
		}
		it, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if manifest.IsLineError(err) {
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
		if !o.DryRun {
			buf = appendItemJSON(buf, it)
		}
		run.Items++
		run.Bytes += it.Size
		inShard++
		shardBytes += it.Size
		byBytes := maxBytes > 0 && shardBytes >= maxBytes
		if inShard >= maxItems || byBytes {
			flush(byBytes && inShard < maxItems)
		}
	}
	flush(false)
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("write shards: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	plan.Manifest = manifest.StatsOf(src)
	run.Duplicates = plan.Manifest.Duplicates
	plan.Run = run
	if o.DryRun {
		return plan, nil
	}
	if len(plan.BadLines) > 0 {
		body := strings.Join(plan.BadLines, "\n") + "\n"
		if _, err := s.Put(ctx, lay.BadLines(), []byte(body), "text/plain", Cond{}); err != nil {
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

// appendItemJSON appends it as one JSON line, as encoding/json would write
// imgbatch.Item, without reflection (planning encodes every item once).
func appendItemJSON(b []byte, it imgbatch.Item) []byte {
	b = append(b, `{"bucket":`...)
	b = appendJSONString(b, it.Bucket)
	b = append(b, `,"key":`...)
	b = appendJSONString(b, it.Key)
	if it.VersionID != "" {
		b = append(b, `,"versionId":`...)
		b = appendJSONString(b, it.VersionID)
	}
	if it.Size != 0 {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, it.Size, 10)
	}
	if it.ETag != "" {
		b = append(b, `,"etag":`...)
		b = appendJSONString(b, it.ETag)
	}
	return append(b, "}\n"...)
}

// appendJSONString quotes s: printable ASCII is copied, anything else goes
// through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
