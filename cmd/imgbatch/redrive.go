package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/manifest"
)

func redriveCommand() *cli.Command {
	return &cli.Command{
		Name:      "redrive",
		Usage:     "start a new run of a finished run's failed items (its failed.csv), same recipe and outputs",
		ArgsUsage: "RUN_ID",
		Description: `Plans a new run whose manifest is the finished run's failed.csv (an S3 Batch
Operations CSV of the items that failed) with the same recipe, output bucket and
prefix, shard size, array width and failure tolerance, and starts it the way
"imgbatch submit" does (--via events by default).

The new run's client token is derived from the old run id ("redrive:<RUN_ID>"),
so redriving the same run twice names the same new run and starts it once;
give --client-token to redrive it again on purpose.

Examples:
   imgbatch redrive 20261123t020000z-1a2b3c4d --work-bucket imgbatch-work
   imgbatch redrive --dry-run RUN_ID
   imgbatch redrive --client-token "redrive-2 of RUN_ID" --width 2 RUN_ID

Flags go before RUN_ID.`,
		Flags: []cli.Flag{
			workBucketFlag, eventBusFlag, eventSrcFlag, viaFlag(), jobQueueFlag, jobDefFlag,
			&cli.StringFlag{Name: "client-token", Usage: "idempotency token of the new run (default redrive:<RUN_ID>)"},
			&cli.IntFlag{Name: "width", Usage: "array width of the new run (default: the old run's)"},
			&cli.IntFlag{Name: "shard-size", Usage: "items per shard of the new run (default: the old run's)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the new run's plan; write nothing, start nothing"},
		},
		Action: redriveAction,
	}
}

func redriveAction(c *cli.Context) error {
	if err := runIDArg(c); err != nil {
		return err
	}
	oldID := c.Args().First()
	bucket, err := needFlag(c, "work-bucket")
	if err != nil {
		return err
	}
	cl, err := loadClients(c.Context)
	if err != nil {
		return err
	}
	store := cl.store(bucket)
	old, err := store.LoadRun(c.Context, oldID)
	if err != nil {
		return err
	}
	lay := imgbatch.Layout{RunID: old.ID}
	var fin batch.Final
	if _, err := store.GetJSON(c.Context, lay.Final(), &fin); err != nil {
		if batch.IsNotFound(err) {
			return fmt.Errorf("run %s is not finished (no final.json): redrive needs its failed.csv; see imgbatch status %s", old.ID, old.ID)
		}
		return err
	}
	w := c.App.Writer
	if fin.Counts.Failed == 0 {
		fmt.Fprintf(w, "run %s has no failed items: nothing to redrive\n", old.ID)
		return nil
	}
	token := c.String("client-token")
	if token == "" {
		token = "redrive:" + old.ID
	}
	width, shardSize := old.Width, old.ShardSize
	if c.IsSet("width") {
		width = c.Int("width")
	}
	if c.IsSet("shard-size") {
		shardSize = c.Int("shard-size")
	}
	failed := fin.Failed
	if failed == "" {
		failed = lay.Failed()
	}
	so := submitOptions{
		manifestURI: ebus.S3URI(bucket, failed), format: string(manifest.CSV),
		via: c.String("via"), bus: c.String("event-bus"), source: c.String("event-source"),
		jobQueue: c.String("job-queue"), jobDef: c.String("job-definition"),
		plan: batch.PlanOptions{
			ClientToken: token, Source: fmt.Sprintf("redrive of %s: %s", old.ID, ebus.S3URI(bucket, failed)),
			OutputBucket: old.OutputBucket, OutputPrefix: old.OutputPrefix, Recipe: old.Recipe,
			ShardSize: shardSize, Width: width, Tolerance: old.Tolerance, Dedupe: true,
			DryRun: c.Bool("dry-run"),
		},
	}
	switch so.via {
	case "events", "none", "":
	case "batch":
		if so.jobQueue == "" || so.jobDef == "" {
			return withCode(exitUsage, fmt.Errorf("--via batch needs --job-queue and --job-definition"))
		}
	default:
		return withCode(exitUsage, fmt.Errorf("--via %q: use events, batch or none", so.via))
	}
	plan, err := submitRun(c.Context, cl, bucket, so)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "redrive of %s (%d failed items)\n", old.ID, fin.Counts.Failed)
	printPlan(w, plan, so.plan.DryRun)
	return nil
}
