package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/s3count"
)

// Progress is the checkpoint of a shard: every result so far. A retried
// attempt or a stealing child resumes from it and skips what is done.
type Progress struct {
	Shard     int               `json:"shard"`
	Epoch     int64             `json:"epoch"`
	Owner     string            `json:"owner"`
	UpdatedAt time.Time         `json:"updatedAt"`
	Results   []imgbatch.Result `json:"results"`

	etag string
}

// DoneMarker is the write-once completion marker of a shard. It names the
// results file of the epoch that finished it: that file is the shard's
// only truth, whatever a slower owner of an older epoch writes later.
type DoneMarker struct {
	Shard      int             `json:"shard"`
	Epoch      int64           `json:"epoch"`
	Owner      string          `json:"owner"`
	Results    string          `json:"results"`
	Counts     imgbatch.Counts `json:"counts"`
	StartedAt  time.Time       `json:"startedAt"`
	FinishedAt time.Time       `json:"finishedAt"`
	DurationMs int64           `json:"durationMs"`
	// EventSent turns true once "Shard Completed" was accepted: the marker is
	// the event's outbox, and the finalizer re-sends (same id) what is not.
	EventSent bool `json:"eventSent"`
	// EventBy ends the owner's window to send the event itself: until then
	// the finalizer leaves an unsent event to the owner (which may be sending
	// it this moment), after it the finalizer sends it. Zero (markers before
	// this field, or an owner whose send failed) hands it over at once
	// (shardevent.go).
	EventBy time.Time `json:"eventBy,omitzero"`
	// Requests are the S3 requests the owner sent since its previous done
	// marker (the claim, reads and checkpoints of this shard, the scans
	// before it): the finalizer sums them into summary.json.
	Requests *s3count.Requests `json:"requests,omitempty"`

	etag string
}

// checkpointer writes a shard's progress, fenced by epoch.
type checkpointer struct {
	store *Store
	key   string
	epoch int64
	owner string
	now   func() time.Time
	prev  *Progress // last read or written; nil when none exists
}

// load reads the current checkpoint (nil when there is none).
func (c *checkpointer) load(ctx context.Context) (*Progress, error) {
	var p Progress
	etag, err := c.store.GetJSON(ctx, c.key, &p)
	if IsNotFound(err) {
		c.prev = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.etag = etag
	c.prev = &p
	return &p, nil
}

// save writes results (all results of the shard so far). If another owner
// wrote meanwhile: a newer epoch means our lease is gone (ErrLeaseLost); an
// older one (a paused previous owner) is merged and written over.
func (c *checkpointer) save(ctx context.Context, results map[int]imgbatch.Result) error {
	for attempt := 0; attempt < 5; attempt++ {
		p := Progress{Epoch: c.epoch, Owner: c.owner, UpdatedAt: c.now().UTC(), Results: sortedResults(results)}
		cond := Cond{IfNoneMatch: true}
		if c.prev != nil {
			p.Shard = c.prev.Shard
			cond = Cond{IfMatch: c.prev.etag}
		}
		tag, err := c.store.PutJSON(ctx, c.key, p, cond)
		if err == nil {
			p.etag = tag
			c.prev = &p
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return err
		}
		cur, err := c.load(ctx)
		if err != nil {
			return err
		}
		if cur != nil && cur.Epoch > c.epoch {
			return ErrLeaseLost
		}
		if cur != nil {
			for _, r := range cur.Results {
				if _, ok := results[r.Index]; !ok {
					results[r.Index] = r
				}
			}
		}
	}
	return fmt.Errorf("checkpoint %s: too many concurrent writers", c.key)
}

func sortedResults(m map[int]imgbatch.Result) []imgbatch.Result {
	out := make([]imgbatch.Result, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// encodeResults renders results as JSON lines.
func encodeResults(rs []imgbatch.Result) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range rs {
		_ = enc.Encode(r)
	}
	return buf.Bytes()
}
