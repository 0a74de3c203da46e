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
	Access                imgbatch.Access // SSE, expected owners, requester pays (copied into run.json)
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
	// OutputKey is the run's output key template ("" =
	// imgbatch.DefaultOutputKey; redrive passes the old run's, which may be
	// imgbatch.LegacyOutputKey). Every item × variant key is checked for
	// collisions before any shard is written; OnCollision (CollisionRefuse,
	// the default, or CollisionAllow) says what happens when two sources
	// share one. The check uses DedupeDir and DedupeMemory.
	OutputKey   string
	OnCollision string
	Now         func() time.Time
	// Layout is run.json's layout version; 0 chooses: LayoutSpread from
	// SpreadWidth children on (spread.go), -1 forces layout 0.
	Layout int
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
	// Collisions are the output keys claimed by two sources (with
	// CollisionAllow, or in a dry run).
	Collisions Collisions
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
	if err := o.defaults(); err != nil {
		return nil, err
	}
	now := o.Now()
	lay := imgbatch.Layout{RunID: NewRunID(o.ClientToken, now)}
	if o.ClientToken != "" && !o.DryRun {
		p, err := s.existingPlan(ctx, lay)
		if err == nil {
			return p, nil
		} else if !IsNotFound(err) {
			return nil, err
		}
	}
	if o.Dedupe {
		d := manifest.Dedupe(src, o.DedupeDir, o.DedupeMemory)
		defer d.Close()
		src = d
	}
	maxItems, maxBytes := o.Sizing().Limits()
	run := imgbatch.Run{
		ID: lay.RunID, ClientToken: o.ClientToken, CreatedAt: now.UTC(), Source: o.Source,
		WorkBucket: s.Bucket, OutputBucket: o.OutputBucket, OutputPrefix: o.OutputPrefix,
		Recipe: o.Recipe, RecipeHash: o.Recipe.Hash(), ShardSize: maxItems, Width: o.Width,
		Tolerance: o.Tolerance, Access: o.Access, OutputKey: o.OutputKey, Layout: o.layoutFor(),
	}
	plan := &Plan{Shards: ShardStats{ItemLimit: maxItems, ByteLimit: maxBytes}}
	checked, done, err := s.checkKeys(ctx, src, o, &run, plan)
	if err != nil {
		return nil, err
	}
	defer done()
	if err := s.writeShards(ctx, checked, o, &run, plan); err != nil {
		return nil, err
	}
	plan.Manifest = manifest.StatsOf(src)
	run.Duplicates = plan.Manifest.Duplicates
	plan.Run = run
	if o.DryRun {
		return plan, nil
	}
	return s.commitPlan(ctx, lay, plan)
}

// defaults fills in what the options leave out, and checks the recipe.
func (o *PlanOptions) defaults() error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Width <= 0 {
		o.Width = 1
	}
	if o.Tolerance == (imgbatch.Tolerance{}) {
		o.Tolerance = imgbatch.DefaultTolerance
	}
	if o.DedupeMemory <= 0 {
		o.DedupeMemory = DefaultPlanDedupeMemory
	}
	if err := o.Recipe.Normalize(); err != nil {
		return err
	}
	return o.CheckOutputKey()
}

// CheckOutputKey fills in and checks the output key template and
// OnCollision (errors a UsageError).
func (o *PlanOptions) CheckOutputKey() error {
	if o.OutputKey == "" {
		o.OutputKey = imgbatch.DefaultOutputKey
	}
	switch o.OnCollision {
	case "":
		o.OnCollision = CollisionRefuse
	case CollisionRefuse, CollisionAllow:
	default:
		return &UsageError{fmt.Errorf("--on-collision %q: use refuse or allow", o.OnCollision)}
	}
	t, err := imgbatch.ParseKeyTemplate(o.OutputKey)
	if err == nil {
		err = t.CheckRecipe(o.Recipe)
	}
	if err != nil {
		return &UsageError{err}
	}
	return nil
}

// UsageError is a plan refused for its options, not its data (exit 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// existingPlan is the plan of the run already planned at lay (an error
// that IsNotFound when there is none).
func (s *Store) existingPlan(ctx context.Context, lay imgbatch.Layout) (*Plan, error) {
	var existing imgbatch.Run
	if _, err := s.GetJSON(ctx, lay.Run(), &existing); err != nil {
		return nil, err
	}
	return &Plan{Run: existing, Existing: true}, nil
}

