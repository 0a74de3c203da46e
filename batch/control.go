package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/imgbatch/imgbatch"
)

// Control is the run's control object (runs/<id>/control.json): what the
// operator (or an abort) asked of the run's children. It is written with
// conditional writes (no lost update between a pause and a cancel) and read
// by every child between items, at most every ControlEvery.
type Control struct {
	Action string    `json:"action"` // ActionPause, ActionResume, ActionCancel, ActionAbort
	Reason string    `json:"reason,omitempty"`
	Who    string    `json:"who,omitempty"`
	At     time.Time `json:"at"`
	// Undone is the most children that can still be working: the shards
	// without a done marker when a watcher counted them (UndoneAt). The
	// children widen their S3 rate share by it (fleet.go). 0: not counted.
	Undone   int       `json:"undone,omitempty"`
	UndoneAt time.Time `json:"undoneAt,omitzero"`
}

// Control actions. Pause, cancel and abort stop the children between
// items; resume (the pause cleared) lets them work.
const (
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionCancel = "cancel"
	ActionAbort  = "abort" // the run was ended early (tolerance, workers failed)
)

// stops reports whether the action stops the children.
func (c *Control) stops() bool {
	return c != nil && (c.Action == ActionPause || c.Action == ActionCancel || c.Action == ActionAbort)
}

// ends reports whether the action ends the run (not a pause).
func (c *Control) ends() bool {
	return c != nil && (c.Action == ActionCancel || c.Action == ActionAbort)
}

// ErrPaused means the child stopped because the run was paused: its work is
// checkpointed, and `imgbatch resume` starts the array again.
var ErrPaused = errors.New("run paused")

// ErrRunEnded means the child stopped because the run was ended early
// (cancelled, or the failure tolerance broken): there is nothing to retry.
var ErrRunEnded = errors.New("run ended early")

// LoadControl reads the run's control object and its ETag (nil, "" when
// there is none).
func (s *Store) LoadControl(ctx context.Context, runID string) (*Control, string, error) {
	var c Control
	tag, err := s.GetJSON(ctx, imgbatch.Layout{RunID: runID}.Control(), &c)
	if IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	return &c, tag, nil
}

// controlTries bounds the read-modify-write rounds of UpdateControl.
const controlTries = 5

// UpdateControl reads the control object, asks next what it should become
// (nil keeps it as is) and writes that with a precondition on what was read,
// again when another writer came between. It returns what the object holds
// afterwards.
func (s *Store) UpdateControl(ctx context.Context, runID string, next func(cur *Control) (*Control, error)) (*Control, error) {
	key := imgbatch.Layout{RunID: runID}.Control()
	for try := 0; ; try++ {
		cur, tag, err := s.LoadControl(ctx, runID)
		if err != nil {
			return nil, err
		}
		want, err := next(cur)
		if err != nil || want == nil {
			return cur, err
		}
		cond := Cond{IfNoneMatch: true}
		if cur != nil {
			cond = Cond{IfMatch: tag}
		}
		_, err = s.PutJSON(ctx, key, want, cond)
		if err == nil {
			return want, nil
		}
		if !errors.Is(err, ErrConflict) || try >= controlTries {
			return nil, fmt.Errorf("write control of run %s: %w", runID, err)
		}
	}
}

// stopChildren is the first step of an abort: the control object says
// abort (unless a cancel already says the run ends) so that live children
// stop between items. It reports false when the run is not to be aborted:
// a paused run's children exit on purpose, so it is not ended for
// workers-failed.
func (s *Store) stopChildren(ctx context.Context, runID string, me Identity, reason string) (bool, error) {
	goOn := true
	_, err := s.UpdateControl(ctx, runID, func(cur *Control) (*Control, error) {
		switch {
		case cur.ends():
			return nil, nil
		case cur != nil && cur.Action == ActionPause && reason == imgbatch.ReasonWorkersFailed:
			goOn = false
			return nil, nil
		}
		return &Control{Action: ActionAbort, Reason: reason, Who: me.Owner(), At: time.Now().UTC()}, nil
	})
	return goOn, err
}

// DefaultControlEvery is how often a child reads the control object.
const DefaultControlEvery = 5 * time.Second

// controlWatch reads the control object of a run for one child: once at
// the start, then every ControlEvery while the child works. When it says
// stop (pause, cancel, abort), the watch's context is cancelled: the child
// stops taking items, as on SIGTERM, and checkpoints what is in flight.
type controlWatch struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	seen *Control // the control that stopped the child
}

// watchControl starts the watch under stop. A failed read is logged and
// tried again on the next tick: the control object is advice, and a child
// that misses a pause for a while only does more work.
func (r *Runner) watchControl(stop context.Context) (*controlWatch, error) {
	w := &controlWatch{done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(stop)
	c, _, err := r.Store.LoadControl(stop, r.RunID)
	if err != nil {
		w.cancel()
		return nil, err
	}
	r.sawFleet(c, true)
	if w.saw(c) {
		close(w.done)
		return w, nil
	}
	go func() {
		defer close(w.done)
		t := time.NewTicker(r.ControlEvery)
		defer t.Stop()
		for {
			select {
			case <-w.ctx.Done():
				return
			case <-t.C:
			}
			c, _, err := r.Store.LoadControl(w.ctx, r.RunID)
			if err != nil {
				if w.ctx.Err() == nil {
					r.Log.Warn("control object not read", "err", err)
				}
				r.sawFleet(nil, false) // the ramp's bound moves on
				continue
			}
			r.sawFleet(c, true)
			if w.saw(c) {
				return
			}
		}
	}()
	return w, nil
}

// saw records c and stops the child when c says so.
func (w *controlWatch) saw(c *Control) bool {
	if !c.stops() {
		return false
	}
	w.mu.Lock()
	w.seen = c
	w.mu.Unlock()
	w.cancel()
	return true
}

// close ends the watch.
func (w *controlWatch) close() {
	w.cancel()
	<-w.done
}

// stopped is why the control object stopped the child: ErrPaused,
// ErrRunEnded, or nil when it did not.
func (w *controlWatch) stopped() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.seen == nil:
		return nil
	case w.seen.Action == ActionPause:
		return ErrPaused
	}
	return fmt.Errorf("%w (%s: %s)", ErrRunEnded, w.seen.Action, w.seen.Reason)
}
