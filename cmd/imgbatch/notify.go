package main

import (
	"context"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
)

// notifier sends a run's events to EventBridge (batch.Notifier).
type notifier struct{ pub *ebus.Publisher }

func (n notifier) ShardCompleted(ctx context.Context, run *imgbatch.Run, m batch.DoneMarker) error {
	return n.pub.Publish(ctx, ebus.ShardCompleted{
		RunID: run.ID, Shard: m.Shard, Epoch: m.Epoch, Counts: m.Counts,
		ResultsURI: ebus.S3URI(run.WorkBucket, m.Results), DurationMs: m.DurationMs, CompletedAt: m.FinishedAt,
	})
}

func (n notifier) RunFinished(ctx context.Context, run *imgbatch.Run, f batch.Final) error {
	failed := ""
	if f.Counts.Failed > 0 {
		failed = ebus.S3URI(run.WorkBucket, f.Failed)
	}
	if f.Status == batch.RunFailed {
		return n.pub.Publish(ctx, ebus.RunFailed{
			RunID: run.ID, Counts: f.Counts, Shards: f.Shards, ReportURI: ebus.S3URI(run.WorkBucket, f.Report),
			FailedURI: failed, SummaryURI: ebus.S3URI(run.WorkBucket, f.Summary), DurationMs: f.DurationMs,
			FinishedAt: f.FinishedAt, Reason: f.Reason,
		})
	}
	return n.pub.Publish(ctx, ebus.RunCompleted{
		RunID: run.ID, Counts: f.Counts, Shards: f.Shards, ReportURI: ebus.S3URI(run.WorkBucket, f.Report),
		FailedURI: failed, SummaryURI: ebus.S3URI(run.WorkBucket, f.Summary), DurationMs: f.DurationMs, FinishedAt: f.FinishedAt,
	})
}

// noNotifier is used when no event bus is configured.
type noNotifier struct{}

func (noNotifier) ShardCompleted(context.Context, *imgbatch.Run, batch.DoneMarker) error { return nil }
func (noNotifier) RunFinished(context.Context, *imgbatch.Run, batch.Final) error         { return nil }
