package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsbatch "github.com/aws/aws-sdk-go-v2/service/batch"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/internal/human"
	"github.com/imgbatch/imgbatch/manifest"
)

// submitUsage and submitHelp are `imgbatch submit --help`.
const (
	submitUsage = "plan a manifest into a run in the work bucket and start it"
	submitHelp  = `Reads a manifest (streamed, never held in memory), writes the plan to
s3://WORK/runs/<run-id>/ (run.json + shards/*.jsonl) and starts the run by sending
a "Run Requested" event to the bus, whose rule submits the Batch array job.

Manifests: a plain key list (one key per line, --bucket names the bucket), an
S3 Batch Operations CSV (bucket,key[,versionId], URL-encoded keys), JSONL
({"bucket","key","versionId"}), an S3 Inventory manifest.json, or a live listing
s3://bucket/prefix/. Local paths, s3:// URIs and "-" (stdin) all work.

Examples:
   imgbatch submit --manifest keys.txt --bucket photos --output-bucket thumbs --work-bucket imgbatch-work
   imgbatch submit --manifest s3://inv/photos/2026-11-22T00-00Z/manifest.json --output-bucket thumbs --recipe recipe.json
   imgbatch submit --manifest s3://photos/2026/ --ext jpg,png --variant thumb:256x256:webp --dry-run
   imgbatch submit --manifest s3://partner-photos/2026/ --source-bucket-owner 111122223333 --request-payer requester \
       --output-bucket thumbs --sse aws:kms --sse-kms-key-id arn:aws:kms:eu-west-1:444455556666:key/… --sse-bucket-key

The same --client-token always gives the same run: a retried submit never
starts a second one.`
)

func submitFlags() []cli.Flag {
	return slices.Concat(planningFlags(), startFlags(),
		[]cli.Flag{dryRunFlag("read the manifest and print the plan; write nothing, start nothing")}, estimateFlags())
}

func submitAction(c *cli.Context, cl *clients, so submitOptions) error {
	plannerGC()
	plan, err := submitRun(c.Context, cl, so)
	if err != nil {
		return err
	}
	printPlan(c.App.Writer, plan, so.plan.DryRun)
	return nil
}

