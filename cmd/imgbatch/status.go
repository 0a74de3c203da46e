package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch/batch"
)

// statusUsage and statusHelp are `imgbatch status --help`.
const (
	statusUsage = "show a run's progress, throughput, ETA and failures by reason"
	statusHelp  = `Reads the run's state from the work bucket (run.json, claims, checkpoints,
done markers) and prints progress per shard, throughput, ETA and failures
grouped by reason, the run's state and, in one line, what to do next.

States: waiting (no shard claimed yet), running, stalled (not finished, and no
lease renewed nor shard done for --stall-after: no child is alive), paused
(imgbatch pause), ending (a cancel or abort is under way), completed,
failed-tolerance (the failure tolerance broke; maybe stopped early, then
remaining.csv lists the items that did not run), cancelled (imgbatch cancel),
dead (the array's children failed: reason workers-failed), failed.
--json has the same as "state" and "hint".

Examples:
   imgbatch status 20261123t020000z-1a2b3c4d --work-bucket imgbatch-work
   imgbatch status --json RUN_ID | jq .counts
   imgbatch status --watch 5s RUN_ID

Flags go before RUN_ID.

Exit code 0 while running or completed, 3 when the run failed (tolerance,
cancelled, dead).`
)

func statusFlags() []cli.Flag {
	return []cli.Flag{
		workBucketFlag,
		jsonFlag("print the status as JSON"),
		&cli.DurationFlag{Name: "watch", Usage: "refresh every interval (at least 100ms) until the run is finished, then exit as without it (e.g. --watch 5s)"},
		&cli.BoolFlag{Name: "shards", Usage: "list every shard"},
		&cli.DurationFlag{Name: "stall-after", Value: 3 * batch.DefaultLeaseTTL, Usage: "call an unfinished run stalled when no lease was renewed and no shard finished for this long (a few of the children's --lease-ttl)"},
	}
}

// statusOptions are status's flags, read once.
type statusOptions struct {
	runID, workBucket string
	json, shards      bool
	watch             time.Duration // 0: once
	stallAfter        time.Duration
}

func statusOptionsFrom(c *cli.Context) (statusOptions, error) {
	if err := runIDArg(c); err != nil {
		return statusOptions{}, err
	}
	o := statusOptions{runID: c.Args().First(), json: c.Bool("json"), shards: c.Bool("shards"), watch: c.Duration("watch"), stallAfter: c.Duration("stall-after")}
	if o.watch < 0 || (o.watch > 0 && o.watch < minWatch) {
		return o, withCode(exitUsage, fmt.Errorf("--watch %s: give an interval of at least %s (every refresh lists the run's shards)", o.watch, minWatch))
	}
	var err error
	o.workBucket, err = needFlag(c, "work-bucket")
	return o, err
}

// statusAction prints the status once, or with --watch again every
// interval until the run is finished (then it exits like a single status:
// 3 when the run failed its tolerance) or the user interrupts it (0). A
// refresh that fails while watching is reported and retried; done markers
// are read once for the whole watch.
func statusAction(c *cli.Context, cl *clients, o statusOptions) error {
	watch := o.watch
	sr := &batch.StatusReader{Store: cl.store(o.workBucket), RunID: o.runID, Detail: o.shards, StallAfter: o.stallAfter}
	shown := false
	for {
		st, err := sr.Status(c.Context, time.Now())
		switch {
		case err != nil && (!shown || watch <= 0):
			return err
		case err != nil:
			fmt.Fprintf(c.App.ErrWriter, "imgbatch: status refresh failed (retrying in %s): %v\n", watch, err)
		default:
			shown = true
			if o.json {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				if err := enc.Encode(st); err != nil {
					return err
				}
			} else {
				printStatus(c.App.Writer, st, o.shards)
			}
			if st.Final != nil || watch <= 0 {
				if st.Final != nil && st.Final.Status == batch.RunFailed {
					return withCode(exitRunFailed, fmt.Errorf("run %s failed (%s): %s", st.Run.ID, st.Final.Reason, st.Final.Detail))
				}
				return nil
			}
		}
		select {
		case <-c.Context.Done():
			return nil
		case <-time.After(watch):
		}
	}
}

