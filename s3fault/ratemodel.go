package s3fault

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// The rate model: S3's request budgets, as an http.Handler in front of any
// S3 server. Its sources, AWS's "Best practices design patterns:
// optimizing Amazon S3 performance" and the SlowDown entry of the S3
// error responses:
//
//   - each partitioned prefix serves at least 3,500 PUT/COPY/POST/DELETE
//     and 5,500 GET/HEAD requests per second, the two budgets apart;
//   - above them S3 answers 503 SlowDown ("Please reduce your request
//     rate") and does not do the request;
//   - S3 scales by splitting a prefix that sees sustained high load into
//     more partitions, each with the full budgets; until it has (it takes
//     time: 30 to 60 minutes, AWS said on re:Post) the 503s go on.
//
// A partition here is a key range of one bucket, [lo, hi); a bucket starts
// as one. Each partition has a token bucket per class, refilled at the
// class's rate and holding Burst worth of unused budget (S3 does not
// publish its burst; one second is a plain guess). A partition whose
// demand (requests answered or refused, averaged over five one-second
// windows) stays at or over SplitLoad of a budget for SplitAfter is split, SplitDelay later, at
// the median of the keys it saw recently: the two halves each get the full
// budgets. Limits are per second, so a simulation scales them down with
// its fleet (÷100 for a hundredth of the children).

// Class is an S3 request budget.
type Class string

// Classes of requests.
const (
	ClassPut Class = "PUT" // PUT, COPY, POST, DELETE
	ClassGet Class = "GET" // GET, HEAD, LIST
)

// RateLimits configure a RateModel.
type RateLimits struct {
	Put, Get float64 // requests per second per partition (S3: 3,500 and 5,500)
	// Burst is how much unused budget a partition banks (default 1 s).
	Burst time.Duration
	// SplitAfter is how long demand must stay at SplitLoad (default 0.8)
	// of a budget before S3 splits the partition; 0 never splits.
	SplitAfter time.Duration
	SplitLoad  float64
	// SplitDelay is how long the split takes once decided.
	SplitDelay time.Duration
	// MaxPartitions caps the partitions of one bucket (0: no cap).
	MaxPartitions int
}

// S3Limits are the documented per-prefix budgets of S3.
var S3Limits = RateLimits{Put: 3500, Get: 5500}

// Scaled returns the limits divided by n (a fleet n times smaller).
func (l RateLimits) Scaled(n float64) RateLimits {
	l.Put, l.Get = l.Put/n, l.Get/n
	return l
}

// RateModel enforces RateLimits in front of next.
type RateModel struct {
	next  http.Handler
	lim   RateLimits
	start time.Time
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string][]*partition // sorted by lo
	series  []Second
	splits  int
}

// Budget names one budget of one bucket.
type Budget struct {
	Bucket string
	Class  Class
}

// Second is what the model saw in one second of its life.
type Second struct {
	OK, SlowDown map[Budget]int64 // requests served, refused
	Partitions   map[string]int   // per bucket, at the end of the second
}

// NewRateModel wraps next in the rate model.
func NewRateModel(next http.Handler, lim RateLimits) *RateModel {
	if lim.Burst <= 0 {
		lim.Burst = time.Second
	}
	if lim.SplitLoad <= 0 {
		lim.SplitLoad = 0.8
	}
	return &RateModel{next: next, lim: lim, start: time.Now(), now: time.Now, buckets: map[string][]*partition{}}
}

// classOf is the budget a request draws on.
func classOf(method string) Class {
	switch method {
	case http.MethodGet, http.MethodHead:
		return ClassGet
	}
	return ClassPut
}

// ServeHTTP answers 503 SlowDown over budget, else serves the request.
func (m *RateModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	class := classOf(r.Method)
	ok := m.admit(bucket, key, class)
	if !ok {
		s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate. (s3fault rate model)", 0)
		return
	}
	m.next.ServeHTTP(w, r)
}

// admit takes a token of class from the partition of bucket/key.
func (m *RateModel) admit(bucket, key string, class Class) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	sec := m.second(now)
	p := m.partitionOf(bucket, key, now)
	ok := p.take(class, m.rate(class), m.lim.Burst, now)
	p.note(key, class, now, m)
	if ok {
		sec.OK[Budget{bucket, class}]++
	} else {
		sec.SlowDown[Budget{bucket, class}]++
	}
	sec.Partitions[bucket] = len(m.buckets[bucket])
	return ok
}

func (m *RateModel) rate(c Class) float64 {
	if c == ClassPut {
		return m.lim.Put
	}
	return m.lim.Get
}

// second is the series entry of now (mu held).
func (m *RateModel) second(now time.Time) *Second {
	i := int(now.Sub(m.start) / time.Second)
	for len(m.series) <= i {
		m.series = append(m.series, Second{OK: map[Budget]int64{}, SlowDown: map[Budget]int64{}, Partitions: map[string]int{}})
	}
	return &m.series[i]
}

// partitionOf finds (or makes) the partition of key, splitting first any
// whose split is due (mu held).
func (m *RateModel) partitionOf(bucket, key string, now time.Time) *partition {
	ps := m.buckets[bucket]
	if ps == nil {
		ps = []*partition{newPartition(bucket, "", "", now)}
		m.buckets[bucket] = ps
	}
	i := find(ps, key)
	if p := ps[i]; !p.splitAt.IsZero() && !now.Before(p.splitAt) {
		if a, b, ok := p.split(now); ok {
			m.buckets[bucket] = slices.Replace(ps, i, i+1, a, b)
			m.splits++
			return m.partitionOf(bucket, key, now)
		}
		p.splitAt = time.Time{}
	}
	return ps[i]
}

// find is the index of the partition holding key.
func find(ps []*partition, key string) int {
	i, _ := slices.BinarySearchFunc(ps, key, func(p *partition, k string) int { return strings.Compare(p.lo, k) })
	if i == len(ps) || ps[i].lo != key {
		i--
	}
	return max(i, 0)
}

// Series returns what the model saw, second by second. A second without
// a request of a bucket has no Partitions entry for it: the last one
// before holds.
func (m *RateModel) Series() []Second {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.series)
}

// Limits are the model's limits.
func (m *RateModel) Limits() RateLimits { return m.lim }

// Partitions is the number of partitions of bucket now.
func (m *RateModel) Partitions(bucket string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return max(len(m.buckets[bucket]), 1)
}

// Splits is how many partitions were split.
func (m *RateModel) Splits() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.splits
}
