package s3limit

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Config of a Limiter. Zero values take the defaults.
type Config struct {
	// Put and Get are the starting rates of each bucket's PUT-class and
	// GET-class requests, per second; 0 starts unlimited and sets the
	// rate from what was sent at the first SlowDown.
	Put, Get float64
	// ControlPut and ControlGet are the starting rates of a Control
	// bucket's lanes; 0 leaves them unpaced. Set them generous — most of
	// one prefix's budget, not a share: a control bucket's traffic is a
	// child's leases and checkpoints, bursts at a shard's end, and one
	// finalizer reading every shard's results, which alone must not take
	// more than the prefix serves.
	ControlPut, ControlGet float64
	Min                    float64 // the lowest rate (default 0.05/s)
	// Increase is added per second of held-back requests, as a share of
	// the starting rate (default 0.001). Small on purpose: with N
	// children sharing a budget C, the SlowDown share at equilibrium is
	// about Increase·N/((1−Decrease)·C), i.e. 0.6 % for 10,000 children
	// on one prefix (a child's share, 0.35 PUTs a second, hears of a
	// SlowDown rarely).
	Increase float64
	// Recover is the increase per held second, as a share of the starting
	// rate, while a lane is below it (default 0.02: back from a halving in
	// 25 s). The starting rate is the fleet's fair share, which the fleet
	// can send all at once; a child cut by a passing burst that crept back
	// at Increase would keep its shard for minutes after the others
	// finished (the slow end of a run).
	Recover  float64
	Decrease float64       // the rate is multiplied by it on SlowDown (default 0.5)
	Cooldown time.Duration // at most one decrease per lane this often (default 2 s): the answers already in flight say nothing new
	// Burst is how many requests a lane that was idle may send at once
	// (default 1: a fleet of children at their share has no room for
	// bursts).
	Burst float64
}

func (c *Config) defaults() {
	if c.Min <= 0 {
		c.Min = 0.05
	}
	if c.Increase <= 0 {
		c.Increase = 0.001
	}
	if c.Recover <= 0 {
		c.Recover = 0.02
	}
	if c.Decrease <= 0 || c.Decrease >= 1 {
		c.Decrease = 0.5
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 2 * time.Second
	}
	if c.Burst < 1 {
		c.Burst = 1
	}
}

// Limiter paces the requests of S3 clients, per bucket and budget.
type Limiter struct {
	cfg Config
	now func() time.Time

	mu      sync.Mutex
	lanes   map[lane]*pace
	control map[string]bool
	stats   Stats
	widen   float64 // the data lanes' share is widen × their starting rate (Widen; 1 at first)
}

// Control marks bucket a control-plane bucket (the work bucket: leases,
// checkpoints, scans, the finalizer's reads): it is not paced at a data
// bucket's share — its requests are few, a late one costs a lease, and
// that share (or a rate cut by one SlowDown) would stall a child at every
// shard's end and the finalizer for minutes. Its lanes start at
// ControlPut/ControlGet (unpaced when 0) and adapt as the others; the SDK's
// retries with backoff answer its SlowDowns.
func (l *Limiter) Control(bucket string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.control[bucket] = true
}

// lane is one budget of one bucket.
type lane struct {
	bucket string
	put    bool
}

// Stats are what a Limiter did.
type Stats struct {
	Requests  int64         // sent through it
	Held      int64         // of them, held back for their slot
	HeldFor   time.Duration // total time held
	SlowDowns int64         // 503 answers seen
	Cuts      int64         // rate decreases
}

// New makes a limiter.
func New(cfg Config) *Limiter {
	cfg.defaults()
	return &Limiter{cfg: cfg, now: time.Now, lanes: map[lane]*pace{}, control: map[string]bool{}, widen: 1}
}

// Stats returns the counters.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Rate is the current rate of bucket's PUT-class (put) or GET-class
// requests; 0 when unlimited.
func (l *Limiter) Rate(bucket string, put bool) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.lanes[lane{bucket, put}]; p != nil {
		return p.rate
	}
	return 0
}

// Wrap returns next with every request paced.
func (l *Limiter) Wrap(next aws.HTTPClient) aws.HTTPClient { return client{l, next} }

type client struct {
	l    *Limiter
	next aws.HTTPClient
}

func (c client) Do(req *http.Request) (*http.Response, error) {
	ln := laneOf(req)
	if c.l.exempt(ln) {
		return c.next.Do(req)
	}
	held, err := c.l.wait(req.Context(), ln)
	if err != nil {
		return nil, err
	}
	resp, err := c.next.Do(req)
	if resp != nil {
		c.l.observe(ln, resp.StatusCode, held)
	}
	return resp, err
}

