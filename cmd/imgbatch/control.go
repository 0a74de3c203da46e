package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsbatch "github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
)

// cancel, pause and resume write the run's control object
// (runs/<id>/control.json), which every child reads between items.
const (
	cancelUsage = "end a run now: Run Failed (reason cancelled), the items not run in remaining.csv"
	cancelHelp  = `Writes "cancel" to the run's control object; its children stop between items
(within --control-every, 5s by default), checkpoint and exit 0. Then this
command ends the run itself, so a run with no live child ends too: the results
of the shards done go to report.csv and failed.csv as usual, the items of the
other shards to remaining.csv (an S3 Batch Operations CSV), final.json says
"failed", reason "cancelled", and "Run Failed" is sent.

--terminate JOB_ID also calls Batch TerminateJob on the array (its children get
SIGTERM and checkpoint; the run is already ended by then).

Examples:
   imgbatch cancel --work-bucket imgbatch-work --reason "wrong recipe" RUN_ID
   imgbatch cancel --dry-run RUN_ID
   imgbatch redrive RUN_ID        # later: run the remaining items

Flags go before RUN_ID.`

	pauseUsage = "pause a run: children checkpoint and exit 76 (not retried) until `imgbatch resume`"
	pauseHelp  = `Writes "pause" to the run's control object. Each child reads it between items
(within --control-every), stops taking work, checkpoints what it has, lets its
lease go and exits 76, which the job definitions' retry strategy does not
retry: the array ends, and costs nothing while paused. Nothing is lost when a
child dies instead: its shard is taken over from its checkpoint after resume.

Examples:
   imgbatch pause --work-bucket imgbatch-work RUN_ID
   imgbatch status RUN_ID          # "paused"
   imgbatch resume RUN_ID

Flags go before RUN_ID.`

	resumeUsage = "resume a paused run: clear the pause and start its array again from the checkpoints"
	resumeHelp  = `Writes "resume" to the run's control object and starts the run's array again
the way "imgbatch submit" does (--via events: a "Run Requested" event whose rule
submits the array; --via batch: SubmitJob directly; --via none: only clear the
pause, for an array you start yourself). The new children claim the shards
from the checkpoints; done shards are not run again.

Examples:
   imgbatch resume --work-bucket imgbatch-work RUN_ID
   imgbatch resume --via batch --job-queue Q --job-definition D RUN_ID
   imgbatch resume --dry-run RUN_ID

Flags go before RUN_ID.`
)

func cancelFlags() []cli.Flag {
	return slices.Concat(runFlags(), []cli.Flag{
		&cli.StringFlag{Name: "reason", Usage: "why (kept in control.json and the log)"},
		&cli.StringFlag{Name: "terminate", Usage: "Batch job id of the run's array: also TerminateJob it"},
		dryRunFlag("say what would happen; write nothing"),
	})
}

func pauseFlags() []cli.Flag {
	return slices.Concat(runFlags(), []cli.Flag{
		&cli.StringFlag{Name: "reason", Usage: "why (kept in control.json and the log)"},
		dryRunFlag("say what would happen; write nothing"),
	})
}

func resumeFlags() []cli.Flag {
	return slices.Concat(runFlags(), startFlags(), []cli.Flag{
		dryRunFlag("say what would happen; write nothing, start nothing"),
	})
}

// controlOptions are the flags of cancel, pause and resume, read once.
type controlOptions struct {
	runID, workBucket string
	bus, source       string
	reason, terminate string
	start             startOptions // resume
	dryRun            bool
}

func controlOptionsFrom(c *cli.Context) (controlOptions, error) {
	if err := runIDArg(c); err != nil {
		return controlOptions{}, err
	}
	o := controlOptions{runID: c.Args().First(), bus: c.String("event-bus"), source: c.String("event-source"),
		reason: c.String("reason"), terminate: c.String("terminate"), dryRun: c.Bool("dry-run")}
	var err error
	if o.workBucket, err = needFlag(c, "work-bucket"); err != nil {
		return o, err
	}
	if c.Command.Name == "resume" {
		o.start = startOptionsFrom(c)
		return o, usageErr(o.start.check())
	}
	return o, nil
}

