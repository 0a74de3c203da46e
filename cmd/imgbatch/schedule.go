package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
)

// scheduleFlags are the planner job's flags: EventBridge Scheduler starts it
// with the scheduled time (<aws.scheduler.scheduled-time>), the source, the
// recipe ("none" = the built-in default), the output bucket and prefix and
// the cost limit (the template's Schedule* parameters).
func scheduleFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "from-schedule", Usage: "plan the objects under --source that are new since the previous scheduled run, and start the run"},
		&cli.StringFlag{Name: "scheduled-time", Usage: "the schedule's time (RFC 3339, e.g. 2026-11-24T02:00:00Z): the run's deterministic id and the next watermark; \"none\" or empty = now"},
		&cli.StringFlag{Name: "source", Usage: "what a scheduled run reads: s3://bucket/prefix/ (listed), an S3 Inventory manifest.json, or an Inventory destination s3://dest/prefix/source-bucket/config-id/ (its newest complete delivery)"},
		&cli.StringFlag{Name: "schedule-name", Value: "nightly", EnvVars: []string{"IMGBATCH_SCHEDULE_NAME"}, Usage: "name of the schedule: its watermark is s3://WORK/schedules/<name>/watermark.json"},
	}
}

// watermark records the last scheduled run: objects modified after its time
// are new to the next one.
type watermark struct {
	ScheduledTime time.Time `json:"scheduledTime"`
	RunID         string    `json:"runId"`
}

// parseScheduledTime reads --scheduled-time; "none" or "" mean now (to the minute).
func parseScheduledTime(s string, now time.Time) (time.Time, error) {
	if s == "" || s == "none" {
		return now.UTC().Truncate(time.Minute), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--scheduled-time %q: want RFC 3339 such as 2026-11-24T02:00:00Z", s)
	}
	return t.UTC(), nil
}

// scheduleOptions are the planner job's flags (scheduleFlags), checked.
type scheduleOptions struct {
	name   string    // --schedule-name
	at     time.Time // --scheduled-time
	source string    // --source
}

func scheduleOptionsFrom(c *cli.Context) (scheduleOptions, error) {
	o := scheduleOptions{name: c.String("schedule-name"), source: c.String("source")}
	if o.name == "" || strings.ContainsAny(o.name, "/\\") {
		return o, fmt.Errorf("--schedule-name %q: a non-empty name without slashes", o.name)
	}
	var err error
	if o.at, err = parseScheduledTime(c.String("scheduled-time"), time.Now()); err != nil {
		return o, err
	}
	if o.source == "" {
		return o, fmt.Errorf("--from-schedule needs --source s3://bucket/prefix/")
	}
	return o, nil
}

// runScheduled is `plan --from-schedule`: list --source (so.manifestURI)
// for objects modified since the previous scheduled time (the watermark),
// plan them as the run named by this scheduled time (a retried schedule
// firing finds the same run, never a second one), start it, and move the
// watermark forward.
func runScheduled(ctx context.Context, cl *clients, so submitOptions, sched scheduleOptions) (*batch.Plan, error) {
	name, at, source, workBucket := sched.name, sched.at, sched.source, so.workBucket
	store := cl.store(workBucket)
	var wm watermark
	wmTag, err := store.GetJSON(ctx, imgbatch.ScheduleWatermark(name), &wm)
	if err != nil && !batch.IsNotFound(err) {
		return nil, err
	}
	so.plan.ClientToken = "schedule:" + name + ":" + at.Format(time.RFC3339)
	if !wm.ScheduledTime.IsZero() && wm.ScheduledTime.Before(at) {
		so.modifiedSince = wm.ScheduledTime
	}
	log := slog.Default().With("schedule", name, "scheduledTime", at)
	log.Info("scheduled run", "source", source, "newSince", so.modifiedSince)
	plan, err := submitRun(ctx, cl, so)
	if err != nil {
		return nil, err
	}
	if so.plan.DryRun || !at.After(wm.ScheduledTime) {
		return plan, nil
	}
	// Move the watermark forward, once: a concurrent or late firing that
	// lost the race leaves it alone.
	cond := batch.Cond{IfNoneMatch: true}
	if wmTag != "" {
		cond = batch.Cond{IfMatch: wmTag}
	}
	if _, err := store.PutJSON(ctx, imgbatch.ScheduleWatermark(name), watermark{ScheduledTime: at, RunID: plan.Run.ID}, cond); err != nil && !errors.Is(err, batch.ErrConflict) {
		return plan, fmt.Errorf("run %s started, but the watermark was not moved (the next run re-plans these objects and skips them as current): %w", plan.Run.ID, err)
	}
	return plan, nil
}