// runIDArg checks that the command got exactly one argument, RUN_ID, with
// its flags before it (flags after it are not parsed, so they are refused).
func runIDArg(c *cli.Context) error {
	if c.NArg() == 1 {
		return nil
	}
	for _, a := range c.Args().Slice()[min(1, c.NArg()):] {
		if strings.HasPrefix(a, "-") {
			return withCode(exitUsage, fmt.Errorf("flags go before RUN_ID: imgbatch %s %s %s", c.Command.Name, strings.Join(c.Args().Slice()[1:], " "), c.Args().First()))
		}
	}
	return withCode(exitUsage, fmt.Errorf("usage: imgbatch %s [flags] RUN_ID (see --help)", c.Command.Name))
}

// minWatch is the shortest --watch interval.
const minWatch = 100 * time.Millisecond

func printStatus(w io.Writer, st *batch.RunStatus, shards bool) {
	r := st.Run
	pct := 0.0
	if r.Items > 0 {
		pct = float64(st.Counts.Items) * 100 / float64(r.Items)
	}
	fmt.Fprintf(w, "run %s: %s\n", r.ID, st.State)
	fmt.Fprintf(w, "  next    %s\n", st.Hint)
	fmt.Fprintf(w, "  items   %d/%d (%.1f%%): %d succeeded, %d skipped, %d failed\n", st.Counts.Items, r.Items, pct, st.Counts.Succeeded, st.Counts.Skipped, st.Counts.Failed)
	fmt.Fprintf(w, "  shards  %d done, %d running, %d pending (of %d)", st.DoneCount, st.Running, st.Pending, r.Shards)
	if st.Stalled > 0 {
		fmt.Fprintf(w, ", %d stalled (lease expired: a child will take them over)", st.Stalled)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  rate    %.1f items/s over %s", st.PerSecond, st.Elapsed.Round(time.Second))
	if st.ETA > 0 {
		fmt.Fprintf(w, ", ETA %s", st.ETA.Round(time.Second))
	}
	fmt.Fprintln(w)
	if st.Final != nil {
		fmt.Fprintf(w, "  report  s3://%s/%s\n  failed  s3://%s/%s\n", r.WorkBucket, st.Final.Report, r.WorkBucket, st.Final.Failed)
		if st.Final.Remaining != "" {
			fmt.Fprintf(w, "  remaining s3://%s/%s (%d items did not run)\n", r.WorkBucket, st.Final.Remaining, st.Final.NotRun)
		}
		if st.Final.Reason != "" {
			fmt.Fprintf(w, "  reason  %s: %s\n", st.Final.Reason, st.Final.Detail)
		}
		if q := st.Final.Requests; q != nil {
			fmt.Fprintf(w, "  S3      %d control requests (%.3f per item), %d data requests\n", q.Control.Total(), st.Final.ControlPerItem, q.Data.Total())
		}
	}
	if c := st.Control; c != nil && c.Action != "" && st.Final == nil { // "": only the shards-left count
		fmt.Fprintf(w, "  control %s by %s at %s %s\n", c.Action, c.Who, c.At.Format(time.RFC3339), c.Reason)
	}
	if len(st.Failures) > 0 {
		fmt.Fprintln(w, "  failures by reason:")
		for _, g := range st.Failures {
			fmt.Fprintf(w, "    %6d  %-18s e.g. %s (%s)\n", g.Count, g.ErrorCode, firstKey(g.Keys), g.Example)
		}
	}
	if shards {
		for _, s := range st.Shards {
			fmt.Fprintf(w, "  shard %6d  %-8s %4d done %3d failed  %s\n", s.Shard, s.State, s.Done, s.Failed, s.Owner)
		}
	}
}

func firstKey(k []string) string {
	if len(k) == 0 {
		return ""
	}
	return k[0]
}