// who names the person (or machine) behind a control write.
func who() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// openRun loads a run that is not final, with its control object.
func openRun(ctx context.Context, store *batch.Store, runID string) (*imgbatch.Run, *batch.Control, error) {
	run, err := store.LoadRun(ctx, runID)
	if err != nil {
		return nil, nil, err
	}
	var fin batch.Final
	if _, err := store.GetJSON(ctx, imgbatch.Layout{RunID: runID}.Final(), &fin); err == nil {
		why := fin.Status
		if fin.Reason != "" {
			why += ", " + fin.Reason
		}
		return nil, nil, fmt.Errorf("run %s is already finished (%s); see imgbatch status %s", runID, why, runID)
	} else if !batch.IsNotFound(err) {
		return nil, nil, err
	}
	ctl, _, err := store.LoadControl(ctx, runID)
	return run, ctl, err
}

func cancelAction(c *cli.Context, cl *clients, o controlOptions) error {
	ctx, w, store := c.Context, c.App.Writer, cl.store(o.workBucket)
	run, _, err := openRun(ctx, store, o.runID)
	if err != nil {
		return err
	}
	if o.dryRun {
		fmt.Fprintf(w, "would cancel run %s (%d items, %d shards): its children stop between items; the items of shards not done go to remaining.csv\n", run.ID, run.Items, run.Shards)
		return nil
	}
	me := who()
	if _, err := store.UpdateControl(ctx, run.ID, func(*batch.Control) (*batch.Control, error) {
		return &batch.Control{Action: batch.ActionCancel, Reason: o.reason, Who: me, At: time.Now().UTC()}, nil
	}); err != nil {
		return err
	}
	if o.terminate != "" {
		if err := terminate(ctx, cl, o.terminate, "imgbatch cancel by "+me); err != nil {
			return err
		}
	}
	var n batch.Notifier = noNotifier{}
	if o.bus != "" {
		n = notifier{pub: cl.publisher(o.bus, o.source)}
	}
	log := slog.Default().With("runId", run.ID)
	id := batch.Identity{JobID: "imgbatch-cancel", ArraySize: 1, Attempt: 1}
	ended, err := batch.Abort(ctx, store, run, id, n, imgbatch.ReasonCancelled, log)
	if err != nil {
		return fmt.Errorf("cancel of run %s is written (its children stop), but ending it failed (run cancel again): %w", run.ID, err)
	}
	return printEnded(ctx, w, store, run, ended)
}

// printEnded says how a cancelled run ended and what to do next.
func printEnded(ctx context.Context, w io.Writer, store *batch.Store, run *imgbatch.Run, ended bool) error {
	var fin batch.Final
	if _, err := store.GetJSON(ctx, imgbatch.Layout{RunID: run.ID}.Final(), &fin); err != nil {
		return err
	}
	if !ended {
		fmt.Fprintf(w, "run %s ended meanwhile (%s %s)\n", run.ID, fin.Status, fin.Reason)
	} else {
		fmt.Fprintf(w, "run %s cancelled: %d items ran (%d failed), %d did not\n", run.ID, fin.Counts.Items, fin.Counts.Failed, fin.NotRun)
	}
	fmt.Fprintf(w, "  report     %s\n", ebus.S3URI(run.WorkBucket, fin.Report))
	if fin.Remaining != "" {
		fmt.Fprintf(w, "  remaining  %s\n", ebus.S3URI(run.WorkBucket, fin.Remaining))
		fmt.Fprintf(w, "redrive the remaining items with: imgbatch redrive %s\n", run.ID)
	}
	return nil
}

// terminate asks Batch to end the array job (its children get SIGTERM).
func terminate(ctx context.Context, cl *clients, jobID, reason string) error {
	_, err := cl.bt.TerminateJob(ctx, &awsbatch.TerminateJobInput{JobId: aws.String(jobID), Reason: aws.String(reason)})
	if err != nil {
		return fmt.Errorf("terminate Batch job %s: %w", jobID, err)
	}
	return nil
}