// planningFlags are the flags of everything that plans a run (read into
// planArgs).
func planningFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "manifest", Aliases: []string{"m"}, Usage: "manifest: local path, - (stdin), s3://bucket/key, or s3://bucket/prefix/ (live listing)"},
		&cli.StringFlag{Name: "format", Usage: "manifest format: keys, csv, jsonl, inventory, listing (default: detected from the name and content)"},
		&cli.StringFlag{Name: "bucket", Aliases: []string{"source-bucket"}, EnvVars: []string{"IMGBATCH_SOURCE_BUCKET"}, Usage: "source bucket of a plain key list"},
		&cli.StringSliceFlag{Name: "ext", Usage: "only keys with these extensions (e.g. --ext jpg,jpeg,png)"},
		&cli.StringFlag{Name: "output-bucket", EnvVars: []string{"IMGBATCH_OUTPUT_BUCKET"}, Usage: "bucket for the variants"},
		&cli.StringFlag{Name: "output-prefix", EnvVars: []string{"IMGBATCH_OUTPUT_PREFIX"}, Usage: "prefix of the variants: <prefix>/<--output-key>"},
		&cli.StringFlag{Name: "output-key", EnvVars: []string{"IMGBATCH_OUTPUT_KEY"}, Usage: "where each variant goes under --output-prefix, a template of {key} {dir} {name} {ext} {bucket} {variant} {outext} {format} {hash} ({{ and }} for literal braces); the default keeps every source apart: photo.jpg → thumb/photo.jpg.jpg. " + imgbatch.LegacyOutputKey + " is the layout of runs made before templates (photo.jpg and photo.png collide)", Value: imgbatch.DefaultOutputKey},
		&cli.StringFlag{Name: "on-collision", Value: batch.CollisionRefuse, Usage: "when two sources map to one output key: refuse (plan nothing, list the keys) or allow (the last written wins; reported)"},
		&cli.StringFlag{Name: "recipe", EnvVars: []string{"IMGBATCH_RECIPE"}, Usage: "recipe: a local file or s3://bucket/key (JSON or YAML: {name, variants: [{name, width, height, fit, format, quality, upscale, smartCrop, keepMetadata, shrinkOnLoad: fast|fine|off}]})"},
		&cli.StringSliceFlag{Name: "variant", Usage: "a variant as " + imgbatch.VariantSyntax + " (repeatable; replaces the recipe's variants)"},
		&cli.IntFlag{Name: "shard-size", Value: batch.DefaultShardSize, Usage: "items per shard (a shard is the unit of claim, checkpoint and retry)"},
		&cli.StringFlag{Name: "shard-bytes", Usage: "also cut a shard once it holds this many source bytes, e.g. 2GiB (needs sizes in the manifest: inventory, listing, jsonl)"},
		&cli.DurationFlag{Name: "target-shard-duration", Usage: "lower --shard-size and --shard-bytes so one child takes about this long per shard (e.g. 3m) at the assumed throughput"},
		&cli.Float64Flag{Name: "assumed-items-per-second", Value: batch.DefaultItemsPerSecond, Usage: "throughput of one child assumed by --target-shard-duration, in items"},
		&cli.StringFlag{Name: "assumed-bytes-per-second", Value: "50MiB", Usage: "throughput of one child assumed by --target-shard-duration, in source bytes"},
		&cli.BoolFlag{Name: "dedupe", Value: true, Usage: "process each bucket/key/version once: drop repeats (counted as duplicates; items are regrouped by a hash, in bounded memory with temporary files)"},
		&cli.IntFlag{Name: "width", Value: 4, EnvVars: []string{"IMGBATCH_ARRAY_WIDTH"}, Usage: "array width the run is planned for (the deployment's ArrayWidth)"},
		&cli.StringFlag{Name: "client-token", Usage: "idempotency token: the same token always names the same run"},
		&cli.Int64Flag{Name: "max-bad-lines", Value: 1000, Usage: "fail the submit when the manifest has more malformed lines than this (0 = no limit)"},
		&cli.Float64Flag{Name: "max-failed-percent", Value: imgbatch.DefaultTolerance.MaxFailedPercent, Usage: "the run fails when more than this percent of items failed ..."},
		&cli.Int64Flag{Name: "min-tasks", Value: imgbatch.DefaultTolerance.MinTasks, Usage: "... once at least this many items ran (S3 Batch Operations' rule)"},
		&cli.Int64Flag{Name: "max-failed", Usage: "the run also fails when more than this many items failed (0 = no count limit)"},
	}, slices.Concat(accessFlags(), runFlags())...)
}

// planArgs are the plan flags (planningFlags, startFlags, --dry-run) as given;
// submitOptions checks and resolves them. Commands with defaults of their
// own (local, plan --from-schedule) set them here first.
type planArgs struct {
	manifest, format, bucket   string
	ext                        []string
	outputBucket, outputPrefix string
	outputKey, onCollision     string
	recipe                     string
	variants                   []string
	shardSize                  int
	shardBytes                 string
	targetShardDuration        time.Duration
	itemsPerSecond             float64
	bytesPerSecond             string
	dedupe                     bool
	width                      int
	clientToken                string
	maxBadLines                int64
	tolerance                  imgbatch.Tolerance
	access                     imgbatch.Access
	accessErr                  error // accessFlags that do not check
	dryRun                     bool
	workBucket                 string
	start                      startOptions
}

