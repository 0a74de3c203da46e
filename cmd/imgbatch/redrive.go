package main

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/manifest"
)

// redriveUsage and redriveHelp are `imgbatch redrive --help`.
const (
	redriveUsage = "start a new run of what a finished run left: the items it never ran (remaining.csv, a run ended early) or its failed items (failed.csv); same recipe, outputs and layout"
	redriveHelp  = `Plans a new run whose manifest is the finished run's failed.csv (an S3 Batch
Operations CSV of the items that failed) with the same recipe, output bucket and
prefix, shard size, array width and failure tolerance, and starts it the way
"imgbatch submit" does (--via events by default).

A run ended early (cancelled, or stopped when its failure tolerance broke) also
has remaining.csv, the items that never ran: redrive starts those by default
(--items remaining); --items failed redrives its failed items instead.

The new run's client token is derived from the old run id ("redrive:<RUN_ID>",
"redrive-remaining:<RUN_ID>" for the remaining items),
so redriving the same run twice names the same new run and starts it once;
give --client-token to redrive it again on purpose.

Examples:
   imgbatch redrive 20261123t020000z-1a2b3c4d --work-bucket imgbatch-work
   imgbatch redrive --dry-run RUN_ID
   imgbatch redrive --client-token "redrive-2 of RUN_ID" --width 2 RUN_ID

Flags go before RUN_ID.`
)

func redriveFlags() []cli.Flag {
	return slices.Concat(runFlags(), startFlags(), []cli.Flag{
		&cli.StringFlag{Name: "client-token", Usage: "idempotency token of the new run (default redrive:<RUN_ID>)"},
		&cli.IntFlag{Name: "width", Usage: "array width of the new run (default: the old run's)"},
		&cli.IntFlag{Name: "shard-size", Usage: "items per shard of the new run (default: the old run's)"},
		&cli.StringFlag{Name: "items", Usage: "which items: failed (failed.csv) or remaining (remaining.csv, the items a run ended early never ran; the default for such a run)"},
		dryRunFlag("print the new run's plan; write nothing, start nothing"),
	})
}

// redriveOptions are redrive's flags, read once.
type redriveOptions struct {
	runID       string // the finished run
	workBucket  string
	start       startOptions
	clientToken string
	width       *int // nil: the old run's
	shardSize   *int // nil: the old run's
	dryRun      bool
	items       string // failed, remaining, or "" (remaining when the run has them)
}

func redriveOptionsFrom(c *cli.Context) (redriveOptions, error) {
	if err := runIDArg(c); err != nil {
		return redriveOptions{}, err
	}
	o := redriveOptions{runID: c.Args().First(), start: startOptionsFrom(c), clientToken: c.String("client-token"),
		width: intIfSet(c, "width"), shardSize: intIfSet(c, "shard-size"), dryRun: c.Bool("dry-run"), items: c.String("items")}
	if o.items != "" && o.items != "failed" && o.items != "remaining" {
		return o, usageErr(fmt.Errorf("--items %q: use failed or remaining", o.items))
	}
	var err error
	if o.workBucket, err = needFlag(c, "work-bucket"); err != nil {
		return o, err
	}
	return o, usageErr(o.start.check())
}

// intIfSet is an int flag's value when it was given.
func intIfSet(c *cli.Context, name string) *int {
	if !c.IsSet(name) {
		return nil
	}
	v := c.Int(name)
	return &v
}

func redriveAction(c *cli.Context, cl *clients, o redriveOptions) error {
	store := cl.store(o.workBucket)
	old, err := store.LoadRun(c.Context, o.runID)
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
	o.pick(fin)
	count := fin.Counts.Failed
	if o.items == "remaining" {
		if fin.Remaining == "" {
			return fmt.Errorf("run %s ran to its end: it has no remaining items (use --items failed)", old.ID)
		}
		count = fin.NotRun
	}
	if count == 0 {
		fmt.Fprintf(w, "run %s has no %s items: nothing to redrive\n", old.ID, o.items)
		return nil
	}
	plan, err := submitRun(c.Context, cl, o.submitOptions(old, fin))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "redrive of %s (%d %s items)\n", old.ID, count, o.items)
	printPlan(w, plan, o.dryRun)
	return nil
}

// pick settles which items to redrive and the new run's client token.
func (o *redriveOptions) pick(fin batch.Final) {
	if o.items == "" {
		o.items = "failed"
		if fin.Remaining != "" {
			o.items = "remaining"
		}
	}
	if o.clientToken == "" {
		o.clientToken = "redrive:" + o.runID
		if o.items == "remaining" {
			o.clientToken = "redrive-remaining:" + o.runID
		}
	}
}

// submitOptions plans the failed items of old as a new run with old's
// recipe, outputs and tolerance.
func (o redriveOptions) submitOptions(old *imgbatch.Run, fin batch.Final) submitOptions {
	width, shardSize := old.Width, old.ShardSize
	if o.width != nil {
		width = *o.width
	}
	if o.shardSize != nil {
		shardSize = *o.shardSize
	}
	failed := fin.Failed
	if failed == "" {
		failed = imgbatch.Layout{RunID: old.ID}.Failed()
	}
	if o.items == "remaining" {
		failed = fin.Remaining
	}
	return submitOptions{
		workBucket: o.workBucket, manifestURI: ebus.S3URI(o.workBucket, failed), format: string(manifest.CSV), start: o.start,
		plan: batch.PlanOptions{
			ClientToken: o.clientToken, Source: fmt.Sprintf("redrive of %s: %s", old.ID, ebus.S3URI(o.workBucket, failed)),
			OutputBucket: old.OutputBucket, OutputPrefix: old.OutputPrefix, Recipe: old.Recipe,
			OutputKey: cmp.Or(old.OutputKey, imgbatch.LegacyOutputKey), // an old run keeps its layout
			ShardSize: shardSize, Width: width, Tolerance: old.Tolerance, Dedupe: true,
			DryRun: o.dryRun,
		},
	}
}
