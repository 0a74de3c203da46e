package batch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/s3count"
)

// Notifier tells the world about finished shards and runs (EventBridge in
// production). Implementations must be idempotent per event id.
type Notifier interface {
	ShardCompleted(ctx context.Context, run *imgbatch.Run, m DoneMarker) error
	RunFinished(ctx context.Context, run *imgbatch.Run, f Final) error
}

// Runner is the loop of one array child: claim shards (own slots first,
// then steal unclaimed or expired ones), process them with checkpoints,
// mark them done, and finalize the run if it was the last.
type Runner struct {
	Store     *Store
	RunID     string
	Me        Identity
	Processor imgbatch.Processor
	Notifier  Notifier
	Log       *slog.Logger

	LeaseTTL        time.Duration // default 2m
	CheckpointEvery int           // results between checkpoints (default 0: by time only, see checkpointDue)
	CheckpointAfter time.Duration // and at least this often (default 10s)
	// Poll is the shortest wait between scans while other children still
	// hold shards (default min(LeaseTTL/4, 5s)); a child waits until the
	// earliest claim it saw could expire, at most LeaseTTL, with jitter.
	Poll time.Duration
	// Linger keeps the Watchers lowest indexes of the array until the run
	// is finalized, to take over expired leases and finalize; the other
	// children leave after their own slots. Without it every child steals
	// what it finds after its own slots and leaves when a round of scans
	// finds nothing to take.
	Linger bool
	Grace  time.Duration // after stop: time for work in flight (default 25s)
	// ControlEvery is how often the child reads the run's control object
	// (pause, cancel) while it works (default 5s): one GET per child, not
	// per item.
	ControlEvery time.Duration
	// Ramp spreads the array's start: child i of W starts after i·Ramp/W,
	// with jitter (ramp.go; DefaultRamp; 0 starts at once).
	Ramp time.Duration
	// Abort, when set, is the parent of all work: cancelling it ends the
	// child at once, without grace or checkpoint, like a killed process.
	Abort context.Context
	Now   func() time.Time
	// Requests, when set, counts this child's S3 requests (installed on
	// its S3 client); each done marker carries what it counted since the
	// previous one, and the finalizer sums them (requests.go).
	Requests *s3count.Counter
	// Fleet, when set, is told the most children of the array that can
	// still be working (the width, until a watcher counts fewer shards
	// left: fleet.go), whenever that changes; the S3 rate limiter widens
	// the child's share by width ÷ live.
	Fleet func(live int)

	reqMark s3count.Requests // Requests at the last done marker written
	fleet   fleetState       // what this child saw and wrote of the fleet's bound
}

// Stats of one child's work.
type Stats struct {
	Shards     int // shards this child finished (wrote the done marker of)
	Stolen     int // of them, taken over from an expired lease or an earlier attempt
	LeasesLost int // shards given up because another child took the lease
	Counts     imgbatch.Counts
	Finalized  bool
	Stopped    bool // stopped early (SIGTERM): the attempt should be retried
}

// ErrStopped means the child stopped on request with work left.
var ErrStopped = errors.New("stopped before the run was finished")

// Defaults of a Runner.
const (
	DefaultLeaseTTL        = 2 * time.Minute
	DefaultGrace           = 25 * time.Second
	DefaultCheckpointAfter = 10 * time.Second
)

