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
		&cli.StringFlag{Name: "recipe", EnvVars: []string{"IMGBATCH_RECIPE"}, Usage: "recipe file (JSON or YAML: {name, variants: [{name, width, height, fit, format, quality}]})"},
		&cli.StringSliceFlag{Name: "variant", Usage: "a variant as name:WIDTHxHEIGHT[:format[:quality[:fit]]], e.g. thumb:256x256:webp:75 (repeatable; replaces the recipe's variants)"},
		&cli.IntFlag{Name: "shard-size", Value: 200, Usage: "items per shard (a shard is the unit of claim, checkpoint and retry)"},
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
	so.plan = batch.PlanOptions{
		ClientToken: c.String("client-token"), Source: so.manifestURI, OutputBucket: out, OutputPrefix: strings.Trim(c.String("output-prefix"), "/"),
		Recipe: recipe, ShardSize: c.Int("shard-size"), Width: c.Int("width"), MaxBadLines: c.Int64("max-bad-lines"),
		Tolerance: imgbatch.Tolerance{MinTasks: c.Int64("min-tasks"), MaxFailedPercent: c.Float64("max-failed-percent"), MaxFailed: c.Int64("max-failed")},
		IsBadLine: manifest.IsLineError, DryRun: c.Bool("dry-run"),
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

// submitRun plans the manifest and, unless it is a dry run or the run
// already existed, sends "Run Requested".
func submitRun(ctx context.Context, cl *clients, workBucket string, so submitOptions) (*batch.Plan, error) {
	r, closer, err := manifest.Open(ctx, so.manifestURI, manifest.Options{
		Format: manifest.Format(so.format), DefaultBucket: so.bucket, S3: cl.s3,
		Filter: manifest.Filter{Extensions: so.ext},
	})
	if err != nil {
		return nil, fmt.Errorf("open manifest: %w", err)
	}
	defer closer.Close()
	plan, err := cl.store(workBucket).PlanRun(ctx, r, so.plan)
	if err != nil {
		return nil, err
	}
	log := slog.Default().With("runId", plan.Run.ID)
	if plan.Existing {
		log.Info("client token names an existing run: not started again", "clientToken", so.plan.ClientToken)
		return plan, nil
	}
	if so.plan.DryRun || so.via == "none" {
		return plan, nil
	}
	if plan.Run.Items == 0 {
		log.Warn("the manifest has no items: nothing to start")
		return plan, nil
	}
	if so.via == "batch" {
		jobID, err := submitBatchJob(ctx, cl, plan.Run, so)
		if err != nil {
			return nil, fmt.Errorf("run %s is planned but the Batch job was not submitted (re-run submit with the same --client-token): %w", plan.Run.ID, err)
		}
		log.Info("batch array job submitted", "jobId", jobID, "queue", so.jobQueue, "arraySize", plan.Run.Width)
		return plan, nil
	}
	if so.bus == "" {
		return nil, fmt.Errorf("--via events needs --event-bus")
	}
	if err := cl.publisher(so.bus, so.source).Publish(ctx, ebus.NewRunRequested(plan.Run)); err != nil {
		return nil, fmt.Errorf("run %s is planned but Run Requested was not sent (re-run submit with the same --client-token): %w", plan.Run.ID, err)
	}
	log.Info("run requested", "items", plan.Run.Items, "shards", plan.Run.Shards, "bus", so.bus)
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
	if r.BadLines > 0 {
		fmt.Fprintf(w, "  bad lines   %d (first: %s)\n", r.BadLines, first(p.BadLines))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
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