func planArgsFrom(c *cli.Context) planArgs {
	access, accessErr := accessFrom(c)
	return planArgs{
		access: access, accessErr: accessErr,
		manifest: c.String("manifest"), format: c.String("format"), bucket: c.String("bucket"), ext: splitList(c.StringSlice("ext")),
		outputBucket: c.String("output-bucket"), outputPrefix: c.String("output-prefix"),
		outputKey: c.String("output-key"), onCollision: c.String("on-collision"),
		recipe: c.String("recipe"), variants: c.StringSlice("variant"),
		shardSize: c.Int("shard-size"), shardBytes: c.String("shard-bytes"), targetShardDuration: c.Duration("target-shard-duration"),
		itemsPerSecond: c.Float64("assumed-items-per-second"), bytesPerSecond: c.String("assumed-bytes-per-second"),
		dedupe: c.Bool("dedupe"), width: c.Int("width"), clientToken: c.String("client-token"), maxBadLines: c.Int64("max-bad-lines"),
		tolerance:  imgbatch.Tolerance{MinTasks: c.Int64("min-tasks"), MaxFailedPercent: c.Float64("max-failed-percent"), MaxFailed: c.Int64("max-failed")},
		dryRun:     c.Bool("dry-run"),
		workBucket: c.String("work-bucket"),
		start:      startOptionsFrom(c),
	}
}

// submitOptions is a checked plan of a manifest into a run and how to
// start it.
type submitOptions struct {
	workBucket  string
	manifestURI string
	format      string
	bucket      string
	ext         []string
	plan        batch.PlanOptions
	start       startOptions
	// modifiedSince keeps only objects modified after it (scheduled runs:
	// the previous scheduled time).
	modifiedSince time.Time
	// quote prices the plan; its --max-cost refuses to start a dearer run.
	quote estimateOptions
	// recipeURI is an s3:// --recipe (with the --variant specs that replace
	// its variants), read into plan.Recipe by submitRun.
	recipeURI string
	variants  []string
}

// submitOptionsFrom reads submit's flags.
func submitOptionsFrom(c *cli.Context) (submitOptions, error) {
	if _, err := needFlag(c, "work-bucket"); err != nil {
		return submitOptions{}, err
	}
	so, err := planArgsFrom(c).submitOptions()
	if err != nil {
		return so, usageErr(err)
	}
	so.quote, err = estimateOptionsFrom(c)
	return so, err
}

// submitOptions checks the plan flags and resolves them (recipe, sizes).
func (a planArgs) submitOptions() (submitOptions, error) {
	so := submitOptions{
		workBucket: a.workBucket, manifestURI: a.manifest, format: a.format, bucket: a.bucket, ext: a.ext, start: a.start,
	}
	var err error
	if so.manifestURI == "" {
		return so, fmt.Errorf("--manifest is required")
	}
	if a.outputBucket == "" {
		return so, fmt.Errorf("--output-bucket is required")
	}
	var recipe imgbatch.Recipe
	if isS3Recipe(a.recipe) {
		so.recipeURI, so.variants = a.recipe, a.variants // read by submitRun, with the clients
	} else if recipe, err = imgbatch.LoadRecipe(a.recipe, a.variants); err != nil {
		return so, err
	}
	shardBytes, err := parseBytes(a.shardBytes)
	if err != nil {
		return so, fmt.Errorf("--shard-bytes: %w", err)
	}
	bps, err := parseBytes(a.bytesPerSecond)
	if err != nil {
		return so, fmt.Errorf("--assumed-bytes-per-second: %w", err)
	}
	if a.accessErr != nil {
		return so, a.accessErr
	}
	if a.width < 1 {
		// Once clamped to 1 without a word: a typo ran one child.
		return so, fmt.Errorf("--width %d: the array width must be at least 1", a.width)
	}
	if a.shardSize < 1 {
		return so, fmt.Errorf("--shard-size %d: want at least 1", a.shardSize)
	}
	so.plan = batch.PlanOptions{
		ClientToken: a.clientToken, Source: so.manifestURI, OutputBucket: a.outputBucket, OutputPrefix: strings.Trim(a.outputPrefix, "/"),
		Recipe: recipe, ShardSize: a.shardSize, ShardBytes: shardBytes, TargetShardDuration: a.targetShardDuration,
		AssumedItemsPerSecond: a.itemsPerSecond, AssumedBytesPerSecond: float64(bps),
		Width: a.width, MaxBadLines: a.maxBadLines, Dedupe: a.dedupe, Tolerance: a.tolerance,
		Access: a.access, DryRun: a.dryRun, OutputKey: a.outputKey, OnCollision: a.onCollision,
	}
	if err := so.plan.CheckOutputKey(); err != nil {
		return so, err
	}
	return so, so.start.check()
}

