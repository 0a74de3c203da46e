package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/s3count"
)

// Run outcomes.
const (
	RunCompleted = "completed"
	RunFailed    = "failed"
)

// Final is the write-once marker of a finalized run (runs/<id>/final.json).
// It is also the outbox of the run's last event: EventSent turns true once
// the event was accepted, and whoever finds it false sends it again (same id).
type Final struct {
	RunID      string          `json:"runId"`
	Status     string          `json:"status"`
	Reason     string          `json:"reason,omitempty"` // imgbatch.Reason*: why a failed run failed
	Detail     string          `json:"detail,omitempty"` // the reason in words
	Counts     imgbatch.Counts `json:"counts"`           // of the items that ran
	NotRun     int64           `json:"notRun,omitempty"` // items in Remaining (a run ended early)
	Shards     int             `json:"shards"`
	Report     string          `json:"report"`
	Failed     string          `json:"failed"`
	Remaining  string          `json:"remaining,omitempty"` // key of remaining.csv (a run ended early)
	Summary    string          `json:"summary"`
	Catalog    string          `json:"catalog,omitempty"` // prefix of the catalog's Parquet parts
	Picture    string          `json:"picture,omitempty"` // key of picture.jsonl (batch/picture.go)
	FinishedAt time.Time       `json:"finishedAt"`
	DurationMs int64           `json:"durationMs"`
	EventSent  bool            `json:"eventSent"`
	// Requests are the S3 requests the run's children counted (requests.go),
	// ControlPerItem the control-plane ones per item that ran.
	Requests       *s3count.Requests `json:"requests,omitempty"`
	ControlPerItem float64           `json:"controlPerItem,omitempty"`
}

// Finalize writes the run's reports and final marker if every shard is
// done and no other child is finalizing, and reports whether this call
// finalized it. It also re-sends the final event of an already finalized
// run whose event was never confirmed (once that finalizer's lease has
// expired). me names the caller in the finalizer lease.
func Finalize(ctx context.Context, s *Store, run *imgbatch.Run, me Identity, n Notifier, log *slog.Logger) (bool, error) {
	r := &Runner{Store: s, RunID: run.ID, Me: me, Notifier: n, Log: log}
	r.defaults()
	return r.finalize(ctx, run, ending{}, r.Log)
}

// Abort ends run now as failed with reason (imgbatch.ReasonCancelled,
// ReasonTolerance, ReasonWorkersFailed …): done shards' results go to
// report.csv/failed.csv as usual; the items of shards without a done marker
// go to remaining.csv (S3 Batch Operations CSV: bucket,key[,versionId],
// ready for `imgbatch redrive` / `submit --manifest`); final.json gets
// Status "failed" and Reason; the Run Failed event is sent (outbox, as
// Finalize does). It takes the finalizer lease (waiting for a holder's to
// end); it returns false when the run was already final.
//
// Before it finalizes, it writes the run's control object (unless a cancel
// is there already) so that live children stop between items. A paused run
// is not aborted for workers-failed: its children exit on purpose.
func Abort(ctx context.Context, s *Store, run *imgbatch.Run, me Identity, n Notifier, reason string, log *slog.Logger) (bool, error) {
	r := &Runner{Store: s, RunID: run.ID, Me: me, Notifier: n, Log: log, Linger: true}
	r.defaults()
	return r.abort(ctx, run, reason, r.Log)
}

// abort is Abort with this runner's lease TTL.
func (r *Runner) abort(ctx context.Context, run *imgbatch.Run, reason string, log *slog.Logger) (bool, error) {
	if reason == "" {
		return false, errors.New("abort: no reason")
	}
	goOn, err := r.Store.stopChildren(ctx, run.ID, r.Me, reason)
	if err != nil || !goOn {
		return false, err
	}
	lin := *r
	lin.Linger = true // the run must end: wait out another finalizer
	log.Warn("ending the run early", "reason", reason)
	return lin.finalize(ctx, run, ending{reason: reason}, log)
}

