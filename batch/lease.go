package batch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
type Lease struct {
	Shard     int       `json:"shard"`
	Owner     string    `json:"owner"`
	Epoch     int64     `json:"epoch"`
	ExpiresAt time.Time `json:"expiresAt"`
	RenewedAt time.Time `json:"renewedAt"`

	etag string
}

// ErrLeaseLost means another child took the shard.
var ErrLeaseLost = errors.New("lease lost to another child")

// Leaser takes and keeps leases on the shards of one run.
type Leaser struct {
	Store *Store
	RunID string
	Me    Identity
	TTL   time.Duration
	Now   func() time.Time
}

func (l *Leaser) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Acquire tries to take shard n. It returns (nil, nil) when the shard is
// held by a live owner. A lease is taken over when it expired, or when its
// owner is an earlier attempt of this same array child (Batch starts a new
// attempt only after the previous one ended).
func (l *Leaser) Acquire(ctx context.Context, n int) (*Lease, error) {
	lay := imgbatch.Layout{RunID: l.RunID}
	key := lay.Claim(n)
	now := l.now().UTC()
	var cur Lease
	etag, err := l.Store.GetJSON(ctx, key, &cur)
	next := Lease{Shard: n, Owner: l.Me.Owner(), Epoch: 1, ExpiresAt: now.Add(l.TTL), RenewedAt: now}
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
			return nil, nil
		}
		next.Epoch = cur.Epoch + 1
		cond = Cond{IfMatch: etag}
	}
	newTag, err := l.Store.PutJSON(ctx, key, next, cond)
	if errors.Is(err, ErrConflict) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim shard %d: %w", n, err)
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
	tag, err := l.Store.PutJSON(ctx, imgbatch.Layout{RunID: l.RunID}.Claim(lease.Shard), next, Cond{IfMatch: lease.etag})
	if errors.Is(err, ErrConflict) {
		return ErrLeaseLost
	}
	if err != nil {
		return err
	}
	next.etag = tag
	*lease = next
	return nil
}
