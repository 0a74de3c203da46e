package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsbatch "github.com/aws/aws-sdk-go-v2/service/batch"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/manifest"
)

func submitCommand() *cli.Command {
	return &cli.Command{
		Name:      "submit",
		Usage:     "plan a manifest into a run in the work bucket and start it",
		ArgsUsage: " ",
		Description: `Reads a manifest (streamed, never held in memory), writes the plan to
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

The same --client-token always gives the same run: a retried submit never
starts a second one.`,
		Flags: append(planFlags(),
			viaFlag(), jobQueueFlag, jobDefFlag,
			&cli.BoolFlag{Name: "dry-run", Usage: "read the manifest and print the plan; write nothing, start nothing"},
		),
		Action: func(c *cli.Context) error {
			plannerGC()
			cl, err := loadClients(c.Context)
			if err != nil {
				return err
			}
			bucket, err := needFlag(c, "work-bucket")
			if err != nil {
				return err
			}
			so, err := submitOptionsFrom(c)
			if err != nil {
				return withCode(exitUsage, err)
			}
			plan, err := submitRun(c.Context, cl, bucket, so)
			if err != nil {
				return err
			}
			printPlan(c.App.Writer, plan, so.plan.DryRun)
			return nil
		},
	}
}

// planFlags are the flags of everything that plans a run.
func planFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "manifest", Aliases: []string{"m"}, Usage: "manifest: local path, - (stdin), s3://bucket/key, or s3://bucket/prefix/ (live listing)"},
		&cli.StringFlag{Name: "format", Usage: "manifest format: keys, csv, jsonl, inventory, listing (default: detected from the name and content)"},
		&cli.StringFlag{Name: "bucket", Aliases: []string{"source-bucket"}, EnvVars: []string{"IMGBATCH_SOURCE_BUCKET"}, Usage: "source bucket of a plain key list"},
		&cli.StringSliceFlag{Name: "ext", Usage: "only keys with these extensions (e.g. --ext jpg,jpeg,png)"},
		&cli.StringFlag{Name: "output-bucket", EnvVars: []string{"IMGBATCH_OUTPUT_BUCKET"}, Usage: "bucket for the variants"},
		&cli.StringFlag{Name: "output-prefix", EnvVars: []string{"IMGBATCH_OUTPUT_PREFIX"}, Usage: "prefix of the variants: <prefix>/<variant>/<source key without extension>.<ext>"},
		&cli.StringFlag{Name: "recipe", EnvVars: []string{"IMGBATCH_RECIPE"}, Usage: "recipe file (JSON or YAML: {name, variants: [{name, width, height, fit, format, quality, upscale, smartCrop, keepMetadata, shrinkOnLoad: fast|fine|off}]})"},
		&cli.StringSliceFlag{Name: "variant", Usage: "a variant as name:WIDTHxHEIGHT[:format[:quality[:fit]]], e.g. thumb:256x256:webp:75 (repeatable; replaces the recipe's variants)"},
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
		workBucketFlag, eventBusFlag, eventSrcFlag,
	}
}

func viaFlag() cli.Flag {
	return &cli.StringFlag{Name: "via", Value: "events", EnvVars: []string{"IMGBATCH_VIA"},
		Usage: "how to start the run: events (PutEvents \"Run Requested\" → rule → Batch array target), batch (SubmitJob directly), or none (plan only)"}
}

var (
	jobQueueFlag = &cli.StringFlag{Name: "job-queue", EnvVars: []string{"IMGBATCH_JOB_QUEUE"}, Usage: "Batch job queue (for --via batch)"}
	jobDefFlag   = &cli.StringFlag{Name: "job-definition", EnvVars: []string{"IMGBATCH_JOB_DEFINITION"}, Usage: "Batch job definition of the workers (for --via batch)"}
)

type submitOptions struct {
	manifestURI string
	format      string
	bucket      string
	ext         []string
	plan        batch.PlanOptions
	via         string
	bus, source string
	jobQueue    string
	jobDef      string
	// modifiedSince keeps only objects modified after it (scheduled runs:
	// the previous scheduled time).
	modifiedSince time.Time
}