// ending is how a run ends: when every shard is done (allDone known, or
// checked under the lease) or now, with the reason of an abort.
type ending struct {
	allDone bool
	reason  string
}

// finalize is the end of a run. The run's finalizer lease picks one child
// to build the reports (they read every shard's results, so a thousand
// children doing it at once would cost a thousand times the requests); the
// write-once final.json records the outcome and is the outbox of the run's
// event, which only the lease holder sends. With Linger, the others wait
// until the event is sent, taking the lease over if its holder dies.
func (r *Runner) finalize(ctx context.Context, run *imgbatch.Run, end ending, log *slog.Logger) (bool, error) {
	lay := imgbatch.LayoutOf(run)
	lea := &Leaser{Store: r.Store, RunID: run.ID, Me: r.Me, TTL: r.LeaseTTL, Now: r.Now, Layout: imgbatch.LayoutOf(run)}
	for {
		var existing Final
		_, err := r.Store.GetJSON(ctx, lay.Final(), &existing)
		switch {
		case err == nil && (existing.EventSent || r.Notifier == nil):
			return false, nil
		case err != nil && !IsNotFound(err):
			return false, err
		}
		lease, err := lea.AcquireFinalizer(ctx)
		var held *HeldError
		if err != nil && !errors.As(err, &held) {
			return false, err
		}
		if lease != nil {
			fin, err := r.finalizeHolding(ctx, run, lea, lease, end, log)
			if errors.Is(err, ErrLeaseLost) {
				log.Warn("finalizer lease lost; another child finalizes the run")
				continue
			}
			return fin, err
		}
		if !r.Linger {
			return false, nil
		}
		// Another child is finalizing: look again once its lease could
		// have expired (it renews it until the event is sent).
		wait := r.LeaseTTL
		if held != nil {
			wait = min(max(held.Until.Sub(r.Now()), r.Poll), r.LeaseTTL)
		}
		if !sleep(ctx, jitter(wait)) {
			return false, ctx.Err()
		}
	}
}

// finalizeHolding finalizes the run under the finalizer lease.
func (r *Runner) finalizeHolding(ctx context.Context, run *imgbatch.Run, lea *Leaser, lease *Lease, end ending, log *slog.Logger) (bool, error) {
	lay := imgbatch.LayoutOf(run)
	// The lease is kept (renewed) until the event is sent and final.json's
	// outbox says so: no other child reads an unsent final.json meanwhile.
	hb := lea.keep(ctx, lease, log)
	hbCtx, stopHeartbeat := hb.ctx, hb.stop
	defer stopHeartbeat()
	// fail prefers ErrLeaseLost: a lost lease cancels the work in flight.
	fail := func(err error) (bool, error) {
		if lerr := stopHeartbeat(); lerr != nil {
			return false, lerr
		}
		return false, err
	}

	var existing Final
	etag, err := r.Store.GetJSON(hbCtx, lay.Final(), &existing)
	switch {
	case err == nil: // finalized, but its event was never confirmed
		if existing.EventSent || r.Notifier == nil {
			return false, stopHeartbeat()
		}
		serr := r.sendFinal(hbCtx, run, hb.check, existing, etag, log)
		if lerr := stopHeartbeat(); lerr != nil {
			return false, lerr
		}
		return false, serr
	case !IsNotFound(err):
		return fail(err)
	}
	if !end.allDone && end.reason == "" {
		done, err := r.allShardsDone(hbCtx, run)
		if err != nil {
			return fail(err)
		}
		if !done {
			// Let go at once: an abort may be waiting for the lease.
			if err := stopHeartbeat(); err != nil {
				return false, err
			}
			lea.release(ctx, lease)
			return false, nil
		}
	}
	fin, err := r.writeOutcome(hbCtx, run, end.reason, log)
	if err != nil {
		return fail(err)
	}
	tag, err := r.Store.PutJSON(hbCtx, lay.Final(), fin, Cond{IfNoneMatch: true})
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	if err != nil {
		return fail(err)
	}
	log.Info("run finalized", "status", fin.Status, "succeeded", fin.Counts.Succeeded, "failed", fin.Counts.Failed, "skipped", fin.Counts.Skipped)
	var serr error
	if r.Notifier != nil {
		serr = r.sendFinal(hbCtx, run, hb.check, fin, tag, log)
	}
	if lerr := stopHeartbeat(); lerr != nil {
		serr = lerr // what cancelled the send, if it failed
	}
	return true, serr
}