// exempt: the lanes of a control bucket without a control rate.
func (l *Limiter) exempt(ln lane) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.control[ln.bucket] {
		return false
	}
	if ln.put {
		return l.cfg.ControlPut <= 0
	}
	return l.cfg.ControlGet <= 0
}

// laneOf names the bucket (virtual-hosted "b.s3.region.amazonaws.com" or
// path-style "/b/key") and budget of a request.
func laneOf(req *http.Request) lane {
	put := req.Method != http.MethodGet && req.Method != http.MethodHead
	host := req.URL.Hostname()
	for _, sep := range []string{".s3.", ".s3-"} {
		if i := strings.Index(host, sep); i > 0 {
			return lane{host[:i], put}
		}
	}
	b, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	return lane{b, put}
}

// wait takes the lane's next slot and sleeps until it; held says it had to.
func (l *Limiter) wait(ctx context.Context, ln lane) (held bool, err error) {
	l.mu.Lock()
	p := l.lane(ln)
	now := l.now()
	p.count(now)
	l.stats.Requests++
	if p.rate <= 0 {
		l.mu.Unlock()
		return false, nil
	}
	// The slots of an idle lane start up to Burst intervals in the past.
	interval := time.Duration(float64(time.Second) / p.rate)
	slot := p.next
	if early := now.Add(-time.Duration(l.cfg.Burst-1) * interval); slot.Before(early) {
		slot = early
	}
	p.next = slot.Add(interval)
	d := slot.Sub(now)
	if d > 0 {
		l.stats.Held++
		l.stats.HeldFor += d
	}
	l.mu.Unlock()
	if d <= 0 {
		return false, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true, nil
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

func (l *Limiter) lane(ln lane) *pace {
	p := l.lanes[ln]
	if p == nil {
		start := l.cfg.Get
		switch {
		case l.control[ln.bucket] && ln.put:
			start = l.cfg.ControlPut
		case l.control[ln.bucket]:
			start = l.cfg.ControlGet
		case ln.put:
			start = l.cfg.Put
		}
		if !l.control[ln.bucket] {
			start *= l.widen
		}
		p = &pace{rate: start, share: start, step: l.cfg.Increase * start}
		l.lanes[ln] = p
	}
	return p
}

// observe adapts the lane's rate to an answer: a decrease on 503, an
// increase on any other answer to a request that was held back (a lane
// whose requests never wait has no use for a higher rate).
func (l *Limiter) observe(ln lane, status int, held bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, now := l.lane(ln), l.now()
	switch {
	case status == http.StatusServiceUnavailable:
		l.stats.SlowDowns++
		if now.Sub(p.lastCut) < l.cfg.Cooldown {
			return
		}
		if p.rate <= 0 {
			p.rate = max(l.cfg.Min, p.sent()*l.cfg.Decrease)
			p.step = l.cfg.Increase * p.rate / l.cfg.Decrease
		} else {
			p.rate = max(l.cfg.Min, p.rate*l.cfg.Decrease)
		}
		p.lastCut, p.lastInc = now, now
		l.stats.Cuts++
	case held && status < 500 && now.Sub(p.lastCut) >= l.cfg.Cooldown:
		// The time since the last increase, up to two intervals: a slow
		// lane's requests are seconds apart, and all that time was held.
		dt := min(max(time.Second, 2*time.Duration(float64(time.Second)/p.rate)), now.Sub(p.lastInc))
		p.rate = p.raised(l.cfg, dt.Seconds())
		p.lastInc = now
	}
}

// pace is one lane's state.
type pace struct {
	rate    float64   // requests per second; 0: unlimited
	share   float64   // the starting rate (0: started unlimited)
	step    float64   // added per second of held-back requests
	next    time.Time // the next free slot
	lastCut time.Time
	lastInc time.Time

	win        time.Time // the one-second window of count
	inWin, was int64     // requests in it, in the one before
}

func (p *pace) count(now time.Time) {
	if s := now.Sub(p.win); s >= time.Second {
		p.was = p.inWin
		if s >= 2*time.Second {
			p.was = 0
		}
		p.win, p.inWin = now, 0
	}
	p.inWin++
}

// sent is the rate the lane sent at lately, per second.
func (p *pace) sent() float64 { return float64(max(p.was, p.inWin)) }

// raised is the lane's rate after dt held seconds: up by Recover of its
// share a second while below the share, by step above it (probing for a
// budget S3 has grown).
func (p *pace) raised(cfg Config, dt float64) float64 {
	if p.rate < p.share {
		return min(p.share, p.rate+cfg.Recover*p.share*dt)
	}
	return p.rate + p.step*dt
}
