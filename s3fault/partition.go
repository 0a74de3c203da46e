package s3fault

import (
	"slices"
	"time"
)

// recentKeys is how many recent keys a partition keeps to choose where
// to split.
const recentKeys = 256

// partition is one key range [lo, hi) of a bucket ("" hi: to the end),
// with a token bucket per class and the load that decides a split.
type partition struct {
	bucket, lo, hi string
	tokens         map[Class]float64
	last           map[Class]time.Time // of the last refill

	window   time.Time         // start of the current one-second window
	demand   map[Class]int64   // requests in the window, served or not
	past     map[Class][]int64 // demand of the last loadWindows windows
	hotSince time.Time         // demand at SplitLoad since (zero: not hot)
	splitAt  time.Time         // a decided split takes effect (zero: none)
	keys     []string          // ring of recent keys
	next     int
}

func newPartition(bucket, lo, hi string, now time.Time) *partition {
	return &partition{bucket: bucket, lo: lo, hi: hi, tokens: map[Class]float64{}, last: map[Class]time.Time{}, window: now, demand: map[Class]int64{}, past: map[Class][]int64{}, keys: make([]string, 0, recentKeys)}
}

// take refills the classes' buckets and takes one token of class.
func (p *partition) take(class Class, rate float64, burst time.Duration, now time.Time) bool {
	cap := rate * burst.Seconds()
	t, seen := p.tokens[class]
	if !seen {
		t = cap // a new partition starts with a full bucket
	} else {
		t = min(cap, t+rate*now.Sub(p.last[class]).Seconds())
	}
	p.last[class] = now
	if t < 1 {
		p.tokens[class] = t
		return false
	}
	p.tokens[class] = t - 1
	return true
}

// note counts the request in the load window and decides a split when
// the demand has stayed high for long enough.
func (p *partition) note(key string, class Class, now time.Time, m *RateModel) {
	if len(p.keys) < recentKeys {
		p.keys = append(p.keys, key)
	} else {
		p.keys[p.next] = key
		p.next = (p.next + 1) % recentKeys
	}
	for now.Sub(p.window) >= time.Second {
		hot := false
		for _, c := range []Class{ClassPut, ClassGet} {
			hot = hot || p.load(c) >= m.lim.SplitLoad*m.rate(c)
			p.demand[c] = 0
		}
		switch {
		case !hot:
			p.hotSince = time.Time{}
		case p.hotSince.IsZero():
			p.hotSince = p.window
		}
		p.window = p.window.Add(time.Second)
		if now.Sub(p.window) > time.Minute {
			p.window = now // idle for long: no need to walk every second
		}
	}
	p.demand[class]++
	lim := m.lim
	if lim.SplitAfter > 0 && p.splitAt.IsZero() && !p.hotSince.IsZero() && now.Sub(p.hotSince) >= lim.SplitAfter &&
		(lim.MaxPartitions == 0 || len(m.buckets[p.bucket]) < lim.MaxPartitions) {
		p.splitAt = now.Add(lim.SplitDelay)
	}
}

// loadWindows is how many one-second windows the load is averaged over:
// clients that pace themselves at the budget send 25 one second and 45
// the next; S3 watches sustained load, not single seconds.
const loadWindows = 5

// load is the demand of class averaged over the last windows, the one
// that just ended included (mu held).
func (p *partition) load(c Class) float64 {
	ws := append(p.past[c], p.demand[c])
	if len(ws) > loadWindows {
		ws = ws[len(ws)-loadWindows:]
	}
	p.past[c] = ws
	var sum int64
	for _, n := range ws {
		sum += n
	}
	return float64(sum) / float64(len(ws))
}

// split cuts p at the median of its recent keys; ok is false when they
// do not tell two halves apart (one hot key cannot be split).
func (p *partition) split(now time.Time) (a, b *partition, ok bool) {
	ks := slices.Clone(p.keys)
	slices.Sort(ks)
	mid := ks[len(ks)/2]
	if mid <= p.lo || mid == ks[0] && mid == ks[len(ks)-1] {
		return nil, nil, false
	}
	a, b = newPartition(p.bucket, p.lo, mid, now), newPartition(p.bucket, mid, p.hi, now)
	for _, q := range []*partition{a, b} {
		for c, t := range p.tokens {
			q.tokens[c], q.last[c] = t, p.last[c] // the halves start with what p had banked
		}
	}
	return a, b, true
}