func submitOptionsFrom(c *cli.Context) (submitOptions, error) {
	so := submitOptions{
		manifestURI: c.String("manifest"), format: c.String("format"), bucket: c.String("bucket"),
		ext: splitList(c.StringSlice("ext")), via: c.String("via"), bus: c.String("event-bus"), source: c.String("event-source"),
		jobQueue: c.String("job-queue"), jobDef: c.String("job-definition"),
	}
	if so.manifestURI == "" {
		return so, fmt.Errorf("--manifest is required")
	}
	out := c.String("output-bucket")
	if out == "" {
		return so, fmt.Errorf("--output-bucket is required")
	}
	recipe, err := loadRecipe(c.String("recipe"), c.StringSlice("variant"))
	if err != nil {
		return so, err
	}
	shardBytes, err := parseBytes(c.String("shard-bytes"))
	if err != nil {
		return so, fmt.Errorf("--shard-bytes: %w", err)
	}
	bps, err := parseBytes(c.String("assumed-bytes-per-second"))
	if err != nil {
		return so, fmt.Errorf("--assumed-bytes-per-second: %w", err)
	}
	if c.Int("shard-size") < 1 {
		return so, fmt.Errorf("--shard-size %d: want at least 1", c.Int("shard-size"))
	}
	so.plan = batch.PlanOptions{
		ClientToken: c.String("client-token"), Source: so.manifestURI, OutputBucket: out, OutputPrefix: strings.Trim(c.String("output-prefix"), "/"),
		Recipe: recipe, ShardSize: c.Int("shard-size"), ShardBytes: shardBytes, TargetShardDuration: c.Duration("target-shard-duration"),
		AssumedItemsPerSecond: c.Float64("assumed-items-per-second"), AssumedBytesPerSecond: float64(bps),
		Width: c.Int("width"), MaxBadLines: c.Int64("max-bad-lines"), Dedupe: c.Bool("dedupe"),
		Tolerance: imgbatch.Tolerance{MinTasks: c.Int64("min-tasks"), MaxFailedPercent: c.Float64("max-failed-percent"), MaxFailed: c.Int64("max-failed")},
		DryRun:    c.Bool("dry-run"),
	}
	switch so.via {
	case "events", "none", "":
	case "batch":
		if so.jobQueue == "" || so.jobDef == "" {
			return so, fmt.Errorf("--via batch needs --job-queue and --job-definition")
		}
	default:
		return so, fmt.Errorf("--via %q: use events, batch or none", so.via)
	}
	return so, nil
}

func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// submitRun plans the manifest and, unless it is a dry run or --via none,
// starts the run — also an existing run (same client token) that was never
// started (planned by `imgbatch plan`, or a submit that failed to start
// it); runs/<id>/requested.json records the start.
func submitRun(ctx context.Context, cl *clients, workBucket string, so submitOptions) (*batch.Plan, error) {
	r, closer, err := manifest.Open(ctx, so.manifestURI, manifest.Options{
		Format: manifest.Format(so.format), DefaultBucket: so.bucket, S3: cl.s3,
		Filter: manifest.Filter{Extensions: so.ext, ModifiedSince: so.modifiedSince},
	})
	if err != nil {
		return nil, fmt.Errorf("open manifest: %w", err)
	}
	defer closer.Close()
	store := cl.store(workBucket)
	plan, err := store.PlanRun(ctx, r, so.plan)
	if err != nil {
		return nil, err
	}
	log := slog.Default().With("runId", plan.Run.ID)
	if so.plan.DryRun || so.via == "none" {
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
	mark := batch.Requested{RunID: plan.Run.ID, Via: so.via, RequestedAt: time.Now().UTC()}
	if so.via == "batch" {
		jobID, err := submitBatchJob(ctx, cl, plan.Run, so)
		if err != nil {
			return nil, fmt.Errorf("run %s is planned but the Batch job was not submitted (re-run submit with the same --client-token): %w", plan.Run.ID, err)
		}
		log.Info("batch array job submitted", "jobId", jobID, "queue", so.jobQueue, "arraySize", plan.Run.Width)
		mark.JobID = jobID
	} else {
		if so.bus == "" {
			return nil, fmt.Errorf("--via events needs --event-bus")
		}
		ev := ebus.NewRunRequested(plan.Run)
		if err := cl.publisher(so.bus, so.source).Publish(ctx, ev); err != nil {
			return nil, fmt.Errorf("run %s is planned but Run Requested was not sent (re-run submit with the same --client-token): %w", plan.Run.ID, err)
		}
		log.Info("run requested", "items", plan.Run.Items, "shards", plan.Run.Shards, "bus", so.bus)
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
		JobQueue:      aws.String(so.jobQueue),
		JobDefinition: aws.String(so.jobDef),
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
			fmt.Fprintf(w, "    … the first %d are in s3://%s/%s\n", len(p.BadLines), r.WorkBucket, imgbatch.Layout{RunID: r.ID}.BadLines())
		}
	}
}