func (r *Runner) defaults() {
	if r.LeaseTTL <= 0 {
		r.LeaseTTL = DefaultLeaseTTL
	}
	if r.CheckpointAfter <= 0 {
		r.CheckpointAfter = DefaultCheckpointAfter
	}
	if r.Poll <= 0 {
		r.Poll = min(r.LeaseTTL/4, 5*time.Second)
	}
	if r.Grace <= 0 {
		r.Grace = DefaultGrace
	}
	if r.ControlEvery <= 0 {
		r.ControlEvery = DefaultControlEvery
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Log == nil {
		r.Log = slog.Default()
	}
}

// Run works until every shard of the run is done (or, without Linger, until
// nothing is left to claim). Cancelling stop makes it stop taking work,
// finish what is in flight within Grace, checkpoint, and return ErrStopped.
// The run's control object stops it the same way: ErrPaused for a pause,
// ErrRunEnded for a cancel or an abort (also when this child ended the run
// because the failure tolerance broke).
func (r *Runner) Run(stop context.Context) (Stats, error) {
	r.defaults()
	if !r.rampUp(stop) {
		return Stats{Stopped: true}, ErrStopped
	}
	cw, err := r.watchControl(stop)
	if err != nil {
		return Stats{}, err
	}
	defer cw.close()
	st, err := r.run(cw.ctx)
	if why := cw.stopped(); why != nil && stop.Err() == nil && (err == nil || errors.Is(err, ErrStopped)) {
		r.Log.Info("stopped by the run's control object", "why", why.Error(), "shards", st.Shards)
		return st, why
	}
	return st, err
}

// run is Run under stop (SIGTERM or the control object).
func (r *Runner) run(stop context.Context) (Stats, error) {
	work, cancelWork := r.workContext(stop)
	defer cancelWork()

	var st Stats
	run, err := r.loadRun(work) // Store.LoadRun, and the plan time for fleet.go
	if err != nil {
		return st, err
	}
	c := r.newChild(run)
	if err := c.ownSlots(stop, work, &st); err != nil {
		return st, err
	}
	if err := c.steal(stop, work, &st); err != nil {
		return st, err
	}
	if stop.Err() != nil {
		st.Stopped = true
		c.log.Info("stopped on request", "shards", st.Shards)
		return st, ErrStopped
	}
	if !c.sc.allDone() {
		return st, nil // others still hold shards; the last of them finalizes
	}
	fin, err := r.finalize(work, run, ending{allDone: true}, c.log)
	if err != nil {
		return st, err
	}
	st.Finalized = fin
	return st, nil
}

// workContext is the parent of all work of Run: it outlives stop by the
// grace period (Abort, when set, ends it at once).
func (r *Runner) workContext(stop context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(stop)
	if r.Abort != nil {
		base = r.Abort
	}
	work, cancelWork := context.WithCancel(base)
	go func() {
		select {
		case <-stop.Done():
			select {
			case <-time.After(r.Grace):
				cancelWork()
			case <-work.Done():
			}
		case <-work.Done():
		}
	}()
	return work, cancelWork
}

// child is one Run of a Runner over its run.
type child struct {
	r        *Runner
	run      *imgbatch.Run
	lea      *Leaser
	sc       *scanner
	width    int // of the array
	stealers int // the children that steal after their own slots
	log      *slog.Logger
}

func (r *Runner) newChild(run *imgbatch.Run) *child {
	width := r.Me.ArraySize
	if width <= 0 {
		width = 1
	}
	stealers := width
	if r.Linger {
		stealers = Watchers(width)
	}
	return &child{r: r, run: run, width: width, stealers: stealers,
		lea: &Leaser{Store: r.Store, RunID: run.ID, Me: r.Me, TTL: r.LeaseTTL, Now: r.Now, Layout: imgbatch.LayoutOf(run)},
		sc:  newScanner(r.Store, run, r.Me.Index, stealers),
		log: r.Log, // the caller puts runId, arrayIndex and attempt on it
	}
}

// ownSlots works the child's own slots first: i, i+W, i+2W …
func (c *child) ownSlots(stop, work context.Context, st *Stats) error {
	for n := c.r.Me.Index; n < c.run.Shards; n += c.width {
		if stop.Err() != nil || work.Err() != nil {
			return nil
		}
		if _, err := c.r.tryShard(stop, work, c.run, c.lea, c.sc, candidate{n: n, fresh: true}, st, c.log); err != nil {
			return err
		}
	}
	return nil
}

// steal is the loop after the own slots: the watchers (every child without
// Linger) steal what is unclaimed or expired, a range of shards at a time,
// and with Linger stay to the end to take over expired leases and
// finalize. The other children leave: their own slots were their share,
// and a thousand children listing the work bucket would cost more than
// they could take over.
func (c *child) steal(stop, work context.Context, st *Stats) error {
	r, sc := c.r, c.sc
	for r.Me.Index < c.stealers && stop.Err() == nil {
		state, err := sc.scan(work, r.LeaseTTL)
		if err != nil {
			return err
		}
		if sc.allDone() {
			return nil
		}
		c.noteUndone(work)
		progressed, err := c.tryClaimable(stop, work, state, st)
		if err != nil {
			return err
		}
		if progressed {
			sc.reset()
			continue
		}
		if !sc.wentRound() {
			continue // look at the next range
		}
		if !r.Linger {
			return nil
		}
		if err := c.idle(stop, work); err != nil {
			return err
		}
		if sc.allDone() {
			return nil
		}
	}
	return nil
}

// tryClaimable tries the claimable shards of a scan in this child's stride
// order and reports whether it finished any.
func (c *child) tryClaimable(stop, work context.Context, state *scanState, st *Stats) (bool, error) {
	r := c.r
	progressed, misses := false, 0
	for _, cand := range strideOrder(state.claimable(r.Now(), r.LeaseTTL), r.Me.Index, c.stealers) {
		if stop.Err() != nil {
			break
		}
		before := st.Shards
		got, err := r.tryShard(stop, work, c.run, c.lea, c.sc, cand, st, c.log)
		if err != nil {
			return progressed, err
		}
		progressed = progressed || st.Shards > before
		// The list ages while we work: after a few shards that others
		// took meanwhile, a fresh scan is cheaper than walking on.
		if misses++; got {
			misses = 0
		}
		if misses >= maxStaleMisses {
			break
		}
	}
	return progressed, nil
}

// idle waits while there is nothing to take anywhere: no claim can expire
// before the earliest one seen, so it waits for that (between Poll and the
// lease TTL), watching for the run's end.
func (c *child) idle(stop, work context.Context) error {
	r := c.r
	wait := r.Poll
	if next := c.sc.nextExpiry; !next.IsZero() {
		wait = min(max(next.Sub(r.Now()), r.Poll), r.LeaseTTL)
	}
	c.sc.reset()
	_, err := c.waitForEnd(stop, work, jitter(wait))
	return err
}

// maxStaleMisses is how many claimable shards of a scan may turn out to be
// taken before the child scans again.
const maxStaleMisses = 3

// Watchers is how many children of an array of width steal work after
// their own slots and stay to the end of the run (with Linger): the lowest
// indexes, 2 or one in sixteen, whichever is more. They take over expired
// leases and unclaimed slots of children that died, and finalize; more
// would only list the work bucket more often (each scan is two LIST
// requests).
func Watchers(width int) int {
	return min(width, max(2, (width+15)/16))
}

// strideOrder is the order in which child index of width stealers tries
// the claimable shards of a scan: first its own residue class (index,
// index+width, … of the list), which no other child that saw the same list
// tries first, then the rest.
func strideOrder(cs []candidate, index, width int) []candidate {
	k := len(cs)
	if k < 2 {
		return cs
	}
	out := make([]candidate, 0, k)
	taken := make([]bool, k)
	for p := index % k; p < k; p += width {
		out = append(out, cs[p])
		taken[p] = true
	}
	for j := 0; j < k; j++ {
		if p := (index + j) % k; !taken[p] {
			out = append(out, cs[p])
		}
	}
	return out
}

// maxEndHeads bounds the done markers a look of a run listed whole reads.
const maxEndHeads = 16

// waitForEnd waits d, looking every Poll whether the shards not known to
// be done are done now (scanner.lookDone: one LIST of the done markers of
// the range of the first such shard) and writing the count of shards left
// for the children's S3 share (fleet.go). It reports whether every shard
// is done.
func (c *child) waitForEnd(stop, work context.Context, d time.Duration) (bool, error) {
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return false, nil
		}
		if !sleep(stop, min(left, jitter(c.r.Poll))) {
			return false, nil
		}
		if err := c.sc.lookDone(work); err != nil && work.Err() == nil {
			c.log.Debug("done markers not read", "err", err)
		}
		if c.sc.allDone() {
			return true, nil
		}
		c.noteUndone(work)
	}
}