// commitPlan writes bad-lines.txt, then run.json once: when another
// submit with the same client token wrote it first, its plan is the plan.
func (s *Store) commitPlan(ctx context.Context, lay imgbatch.Layout, plan *Plan) (*Plan, error) {
	if len(plan.BadLines) > 0 {
		body := strings.Join(plan.BadLines, "\n") + "\n"
		if _, err := s.Put(ctx, lay.BadLines(), []byte(body), "text/plain", Cond{}); err != nil {
			return nil, err
		}
	}
	if _, err := s.PutJSON(ctx, lay.Run(), plan.Run, Cond{IfNoneMatch: true}); err != nil {
		if errors.Is(err, ErrConflict) {
			return s.existingPlan(ctx, lay)
		}
		return nil, err
	}
	return plan, nil
}

// writeShards reads src to its end into shards of run (counted in run and
// plan), writing up to 8 shard files at once; malformed lines are counted
// and kept in plan.
func (s *Store) writeShards(ctx context.Context, src manifest.Reader, o PlanOptions, run *imgbatch.Run, plan *Plan) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	w := &shardWriter{s: s, g: g, gctx: gctx, lay: imgbatch.LayoutOf(run), dry: o.DryRun,
		sizing: o.Sizing(), run: run, plan: plan, buf: make([]byte, 0, 64<<10)}
	w.maxItems, w.maxBytes = w.sizing.Limits()
	for i := 0; ; i++ {
		if i&1023 == 0 && gctx.Err() != nil {
			break
		}
		it, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if err := countBadLine(err, o, run, plan); err != nil {
				_ = g.Wait()
				return err
			}
			continue
		}
		w.add(it)
	}
	w.flush(false)
	if err := g.Wait(); err != nil {
		return fmt.Errorf("write shards: %w", err)
	}
	return ctx.Err()
}

// countBadLine counts a malformed manifest line (a *manifest.LineError) and
// keeps the first ones; too many of them, or any other error, end the plan.
func countBadLine(err error, o PlanOptions, run *imgbatch.Run, plan *Plan) error {
	if !manifest.IsLineError(err) {
		return fmt.Errorf("read manifest: %w", err)
	}
	run.BadLines++
	if len(plan.BadLines) < maxBadLinesKept {
		plan.BadLines = append(plan.BadLines, err.Error())
	}
	if o.MaxBadLines > 0 && run.BadLines > o.MaxBadLines {
		return fmt.Errorf("manifest has more than %d malformed lines (last: %v); fix the manifest or raise --max-bad-lines", o.MaxBadLines, err)
	}
	return nil
}

// shardWriter cuts items into shards by count and bytes and writes each
// shard file as it fills (in g, unless dry).
type shardWriter struct {
	s        *Store
	g        *errgroup.Group
	gctx     context.Context
	lay      imgbatch.Layout
	dry      bool
	sizing   ShardSizing
	maxItems int
	maxBytes int64
	run      *imgbatch.Run
	plan     *Plan

	buf        []byte // the JSON lines of the shard being filled
	inShard    int
	shardBytes int64
}

// add puts it in the current shard, and writes the shard once it is full.
func (w *shardWriter) add(it imgbatch.Item) {
	if !w.dry {
		w.buf = appendItemJSON(w.buf, it)
	}
	w.run.Items++
	w.run.Bytes += it.Size
	w.inShard++
	w.shardBytes += it.Size
	byBytes := w.maxBytes > 0 && w.shardBytes >= w.maxBytes
	if w.inShard >= w.maxItems || byBytes {
		w.flush(byBytes && w.inShard < w.maxItems)
	}
}

// flush ends the current shard (byBytes: cut by its bytes, not its count).
func (w *shardWriter) flush(byBytes bool) {
	if w.inShard == 0 {
		return
	}
	n := w.run.Shards
	w.run.Shards++
	w.plan.Shards.add(w.inShard, w.shardBytes, byBytes)
	w.plan.Shards.EstimatedMax = max(w.plan.Shards.EstimatedMax, w.sizing.Estimate(int64(w.inShard), w.shardBytes))
	w.inShard, w.shardBytes = 0, 0
	if w.dry {
		return
	}
	body := w.buf
	w.buf = make([]byte, 0, len(body)+len(body)/4) // the next shard is about as big
	w.g.Go(func() error {
		_, err := w.s.Put(w.gctx, w.lay.Shard(n), body, "application/x-ndjson", Cond{})
		return err
	})
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
