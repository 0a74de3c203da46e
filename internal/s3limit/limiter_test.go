package s3limit

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// stub answers every request with status.
type stub struct{ status atomic.Int32 }

func (s *stub) Do(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: int(s.status.Load()), Body: http.NoBody, Request: req}, nil
}

func do(t *testing.T, c interface {
	Do(*http.Request) (*http.Response, error)
}, method, url string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if _, err := c.Do(req); err != nil {
		t.Fatal(err)
	}
}

// TestLimiterPaces: a lane sends at its rate; others are apart.
func TestLimiterPaces(t *testing.T) {
	l := New(Config{Put: 20, Get: 1, Burst: 1})
	s := &stub{}
	s.status.Store(200)
	c := l.Wrap(s)
	start := time.Now()
	for i := 0; i < 11; i++ {
		do(t, c, http.MethodPut, "http://127.0.0.1:9000/out/k")
	}
	if d := time.Since(start); d < 450*time.Millisecond || d > 2*time.Second {
		t.Errorf("11 PUTs at 20/s took %s, want ~500 ms", d)
	}
	start = time.Now()
	do(t, c, http.MethodGet, "http://127.0.0.1:9000/out/k")
	do(t, c, http.MethodPut, "https://other.s3.us-east-1.amazonaws.com/k")
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("a GET and another bucket's PUT waited %s for the PUT lane of out", d)
	}
	if st := l.Stats(); st.Requests != 13 || st.Held < 9 {
		t.Errorf("stats %+v, want 13 requests, ≥ 9 held", st)
	}

	ctl := New(Config{Put: 1, Burst: 1})
	ctl.Control("work")
	start = time.Now()
	for i := 0; i < 4; i++ {
		do(t, ctl.Wrap(s), http.MethodPut, "http://h/work/k")
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("4 PUTs to a control bucket took %s, want at once", d)
	}
	if st := ctl.Stats(); st.Requests != 0 {
		t.Errorf("a control bucket's requests were paced: %+v", st)
	}

	lane := New(Config{Put: 1, ControlPut: 20, Burst: 1})
	lane.Control("work")
	start = time.Now()
	for i := 0; i < 11; i++ {
		do(t, lane.Wrap(s), http.MethodPut, "http://h/work/k")
	}
	if d := time.Since(start); d < 450*time.Millisecond || d > 2*time.Second {
		t.Errorf("11 PUTs to a control bucket with ControlPut 20/s took %s, want ~500 ms", d)
	}

	burst := New(Config{Put: 1, Burst: 4}).Wrap(s)
	start = time.Now()
	for i := 0; i < 4; i++ {
		do(t, burst, http.MethodPut, "http://h/work/k")
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("a burst of 4 at 1/s with Burst 4 took %s, want at once", d)
	}
}

// TestLimiterAdapts: a SlowDown halves the rate (once per cooldown);
// held-back requests that succeed raise it; an unlimited lane gets a
// rate from what it sent at its first SlowDown.
func TestLimiterAdapts(t *testing.T) {
	l := New(Config{Put: 100, Increase: 0.5, Recover: 0.5, Cooldown: 100 * time.Millisecond, Burst: 1})
	s := &stub{}
	c := l.Wrap(s)
	s.status.Store(503)
	do(t, c, http.MethodPut, "http://h/out/a")
	do(t, c, http.MethodPut, "http://h/out/b")
	if r := l.Rate("out", true); r != 50 {
		t.Errorf("after two SlowDowns within the cooldown: rate %v, want 50", r)
	}
	time.Sleep(120 * time.Millisecond)
	s.status.Store(200)
	for i := 0; i < 30; i++ {
		do(t, c, http.MethodPut, "http://h/out/c")
	}
	if r := l.Rate("out", true); r <= 50 || r > 80 {
		t.Errorf("after 30 held-back successes over ~0.6 s: rate %v, want 50 + ~0.6·50", r)
	}

	for i := 0; i < 20; i++ {
		do(t, c, http.MethodGet, "http://h/src/k") // unlimited: no wait
	}
	if r := l.Rate("src", false); r != 0 {
		t.Fatalf("GET lane limited before any SlowDown: %v", r)
	}
	s.status.Store(503)
	do(t, c, http.MethodGet, "http://h/src/k")
	if r := l.Rate("src", false); r < 10 || r > 11 {
		t.Errorf("first SlowDown after 21 GETs in a second: rate %v, want half of that", r)
	}
}

// TestLimiterRecovers: below its starting rate (the fleet's share) a lane
// climbs back at Recover; at the share it probes on at Increase only.
func TestLimiterRecovers(t *testing.T) {
	l := New(Config{Put: 100, Increase: 0.001, Recover: 0.5, Cooldown: 50 * time.Millisecond, Burst: 1})
	now := time.Now()
	l.now = func() time.Time { return now }
	ln := lane{"out", true}
	l.observe(ln, http.StatusServiceUnavailable, false)
	if r := l.Rate("out", true); r != 50 {
		t.Fatalf("after a SlowDown: rate %v, want 50", r)
	}
	now = now.Add(time.Second)
	l.observe(ln, http.StatusOK, true) // one held second: +0.5·100, capped at the share
	if r := l.Rate("out", true); r != 100 {
		t.Errorf("one held second below the share: rate %v, want back at 100", r)
	}
	now = now.Add(time.Second)
	l.observe(ln, http.StatusOK, true)
	if r := l.Rate("out", true); r < 100.09 || r > 100.11 {
		t.Errorf("one held second at the share: rate %v, want 100.1 (Increase)", r)
	}
}