// allShardsDone counts the done markers of the run.
func (r *Runner) allShardsDone(ctx context.Context, run *imgbatch.Run) (bool, error) {
	done := 0
	err := r.Store.eachShardObject(ctx, run, "done", func(int, time.Time) { done++ })
	return done >= run.Shards, err
}

// abortDetail says in words why a run ended early.
func abortDetail(run *imgbatch.Run, fin Final, reason string) string {
	left := fmt.Sprintf("%d items did not run (listed in %s)", fin.NotRun, fin.Remaining)
	switch reason {
	case imgbatch.ReasonTolerance:
		if run.Tolerance.Exceeded(fin.Counts.Items, fin.Counts.Failed) {
			return "stopped early: " + toleranceReason(run.Tolerance, fin.Counts) + "; " + left
		}
		return fmt.Sprintf("stopped early: the shards done when a child judged the tolerance broke it; %d of %d items ran failed; %s", fin.Counts.Failed, fin.Counts.Items, left)
	case imgbatch.ReasonCancelled:
		return "cancelled; " + left
	case imgbatch.ReasonWorkersFailed:
		return "the array's children failed; " + left
	}
	return reason + "; " + left
}

// writeOutcome writes the reports (report.csv, failed.csv, summary.json,
// report.html), sends the shard events still in their outboxes, and
// returns what final.json is to say.
func (r *Runner) writeOutcome(ctx context.Context, run *imgbatch.Run, reason string, log *slog.Logger) (Final, error) {
	fin, sum, err := writeReports(ctx, r.Store, run, reason != "")
	if err != nil {
		return fin, err
	}
	if reason != "" {
		fin.Status, fin.Reason, fin.Detail = RunFailed, reason, abortDetail(run, fin, reason)
	}
	fin.FinishedAt = r.Now().UTC()
	fin.DurationMs = fin.FinishedAt.Sub(run.CreatedAt).Milliseconds()
	r.countFinalizer(&fin)
	sum.Final = fin
	if _, err := r.Store.PutJSON(ctx, imgbatch.LayoutOf(run).Summary(), sum, Cond{}); err != nil {
		return fin, err
	}
	if r.Notifier != nil {
		// Shard events a child could not send (it died, or EventBridge said no)
		// go out now, with their deterministic ids, before the run's event.
		if err := r.sendOutbox(ctx, run, sum.unsent, log); err != nil {
			return fin, err
		}
	}
	if err := writeHTMLReport(ctx, r.Store, run, sum); err != nil {
		// The CSV and JSON reports are the contract; the page is a courtesy.
		log.Warn("report.html not written", "err", err)
	}
	return fin, nil
}

// sendFinal sends the run's event if the finalizer lease is still ours,
// and records it as sent in final.json.
func (r *Runner) sendFinal(ctx context.Context, run *imgbatch.Run, check func(context.Context) error, fin Final, etag string, log *slog.Logger) error {
	if err := check(ctx); err != nil {
		return err
	}
	if err := r.Notifier.RunFinished(ctx, run, fin); err != nil {
		return fmt.Errorf("send run event (final.json keeps it for a re-send): %w", err)
	}
	fin.EventSent = true
	if _, err := r.Store.PutJSON(ctx, imgbatch.LayoutOf(run).Final(), fin, Cond{IfMatch: etag}); err != nil && !errors.Is(err, ErrConflict) {
		log.Warn("event sent but outbox not updated; it may be sent again with the same id", "err", err)
	}
	return nil
}