// submitRun plans the manifest and, unless it is a dry run or --via none,
// starts the run — also an existing run (same client token) that was never
// started (planned by `imgbatch plan`, or a submit that failed to start
// it); runs/<id>/requested.json records the start.
func submitRun(ctx context.Context, cl *clients, so submitOptions) (*batch.Plan, error) {
	if so.recipeURI != "" {
		recipe, err := loadS3Recipe(ctx, cl.s3r, so.recipeURI, so.variants)
		if err != nil {
			return nil, err
		}
		so.plan.Recipe = recipe
	}
	so, err := followInventory(ctx, cl, so)
	if err != nil {
		return nil, err
	}
	r, closer, err := manifest.Open(ctx, so.manifestURI, manifest.Options{
		Format: manifest.Format(so.format), DefaultBucket: so.bucket, S3: cl.s3r,
		SourceOwner: so.plan.Access.SourceOwner, SourceRequesterPays: so.plan.Access.SourceRequesterPays,
		Filter: manifest.Filter{Extensions: so.ext, ModifiedSince: so.modifiedSince},
	})
	if err != nil {
		return nil, fmt.Errorf("open manifest: %w", err)
	}
	defer closer.Close()
	store := cl.store(so.workBucket)
	plan, err := store.PlanRun(ctx, r, so.plan)
	if err != nil {
		return nil, err
	}
	if err := so.quote.checkMaxCost(plan, so.plan.DryRun); err != nil {
		return nil, err
	}
	log := slog.Default().With("runId", plan.Run.ID)
	if so.plan.DryRun || so.start.via == "none" {
		return plan, nil
	}
	if plan.Existing {
		requested, err := store.IsRequested(ctx, plan.Run.ID)
		if err != nil {
			return nil, err
		}
		if requested {
			log.Info("client token names an existing run, already started: not started again", "clientToken", so.plan.ClientToken)
			return plan, nil
		}
		log.Info("client token names an existing run that was never started: starting it", "clientToken", so.plan.ClientToken)
	}
	if plan.Run.Items == 0 {
		log.Warn("the manifest has no items: nothing to start")
		return plan, nil
	}
	mark := batch.Requested{RunID: plan.Run.ID, Via: so.start.via, RequestedAt: time.Now().UTC()}
	if so.start.via == "batch" {
		jobID, err := submitBatchJob(ctx, cl, plan.Run, so)
		if err != nil {
			return nil, fmt.Errorf("run %s is planned but the Batch job was not submitted (re-run submit with the same --client-token): %w", plan.Run.ID, err)
		}
		log.Info("batch array job submitted", "jobId", jobID, "queue", so.start.jobQueue, "arraySize", plan.Run.Width)
		mark.JobID = jobID
	} else {
		if so.start.bus == "" {
			return nil, fmt.Errorf("--via events needs --event-bus")
		}
		ev := ebus.NewRunRequested(plan.Run)
		if err := cl.publisher(so.start.bus, so.start.source).Publish(ctx, ev); err != nil {
			return nil, fmt.Errorf("run %s is planned but Run Requested was not sent (re-run submit with the same --client-token): %w", plan.Run.ID, err)
		}
		log.Info("run requested", "items", plan.Run.Items, "shards", plan.Run.Shards, "bus", so.start.bus)
		mark.Via, mark.EventID = "events", ev.ID()
	}
	if err := store.MarkRequested(ctx, mark); err != nil {
		log.Warn("run started, but requested.json not written: a submit with the same token would start it again", "err", err)
	}
	return plan, nil
}

