package batch

import (
	"context"
	"log/slog"
	"time"

	"github.com/imgbatch/imgbatch"
)

// A shard's "Shard Completed" has two possible senders: the child that
// wrote the done marker (its owner), right after writing it, and the
// finalizer, for an event still in the marker's outbox (EventSent false)
// when the run ends. Both used to send whatever was unsent when they looked,
// so a finalizer that read a marker between its owner's write and the
// owner's "sent" update sent the event a second time (TestLocalViaBatch saw 4
// Shard Completed for 3 shards). The marker's EventBy splits the time
// between them: the owner sends only before it (its PutEvents runs under
// that deadline), the finalizer only after it or once the owner hands the
// event over (EventBy cleared after a failed send). Within a window, at most
// one of them sends.
//
// What remains is at-least-once, and consumers dedupe on the event's
// deterministic id (eventbridge.ID: run and shard; a shard has one done
// marker, so one completion): an owner that crashes after EventBridge
// accepted its event but before it marked the outbox, a "sent" update that
// fails, a request EventBridge accepted after its sender gave up on it,
// and EventBridge's own at-least-once delivery to targets.

// handOverTimeout bounds the write that hands an unsent event to the
// finalizer: it runs even when the work context has ended.
const handOverTimeout = 10 * time.Second

// sendOwnShardEvent sends the event of the done marker m this child just
// wrote, within m's window, and records the outcome in the marker: sent, or
// handed over to the finalizer (EventBy cleared) so the run's end need not
// wait out the window.
func (r *Runner) sendOwnShardEvent(ctx context.Context, run *imgbatch.Run, lay imgbatch.Layout, m DoneMarker, log *slog.Logger) {
	sendCtx, cancel := context.WithDeadline(ctx, m.EventBy)
	err := r.Notifier.ShardCompleted(sendCtx, run, m)
	cancel()
	if err == nil {
		r.Store.markEventSent(ctx, lay, m)
		return
	}
	log.Warn("shard event not sent; it stays in the done marker for the finalizer", "err", err)
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handOverTimeout)
	defer cancel()
	by := m.EventBy
	m.EventBy = time.Time{}
	if _, err := r.Store.PutJSON(hctx, lay.Done(m.Shard), m, Cond{IfMatch: m.etag}); err != nil {
		log.Warn("shard event not handed over; the finalizer sends it once its window ends", "eventBy", by, "err", err)
	}
}

// sendOutbox sends, as the finalizer, the events still in the outboxes of
// the done markers unsent (read by writeReports), each once its owner's
// window has ended and the marker still says unsent. It returns an error
// only when ctx ends (the finalizer lease was lost); a send EventBridge
// refuses is logged and left in the outbox.
func (r *Runner) sendOutbox(ctx context.Context, run *imgbatch.Run, unsent []DoneMarker, log *slog.Logger) error {
	lay := imgbatch.LayoutOf(run)
	for _, m := range unsent {
		cur, err := r.awaitOwner(ctx, lay, m)
		if err != nil {
			return err
		}
		if cur == nil {
			continue // its owner sent it
		}
		if err := r.Notifier.ShardCompleted(ctx, run, *cur); err != nil {
			log.Warn("shard event still not sent", "shard", m.Shard, "err", err)
			continue
		}
		log.Info("shard event sent from its done marker", "shard", m.Shard, "owner", m.Owner)
		r.Store.markEventSent(ctx, lay, *cur)
	}
	return nil
}

// firstOwnerLook is the first wait of awaitOwner: an owner caught between
// its done marker and its "sent" update is usually done in milliseconds.
const firstOwnerLook = 50 * time.Millisecond

// awaitOwner re-reads the done marker m until its event is sent (nil) or
// its owner's window has ended (the marker as now read, for the finalizer
// to send): after 50 ms, then twice as long each time up to Poll, for at
// most the window (which ends a lease TTL after the marker was written).
func (r *Runner) awaitOwner(ctx context.Context, lay imgbatch.Layout, m DoneMarker) (*DoneMarker, error) {
	wait := min(firstOwnerLook, r.Poll)
	for !m.EventSent {
		left := m.EventBy.Sub(r.Now())
		if m.EventBy.IsZero() || left <= 0 {
			return &m, nil
		}
		if !sleep(ctx, min(left, wait)) {
			return nil, ctx.Err()
		}
		wait = min(2*wait, r.Poll)
		cur, err := r.Store.LoadDoneAt(ctx, lay, m.Shard)
		if err != nil {
			return nil, err
		}
		m = *cur
	}
	return nil, nil
}
