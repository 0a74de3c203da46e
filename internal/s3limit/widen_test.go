package s3limit

import (
	"net/http"
	"testing"
	"time"
)

// TestLimiterWiden: widening moves the data lanes' shares (and rates, a
// cut lane staying as far below its share), reaches lanes made later,
// leaves a control bucket's lanes alone, and Widen(1) undoes it.
func TestLimiterWiden(t *testing.T) {
	l := New(Config{Put: 10, Get: 20, ControlPut: 100, Recover: 0.5, Cooldown: time.Millisecond, Burst: 1})
	l.Control("work")
	now := time.Now()
	l.now = func() time.Time { return now }
	out, work := lane{"out", true}, lane{"work", true}
	l.observe(out, http.StatusServiceUnavailable, false) // out PUT: 10 → 5
	l.lane(work)
	l.Widen(4)
	if r := l.Rate("out", true); r != 20 {
		t.Errorf("a cut lane (5 of 10) widened ×4: rate %v, want 20", r)
	}
	if r := l.Rate("work", true); r != 100 {
		t.Errorf("a control lane widened: rate %v, want 100", r)
	}
	l.lane(lane{"src", false})
	if r := l.Rate("src", false); r != 80 {
		t.Errorf("a GET lane made after Widen(4): rate %v, want 80", r)
	}
	now = now.Add(2 * time.Second)
	l.observe(out, http.StatusOK, true) // recovers toward the widened share, 40
	if r := l.Rate("out", true); r != 40 {
		t.Errorf("recovery after widening: rate %v, want the share 40", r)
	}
	l.Widen(0.5) // below 1 means 1
	if r, w := l.Rate("out", true), l.Widened(); r != 10 || w != 1 {
		t.Errorf("Widen(0.5): rate %v, factor %v, want 10 and 1", r, w)
	}

	unl := New(Config{})
	unl.lane(out)
	unl.Widen(8)
	if r := unl.Rate("out", true); r != 0 {
		t.Errorf("an unlimited lane got a rate from Widen: %v", r)
	}
}
