package batch

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/manifest"
)

// What the plan does when two sources map to one output key
// (PlanOptions.OnCollision).
const (
	// CollisionRefuse fails the plan, naming the colliding keys: nothing
	// is written. The default.
	CollisionRefuse = "refuse"
	// CollisionAllow plans the run anyway: the last source written wins
	// each shared key. For sources known to be the same picture
	// (photo.jpg and photo.jpeg); outputs record their source, so an
	// incremental re-run reports each overwrite in report.csv.
	CollisionAllow = "allow"
)

// collisionSample is how many colliding pairs a plan keeps to show.
const collisionSample = 20

// Collisions are the output keys of a plan claimed by two sources.
type Collisions struct {
	Count  int64                // claims of a key already claimed by another source
	Sample []manifest.Collision // the first of them
}

// CollisionError refuses a plan whose output keys collide.
type CollisionError struct {
	Template string
	Collisions
}

func (e *CollisionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d output keys would be written by two sources under --output-key %q; nothing was planned:\n", e.Count, e.Template)
	for _, c := range e.Sample {
		fmt.Fprintf(&b, "  %s ← %s and %s\n", c.Key, c.First, c.Second)
	}
	if n := e.Count - int64(len(e.Sample)); n > 0 {
		fmt.Fprintf(&b, "  … and %d more\n", n)
	}
	fmt.Fprintf(&b, "use a template that keeps them apart (the default %q does, within a bucket), or --on-collision allow", imgbatch.DefaultOutputKey)
	return b.String()
}

// checkKeys reads src to its end, counting its malformed lines into run and
// plan, spools its items, and groups every output key the run would write
// (items × variants × the formats each may write, under the run's
// template) in a manifest.KeyIndex.
// Memory stays bounded: the index spills by hash partitions within the
// dedupe budget, and the spool holds one write buffer; when Dedupe is on, its
// reader has let go of its arena before the index groups. It returns a
// reader of the spooled items for writeShards, or a *CollisionError when
// keys collide and o.OnCollision is refuse (outside a dry run).
func (s *Store) checkKeys(ctx context.Context, src manifest.Reader, o PlanOptions, run *imgbatch.Run, plan *Plan) (manifest.Reader, func(), error) {
	tmpl, _ := run.KeyTemplate() // checked by defaults
	idx := manifest.NewKeyIndex(o.DedupeDir, o.DedupeMemory, collisionSample)
	defer idx.Close()
	spool := manifest.NewSpool(o.DedupeDir)
	fail := func(err error) (manifest.Reader, func(), error) { spool.Close(); return nil, nil, err }
	for i := 0; ; i++ {
		if i&1023 == 0 && ctx.Err() != nil {
			return fail(ctx.Err())
		}
		it, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if err := countBadLine(err, o, run, plan); err != nil {
				return fail(err)
			}
			continue
		}
		if err := spool.Add(it); err != nil {
			return fail(fmt.Errorf("plan: %w", err))
		}
		source := "s3://" + it.Bucket + "/" + it.Key
		for _, v := range run.Recipe.Variants {
			// Every key the variant may write: an auto variant's
			// candidates (and a keepSmallerSource copy, in one of them).
			keys, err := tmpl.Keys(run.OutputPrefix, v, it.Bucket, it.Key)
			if err != nil {
				continue // too long: the item fails alone, writing nothing
			}
			for _, key := range keys {
				if err := idx.Add(key, source); err != nil {
					return fail(fmt.Errorf("plan: output keys: %w", err))
				}
			}
		}
	}
	n, sample, err := idx.Collisions()
	if err != nil {
		return fail(fmt.Errorf("plan: output keys: %w", err))
	}
	plan.Collisions = Collisions{Count: n, Sample: sample}
	if n > 0 && o.OnCollision == CollisionRefuse && !o.DryRun {
		return fail(&CollisionError{Template: tmpl.String(), Collisions: plan.Collisions})
	}
	r, err := spool.Reader()
	if err != nil {
		return fail(fmt.Errorf("plan: %w", err))
	}
	return r, func() { spool.Close() }, nil
}
