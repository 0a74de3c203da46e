package main

import (
	"context"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/metrics"
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
		remaining := ""
		if f.Remaining != "" {
			remaining = ebus.S3URI(run.WorkBucket, f.Remaining)
		}
		return n.pub.Publish(ctx, ebus.RunFailed{
			RunID: run.ID, Counts: f.Counts, Shards: f.Shards, ReportURI: ebus.S3URI(run.WorkBucket, f.Report),
			FailedURI: failed, SummaryURI: ebus.S3URI(run.WorkBucket, f.Summary), DurationMs: f.DurationMs,
			FinishedAt: f.FinishedAt, Reason: f.Reason, Detail: f.Detail, RemainingURI: remaining,
			CatalogURI: optURI(run.WorkBucket, f.Catalog), PictureURI: optURI(run.WorkBucket, f.Picture),
		})
	}
	return n.pub.Publish(ctx, ebus.RunCompleted{
		RunID: run.ID, Counts: f.Counts, Shards: f.Shards, ReportURI: ebus.S3URI(run.WorkBucket, f.Report),
		FailedURI: failed, SummaryURI: ebus.S3URI(run.WorkBucket, f.Summary), DurationMs: f.DurationMs, FinishedAt: f.FinishedAt,
		CatalogURI: optURI(run.WorkBucket, f.Catalog), PictureURI: optURI(run.WorkBucket, f.Picture),
	})
}

// optURI is the s3:// URI of key in bucket, or "" for no key (a run
// finalized by an older imgbatch, or one that ended before its reports).
func optURI(bucket, key string) string {
	if key == "" {
		return ""
	}
	return ebus.S3URI(bucket, key)
}

// noNotifier is used when no event bus is configured.
type noNotifier struct{}

func (noNotifier) ShardCompleted(context.Context, *imgbatch.Run, batch.DoneMarker) error { return nil }
func (noNotifier) RunFinished(context.Context, *imgbatch.Run, batch.Final) error         { return nil }

// metricsNotifier writes a CloudWatch EMF line per finished shard and per
// finished run, then passes the event on.
type metricsNotifier struct {
	next batch.Notifier
	emf  *metrics.Writer
}

func (m metricsNotifier) ShardCompleted(ctx context.Context, run *imgbatch.Run, d batch.DoneMarker) error {
	c := d.Counts
	ms := []metrics.Metric{
		{Name: "ImagesSucceeded", Unit: metrics.Count, Value: float64(c.Succeeded)},
		{Name: "ImagesFailed", Unit: metrics.Count, Value: float64(c.Failed)},
		{Name: "ImagesSkipped", Unit: metrics.Count, Value: float64(c.Skipped)},
		{Name: "BytesIn", Unit: metrics.Bytes, Value: float64(c.BytesIn)},
		{Name: "BytesOut", Unit: metrics.Bytes, Value: float64(c.BytesOut)},
		{Name: "ShardDuration", Unit: metrics.Milliseconds, Value: float64(d.DurationMs)},
	}
	if d.DurationMs > 0 {
		ms = append(ms, metrics.Metric{Name: "Throughput", Unit: metrics.PerSecond, Value: float64(c.Items) * 1000 / float64(d.DurationMs)})
	}
	if q := d.Requests; q != nil {
		ms = append(ms, metrics.Metric{Name: "ControlRequests", Unit: metrics.Count, Value: float64(q.Control.Total())},
			metrics.Metric{Name: "DataRequests", Unit: metrics.Count, Value: float64(q.Data.Total())})
	}
	_ = m.emf.Emit(ms, map[string]any{"runId": run.ID, "shard": d.Shard, "epoch": d.Epoch, "owner": d.Owner})
	return m.next.ShardCompleted(ctx, run, d)
}

func (m metricsNotifier) RunFinished(ctx context.Context, run *imgbatch.Run, f batch.Final) error {
	ms := []metrics.Metric{
		{Name: "RunItems", Unit: metrics.Count, Value: float64(f.Counts.Items)},
		{Name: "RunFailed", Unit: metrics.Count, Value: float64(f.Counts.Failed)},
		{Name: "RunDuration", Unit: metrics.Milliseconds, Value: float64(f.DurationMs)},
	}
	props := map[string]any{"runId": run.ID, "status": f.Status}
	if q := f.Requests; q != nil {
		// The run's S3 requests (summary.json "requests"): the totals as
		// metrics, the per-method split as properties for Logs Insights.
		ms = append(ms, metrics.Metric{Name: "RunControlRequests", Unit: metrics.Count, Value: float64(q.Control.Total())},
			metrics.Metric{Name: "RunDataRequests", Unit: metrics.Count, Value: float64(q.Data.Total())},
			metrics.Metric{Name: "ControlRequestsPerItem", Unit: metrics.Count, Value: f.ControlPerItem})
		props["requests"] = q
	}
	_ = m.emf.Emit(ms, props)
	return m.next.RunFinished(ctx, run, f)
}