func variantList(r imgbatch.Recipe) string {
	var parts []string
	for _, v := range r.Variants {
		parts = append(parts, fmt.Sprintf("%s %dx%d %s %s", v.Name, v.Width, v.Height, v.Fit, v.Format))
	}
	return strings.Join(parts, ", ")
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// loadRecipe reads a recipe file (JSON or YAML) and/or --variant flags.
func loadRecipe(path string, variants []string) (imgbatch.Recipe, error) {
	r := imgbatch.DefaultRecipe
	r.Variants = append([]imgbatch.Variant(nil), r.Variants...)
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return r, fmt.Errorf("recipe: %w", err)
		}
		r, err = parseRecipe(b)
		if err != nil {
			return r, fmt.Errorf("recipe %s: %w", path, err)
		}
	}
	if len(variants) > 0 {
		if path == "" {
			r.Name = "flags"
		}
		r.Variants = nil
		for _, s := range variants {
			v, err := parseVariant(s)
			if err != nil {
				return r, err
			}
			r.Variants = append(r.Variants, v)
		}
	}
	if err := r.Normalize(); err != nil {
		return r, fmt.Errorf("recipe: %w", err)
	}
	return r, nil
}

// parseRecipe accepts JSON or YAML with the same field names.
func parseRecipe(b []byte) (imgbatch.Recipe, error) {
	var r imgbatch.Recipe
	var generic any
	if err := yaml.Unmarshal(b, &generic); err != nil { // YAML is a superset of JSON
		return r, err
	}
	j, err := json.Marshal(generic)
	if err != nil {
		return r, err
	}
	dec := json.NewDecoder(strings.NewReader(string(j)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, err
	}
	return r, nil
}

// parseVariant parses name:WxH[:format[:quality[:fit]]].
func parseVariant(s string) (imgbatch.Variant, error) {
	parts := strings.Split(s, ":")
	bad := func(why string) (imgbatch.Variant, error) {
		return imgbatch.Variant{}, fmt.Errorf("--variant %q: %s (want name:WIDTHxHEIGHT[:format[:quality[:fit]]], e.g. thumb:256x256:webp:75)", s, why)
	}
	if len(parts) < 2 || len(parts) > 5 {
		return bad("wrong number of fields")
	}
	v := imgbatch.Variant{Name: parts[0]}
	w, h, ok := strings.Cut(parts[1], "x")
	if !ok {
		return bad("size must be WIDTHxHEIGHT (either may be empty)")
	}
	var err error
	if w != "" {
		if v.Width, err = strconv.Atoi(w); err != nil {
			return bad("width is not a number")
		}
	}
	if h != "" {
		if v.Height, err = strconv.Atoi(h); err != nil {
			return bad("height is not a number")
		}
	}
	if len(parts) > 2 {
		v.Format = parts[2]
	}
	if len(parts) > 3 && parts[3] != "" {
		if v.Quality, err = strconv.Atoi(parts[3]); err != nil {
			return bad("quality is not a number")
		}
	}
	if len(parts) > 4 {
		v.Fit = parts[4]
	}
	return v, nil
}