func pauseAction(c *cli.Context, cl *clients, o controlOptions) error {
	ctx, w, store := c.Context, c.App.Writer, cl.store(o.workBucket)
	run, ctl, err := openRun(ctx, store, o.runID)
	if err != nil {
		return err
	}
	if ctl != nil && ctl.Action == batch.ActionPause {
		fmt.Fprintf(w, "run %s is already paused (by %s at %s)\nresume with: imgbatch resume %s\n", run.ID, ctl.Who, ctl.At.Format(time.RFC3339), run.ID)
		return nil
	}
	if o.dryRun {
		fmt.Fprintf(w, "would pause run %s: its children checkpoint and exit %d (not retried)\n", run.ID, exitPaused)
		return nil
	}
	me := who()
	_, err = store.UpdateControl(ctx, run.ID, func(cur *batch.Control) (*batch.Control, error) {
		if cur != nil && (cur.Action == batch.ActionCancel || cur.Action == batch.ActionAbort) {
			return nil, fmt.Errorf("run %s is being ended (%s): it cannot be paused", run.ID, cur.Action)
		}
		return &batch.Control{Action: batch.ActionPause, Reason: o.reason, Who: me, At: time.Now().UTC()}, nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "run %s paused: its children checkpoint and exit %d within a few seconds\nresume with: imgbatch resume %s\n", run.ID, exitPaused, run.ID)
	return nil
}

// errNotPaused is resume's answer for a run that is not paused.
var errNotPaused = errors.New("not paused")

func resumeAction(c *cli.Context, cl *clients, o controlOptions) error {
	ctx, w, store := c.Context, c.App.Writer, cl.store(o.workBucket)
	run, ctl, err := openRun(ctx, store, o.runID)
	if err != nil {
		return err
	}
	if ctl == nil || ctl.Action != batch.ActionPause {
		return fmt.Errorf("run %s is %w (see imgbatch status %s)", run.ID, errNotPaused, run.ID)
	}
	if o.dryRun {
		fmt.Fprintf(w, "would clear the pause of run %s and start its array (--via %s, width %d)\n", run.ID, o.start.via, run.Width)
		return nil
	}
	me := who()
	if _, err := store.UpdateControl(ctx, run.ID, func(cur *batch.Control) (*batch.Control, error) {
		if cur == nil || cur.Action != batch.ActionPause {
			return nil, fmt.Errorf("run %s is %w any more", run.ID, errNotPaused)
		}
		return &batch.Control{Action: batch.ActionResume, Who: me, At: time.Now().UTC()}, nil
	}); err != nil {
		return err
	}
	how, err := startAgain(ctx, cl, run, o)
	if err != nil {
		// Paused again, so that resume can be run again.
		if _, perr := store.UpdateControl(ctx, run.ID, func(*batch.Control) (*batch.Control, error) {
			return &batch.Control{Action: batch.ActionPause, Reason: "resume failed to start the array", Who: me, At: time.Now().UTC()}, nil
		}); perr != nil {
			return fmt.Errorf("run %s: the array was not started (%v) and the pause not restored: %w", run.ID, err, perr)
		}
		return fmt.Errorf("run %s stays paused: its array was not started (run resume again): %w", run.ID, err)
	}
	fmt.Fprintf(w, "run %s resumed: %s\n", run.ID, how)
	return nil
}

// startAgain starts the array of a resumed run as submit starts a new one.
func startAgain(ctx context.Context, cl *clients, run *imgbatch.Run, o controlOptions) (string, error) {
	switch o.start.via {
	case "none":
		return "pause cleared; start its array yourself (imgbatch work --run-id " + run.ID + ")", nil
	case "batch":
		jobID, err := submitBatchJob(ctx, cl, *run, submitOptions{start: o.start})
		if err != nil {
			return "", err
		}
		return "Batch array job " + jobID + " submitted", nil
	}
	if o.start.bus == "" {
		return "", fmt.Errorf("--via events needs --event-bus")
	}
	ev := ebus.NewRunRequested(*run)
	// A new id: the first start's event has the run's deterministic one.
	ev.EventID = ev.ID() + ":resume-" + time.Now().UTC().Format("20060102t150405.000z")
	if err := cl.publisher(o.start.bus, o.start.source).Publish(ctx, ev); err != nil {
		return "", err
	}
	return "Run Requested sent to " + o.start.bus, nil
}
