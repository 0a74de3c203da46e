package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imgbatch/imgbatch"
)

// Identity is who a child is, from the variables AWS Batch sets.
type Identity struct {
	JobID     string // AWS_BATCH_JOB_ID of the array parent (children append :index)
	Index     int    // AWS_BATCH_JOB_ARRAY_INDEX
	ArraySize int    // AWS_BATCH_JOB_ARRAY_SIZE
	Attempt   int    // AWS_BATCH_JOB_ATTEMPT (1-based)
}

// Owner is the lease owner string: <job>:<index>#<attempt>.
func (id Identity) Owner() string {
	return id.JobID + ":" + strconv.Itoa(id.Index) + "#" + strconv.Itoa(id.Attempt)
}

// parseOwner splits an owner string into its slot (<job>:<index>) and attempt.
func parseOwner(owner string) (slot string, attempt int) {
	i := strings.LastIndexByte(owner, '#')
	if i < 0 {
		return owner, 0
	}
	a, _ := strconv.Atoi(owner[i+1:])
	return owner[:i], a
}

// Lease is the claim of one shard, stored as claims/<n>.json. Every new
// owner raises the epoch; results and checkpoints carry it, so an owner
// that paused past its lease cannot overwrite the work of a later one.
// The run's finalizer holds a lease of the same kind (Shard -1).
type Lease struct {
	Shard     int       `json:"shard"`
	Owner     string    `json:"owner"`
	Epoch     int64     `json:"epoch"`
	ExpiresAt time.Time `json:"expiresAt"`
	RenewedAt time.Time `json:"renewedAt"`

	key  string
	etag string
}

// ErrLeaseLost means another child took the shard.
var ErrLeaseLost = errors.New("lease lost to another child")

// HeldError is the answer to taking a lease that a live owner holds: who,
// and until when (unless it renews). Use errors.As.
type HeldError struct {
	Owner string
	Until time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("lease held by %s until %s", e.Owner, e.Until.Format(time.RFC3339))
}

// Leaser takes and keeps leases on the shards of one run.
type Leaser struct {
	Store *Store
	RunID string
	Me    Identity
	TTL   time.Duration
	Now   func() time.Time
	// Layout names the claims; unset, layout 0 of RunID.
	Layout imgbatch.Layout
}

// layout is the layout of the leases' run.
func (l *Leaser) layout() imgbatch.Layout {
	if l.Layout.RunID == "" {
		return imgbatch.Layout{RunID: l.RunID}
	}
	return l.Layout
}

func (l *Leaser) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// finalizerShard is the Shard of the finalizer's lease.
const finalizerShard = -1

// Acquire tries to take shard n. It returns a *HeldError when a live owner
// holds the shard, and (nil, nil) when another child's write won the race
// for it. A lease is taken over when it expired, or when its owner is an
// earlier attempt of this same array child (Batch starts a new attempt
// only after the previous one ended).
func (l *Leaser) Acquire(ctx context.Context, n int) (*Lease, error) {
	return l.acquire(ctx, l.layout().Claim(n), n, false, nil)
}

// acquireShard is Acquire for a runner. fresh says the shard is probably
// unclaimed: the claim is written at once (If-None-Match) and read only if
// that fails. Before taking over an expired lease (whose owner may well
// have finished) it asks done, and leaves a finished shard alone.
// A runner does not care who holds a shard it did not get: (nil, nil).
func (l *Leaser) acquireShard(ctx context.Context, n int, fresh bool, done func() (bool, error)) (*Lease, error) {
	got, err := l.acquire(ctx, l.layout().Claim(n), n, fresh, done)
	var held *HeldError
	if errors.As(err, &held) {
		return nil, nil
	}
	return got, err
}

// AcquireFinalizer takes the run's finalizer lease, on the same terms as
// Acquire: one child at a time builds the reports and sends the run's event.
// When another holds it, the error is a *HeldError.
func (l *Leaser) AcquireFinalizer(ctx context.Context) (*Lease, error) {
	return l.acquire(ctx, l.layout().Finalizer(), finalizerShard, false, nil)
}