// submitBatchJob starts the run's workers with SubmitJob: an array of the
// run's width (a single job when the width is 1: Batch arrays start at 2).
func submitBatchJob(ctx context.Context, cl *clients, run imgbatch.Run, so submitOptions) (string, error) {
	in := &awsbatch.SubmitJobInput{
		JobName:       aws.String("imgbatch-" + run.ID),
		JobQueue:      aws.String(so.start.jobQueue),
		JobDefinition: aws.String(so.start.jobDef),
		Parameters:    map[string]string{"runId": run.ID},
	}
	if run.Width > 1 {
		in.ArrayProperties = &batchtypes.ArrayProperties{Size: aws.Int32(int32(run.Width))}
	}
	out, err := cl.bt.SubmitJob(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.JobId), nil
}

func printPlan(w io.Writer, p *batch.Plan, dry bool) {
	r := p.Run
	head := "run"
	if dry {
		head = "dry run (nothing written)"
	} else if p.Existing {
		head = "existing run (same client token)"
	}
	fmt.Fprintf(w, "%s %s\n  items       %d (%s)\n  shards      %d of up to %d items\n  array width %d\n  recipe      %s (%s): %s\n  output      s3://%s/%s\n",
		head, r.ID, r.Items, humanBytes(r.Bytes), r.Shards, r.ShardSize, r.Width, r.Recipe.Name, r.RecipeHash, variantList(r.Recipe), r.OutputBucket, r.OutputPrefix)
	if a := accessLine(r.Access); a != "" {
		fmt.Fprintf(w, "  access      %s\n", a)
	}
	printOutputKeys(w, p)
	if sh := p.Shards; sh.Count > 0 {
		fmt.Fprintf(w, "  shard sizes %d–%d items, %s–%s", sh.MinItems, sh.MaxItems, humanBytes(sh.MinBytes), humanBytes(sh.MaxBytes))
		if sh.ByteLimit > 0 {
			fmt.Fprintf(w, " (cut at %s: %d shards)", humanBytes(sh.ByteLimit), sh.CutByBytes)
		}
		fmt.Fprintf(w, "; the largest takes one child about %s at the assumed throughput\n", sh.EstimatedMax.Round(time.Second))
	}
	if m := p.Manifest; m.Lines > 0 {
		fmt.Fprintf(w, "  manifest    %d records: %d items, %d filtered out, %d bad lines, %d duplicates\n", m.Lines, m.Items, m.Filtered, m.BadLines, m.Duplicates)
	} else if r.Duplicates > 0 {
		fmt.Fprintf(w, "  duplicates  %d (each processed once)\n", r.Duplicates)
	}
	if r.BadLines > 0 {
		fmt.Fprintf(w, "  bad lines   %d (skipped)\n", r.BadLines)
		n := 1
		if dry {
			n = 10
		}
		shown := min(n, len(p.BadLines))
		for _, l := range p.BadLines[:shown] {
			fmt.Fprintf(w, "    %s\n", l)
		}
		switch {
		case int64(shown) >= r.BadLines:
		case dry:
			fmt.Fprintf(w, "    … and %d more\n", r.BadLines-int64(shown))
		default:
			fmt.Fprintf(w, "    … the first %d are in s3://%s/%sbad-lines.txt\n", len(p.BadLines), r.WorkBucket, imgbatch.Layout{RunID: r.ID}.Prefix())
		}
	}
}

// printOutputKeys prints the run's output key template and the keys two
// sources share (a dry run, or --on-collision allow).
func printOutputKeys(w io.Writer, p *batch.Plan) {
	t, _ := p.Run.KeyTemplate()
	fmt.Fprintf(w, "  output keys %s (collisions: %d)\n", t, p.Collisions.Count)
	for _, c := range p.Collisions.Sample {
		fmt.Fprintf(w, "    %s ← %s and %s\n", c.Key, c.First, c.Second)
	}
	if n := p.Collisions.Count - int64(len(p.Collisions.Sample)); n > 0 {
		fmt.Fprintf(w, "    … and %d more\n", n)
	}
}

func variantList(r imgbatch.Recipe) string {
	var parts []string
	for _, v := range r.Variants {
		parts = append(parts, fmt.Sprintf("%s %dx%d %s %s", v.Name, v.Width, v.Height, v.Fit, v.Format))
	}
	return strings.Join(parts, ", ")
}

func humanBytes(n int64) string { return human.Bytes(n) }
