package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
)

// reapUsage and reapHelp are `imgbatch reap --help`.
const (
	reapUsage = "end a run whose worker array died: Run Failed with report.csv and remaining.csv (run by the template's reaper job)"
	reapHelp  = `When every child of a run's worker array exits 1 (say the output bucket is
missing) or spends its Batch attempts, no child is left to finalize the run and
nothing says so. The template's DeadArrayRule matches AWS Batch's own
"Batch Job State Change" event (status FAILED, a worker job definition, the
array's parent) on the default event bus, notifies the SNS topic, and submits
the reaper job, which runs this command with the run id from the job's
parameters (runId) and the failed job's id.

reap ends the run now as "Run Failed" with --reason (workers-failed): report.csv
lists the items that ran, remaining.csv the ones that did not (ready for
"imgbatch redrive"), final.json records the reason, and the event goes to the
bus. A run that is already final is left alone: an array's parent is FAILED
when any child failed, even when the other children finished the run — reap
then only says so and exits 0.

Examples:
   imgbatch reap --run 20261123t020000z-1a2b3c4d --job-id 4c7599ae-... --work-bucket imgbatch-work
   imgbatch reap --run RUN_ID   # by hand, after "imgbatch status" showed a dead run`
)

func reapFlags() []cli.Flag {
	return slices.Concat([]cli.Flag{
		&cli.StringFlag{Name: "run", Aliases: []string{"run-id"}, EnvVars: []string{"IMGBATCH_RUN_ID"}, Usage: "run to end (runs/<id>/run.json in the work bucket)"},
		&cli.StringFlag{Name: "job-id", Usage: "the Batch job that failed (from the event; logged and kept as the finalizer's owner)"},
		&cli.StringFlag{Name: "reason", Value: imgbatch.ReasonWorkersFailed, Usage: "reason of the Run Failed event and final.json"},
	}, runFlags())
}

// reapOptions are reap's flags, read once.
type reapOptions struct {
	runID, jobID, reason string
	workBucket           string
	bus, source          string
}

func reapOptionsFrom(c *cli.Context) (reapOptions, error) {
	o := reapOptions{jobID: c.String("job-id"), reason: c.String("reason"), bus: c.String("event-bus"), source: c.String("event-source")}
	var err error
	if o.runID, err = needFlag(c, "run"); err != nil {
		return o, err
	}
	if o.workBucket, err = needFlag(c, "work-bucket"); err != nil {
		return o, err
	}
	if o.reason == "" {
		return o, usageErr(fmt.Errorf("--reason must not be empty"))
	}
	return o, nil
}

// runAborter ends a run now (batch.Abort): false when it was already final.
type runAborter func(ctx context.Context, s *batch.Store, run *imgbatch.Run, me batch.Identity, n batch.Notifier, reason string, log *slog.Logger) (bool, error)

func reapAction(c *cli.Context, cl *clients, o reapOptions) error {
	return reap(c, cl, o, batch.Abort)
}

func reap(c *cli.Context, cl *clients, o reapOptions, abort runAborter) error {
	ctx := c.Context
	log := slog.Default().With("runId", o.runID, "failedJobId", o.jobID, "reason", o.reason)
	store := cl.store(o.workBucket)
	run, err := store.LoadRun(ctx, o.runID)
	if err != nil {
		return fmt.Errorf("reap run %s: %w", o.runID, err)
	}
	var n batch.Notifier = noNotifier{}
	if o.bus != "" {
		n = notifier{pub: cl.publisher(o.bus, o.source)}
	}
	me, err := identityFromEnv()
	if err != nil {
		return usageErr(err)
	}
	if o.jobID != "" {
		me.JobID = "reaper-of-" + o.jobID
	}
	ended, err := abort(ctx, store, run, me, n, o.reason, log)
	if err != nil {
		return fmt.Errorf("reap run %s: %w", run.ID, err)
	}
	w := c.App.Writer
	lay := imgbatch.Layout{RunID: run.ID}
	if !ended {
		if final, err := store.Exists(ctx, lay.Final()); err == nil && !final {
			// batch.Abort leaves a paused run alone: its children exit on purpose.
			log.Info("run not ended: it is paused (its children exited on purpose); resume or cancel it")
			fmt.Fprintf(w, "run %s is paused: not ended (imgbatch resume or cancel it)\n", run.ID)
			return nil
		}
		log.Info("run already final: nothing to reap (the failed job's other children finished it, or it was cancelled)")
		fmt.Fprintf(w, "run %s is already final: nothing to do\n", run.ID)
		return nil
	}
	log.Warn("run ended: Run Failed", "report", lay.Report(), "remaining", lay.Remaining())
	fmt.Fprintf(w, "run %s ended: Run Failed (%s)\n  report     s3://%s/%s\n  remaining  s3://%s/%s (imgbatch redrive %s)\n",
		run.ID, o.reason, o.workBucket, lay.Report(), o.workBucket, lay.Remaining(), run.ID)
	return nil
}