// acquire takes the lease at key; when a live owner holds it, the error is
// a *HeldError. With fresh, it first tries to create the lease. skip, if
// set, is asked before a takeover; true leaves the lease alone (nil, nil),
// as does losing the race for it.
func (l *Leaser) acquire(ctx context.Context, key string, n int, fresh bool, skip func() (bool, error)) (*Lease, error) {
	now := l.now().UTC()
	next := Lease{Shard: n, Owner: l.Me.Owner(), Epoch: 1, ExpiresAt: now.Add(l.TTL), RenewedAt: now, key: key}
	if fresh {
		tag, err := l.Store.PutJSON(ctx, key, next, Cond{IfNoneMatch: true})
		if err == nil {
			next.etag = tag
			return &next, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("claim %s: %w", key, err)
		}
	}
	var cur Lease
	etag, err := l.Store.GetJSON(ctx, key, &cur)
	cond := Cond{IfNoneMatch: true}
	switch {
	case IsNotFound(err):
	case err != nil:
		return nil, err
	default:
		slot, attempt := parseOwner(cur.Owner)
		mySlot, myAttempt := parseOwner(l.Me.Owner())
		takeover := now.After(cur.ExpiresAt) || (slot == mySlot && attempt < myAttempt)
		if !takeover {
			return nil, &HeldError{Owner: cur.Owner, Until: cur.ExpiresAt}
		}
		if skip != nil {
			if no, err := skip(); err != nil || no {
				return nil, err
			}
		}
		next.Epoch = cur.Epoch + 1
		cond = Cond{IfMatch: etag}
	}
	newTag, err := l.Store.PutJSON(ctx, key, next, cond)
	if errors.Is(err, ErrConflict) {
		// Lost the race. (Store.Put already told a lost answer to our own
		// write, which the SDK's retry then fails, from a loss.)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", key, err)
	}
	next.etag = newTag
	return &next, nil
}

// Renew extends a lease. ErrLeaseLost means another child took it.
func (l *Leaser) Renew(ctx context.Context, lease *Lease) error {
	now := l.now().UTC()
	next := *lease
	next.ExpiresAt = now.Add(l.TTL)
	next.RenewedAt = now
	tag, err := l.Store.PutJSON(ctx, lease.key, next, Cond{IfMatch: lease.etag})
	if errors.Is(err, ErrConflict) {
		return ErrLeaseLost // another child's lease is there now
	}
	if err != nil {
		return err
	}
	next.etag = tag
	*lease = next
	return nil
}

// Check is the fence before an owner publishes the results of its epoch:
// it reads the lease and returns ErrLeaseLost unless it is still the
// version this owner last wrote. (A GET, not a renewal: cheaper, and a
// write-once done marker settles the race that remains between this check
// and the results.)
func (l *Leaser) Check(ctx context.Context, lease *Lease) error {
	_, etag, err := l.Store.Get(ctx, lease.key)
	if IsNotFound(err) {
		return ErrLeaseLost
	}
	if err != nil {
		return err
	}
	if etag != lease.etag {
		return ErrLeaseLost
	}
	return nil
}

// fence is Check where it can matter: a lease written (taken or renewed)
// less than TTL/2 ago by this child's clock cannot have expired for
// another child (the clocks would have to differ by TTL/2) and only an
// expired lease is taken over, so no GET is needed. A child that paused
// past that (SIGSTOP, a stalled VM: its clock moved on) checks with S3.
// This saves one request per shard that finishes within its lease.
func (l *Leaser) fence(ctx context.Context, lease *Lease) error {
	if l.now().Sub(lease.RenewedAt) < l.TTL/2 {
		return nil
	}
	return l.Check(ctx, lease)
}

// heartbeat renews a lease every TTL/3 until it is stopped or the lease is
// lost; a lost lease cancels its context, so work under it stops. Other
// renewal errors are logged and tried again on the next tick (the lease
// only expires after TTL).
type heartbeat struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex // guards lease (renewed here, read by check) and lost
	lea   *Leaser
	lease *Lease
	lost  error
}

// keep starts renewing lease under parent.
func (l *Leaser) keep(parent context.Context, lease *Lease, log *slog.Logger) *heartbeat {
	ctx, cancel := context.WithCancel(parent)
	h := &heartbeat{ctx: ctx, cancel: cancel, done: make(chan struct{}), lea: l, lease: lease}
	go func() {
		defer close(h.done)
		t := time.NewTicker(l.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.mu.Lock()
				err := l.Renew(ctx, lease)
				if errors.Is(err, ErrLeaseLost) {
					h.lost = err
				}
				h.mu.Unlock()
				if err == nil || ctx.Err() != nil {
					continue
				}
				log.Warn("lease renewal failed", "err", err)
				if errors.Is(err, ErrLeaseLost) {
					cancel()
					return
				}
			}
		}
	}()
	return h
}

// stop ends the renewals and reports ErrLeaseLost if the lease was lost.
func (h *heartbeat) stop() error {
	h.cancel()
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

// check is Leaser.Check while the heartbeat may be renewing the lease.
func (h *heartbeat) check(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lea.Check(ctx, h.lease)
}

// release lets go of a lease its holder no longer needs (it expires now),
// so that whoever waits for it need not wait out the TTL. A failure is
// harmless: the lease expires on its own.
func (l *Leaser) release(ctx context.Context, lease *Lease) {
	next := *lease
	next.ExpiresAt = l.now().UTC()
	_, _ = l.Store.PutJSON(ctx, lease.key, next, Cond{IfMatch: lease.etag})
}
