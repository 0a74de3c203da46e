package s3fault

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeClock is the model's clock in these tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time                    { return c.t }
func (c *fakeClock) add(d time.Duration)               { c.t = c.t.Add(d) }
func okHandler(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

func newTestModel(lim RateLimits) (*RateModel, *fakeClock) {
	m := NewRateModel(http.HandlerFunc(okHandler), lim)
	c := &fakeClock{t: m.start}
	m.now = c.now
	return m, c
}

func send(m *RateModel, method, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	m.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader("body")))
	return w
}

// TestRateModelBudgets: a partition serves its PUT and GET budgets apart,
// refuses the rest with 503 SlowDown, and refills at the budget's rate.
func TestRateModelBudgets(t *testing.T) {
	m, clock := newTestModel(RateLimits{Put: 10, Get: 20})
	count := func(method string, n int) (ok, slow int) {
		for i := 0; i < n; i++ {
			w := send(m, method, fmt.Sprintf("/out/k%03d", i))
			switch {
			case w.Code == http.StatusOK:
				ok++
			case w.Code == http.StatusServiceUnavailable && strings.Contains(w.Body.String(), "<Code>SlowDown</Code>"):
				slow++
			default:
				t.Fatalf("%s: status %d %s", method, w.Code, w.Body)
			}
		}
		return ok, slow
	}
	if ok, slow := count(http.MethodPut, 30); ok != 10 || slow != 20 {
		t.Errorf("30 PUTs at once: %d served, %d SlowDown; want 10 and 20 (a second of budget banked)", ok, slow)
	}
	if ok, _ := count(http.MethodGet, 30); ok != 20 {
		t.Errorf("30 GETs at once after the PUTs: %d served, want 20 (their own budget)", ok)
	}
	clock.add(500 * time.Millisecond)
	if ok, _ := count(http.MethodPut, 30); ok != 5 {
		t.Errorf("half a second later: %d PUTs served, want 5", ok)
	}
	if ok, _ := count(http.MethodPut, 30); ok != 0 {
		t.Errorf("at the same instant again: %d PUTs served, want 0", ok)
	}
	if ok, _ := count(http.MethodDelete, 1); ok != 0 {
		t.Errorf("a DELETE was served from an empty PUT-class budget")
	}
	ok, slow := count(http.MethodPut, 1)
	if send(m, http.MethodPut, "/other/k").Code != http.StatusOK || ok != 0 || slow != 1 {
		t.Errorf("another bucket has its own budget")
	}
	s := m.Series()
	if len(s) != 1 || s[0].OK[Budget{"out", ClassPut}] != 15 || s[0].SlowDown[Budget{"out", ClassPut}] != 77 {
		t.Errorf("series %+v, want one second with 15 PUTs served and 77 refused", s)
	}
}

// TestRateModelSplits: sustained load over the budget splits the
// partition after SplitAfter + SplitDelay, at the median of its keys; the
// two halves serve twice the budget. Without the load it does not split.
func TestRateModelSplits(t *testing.T) {
	m, clock := newTestModel(RateLimits{Put: 10, Get: 10, SplitAfter: 3 * time.Second, SplitDelay: 2 * time.Second})
	served := make([]int, 12)
	for s := range served {
		for i := 0; i < 40; i++ { // 40 PUTs a second over keys k000..k039
			if send(m, http.MethodPut, fmt.Sprintf("/out/k%03d", i)).Code == http.StatusOK {
				served[s]++
			}
			clock.add(25 * time.Millisecond)
		}
	}
	if m.Splits() == 0 || m.Partitions("out") < 2 {
		t.Fatalf("no split after 12 s at 4× the budget")
	}
	if served[2] > 11 || served[11] < 19 {
		t.Errorf("served per second %v: want ~10 before the split, ~20 or more after", served)
	}
	for s := 1; s < 5; s++ { // second 0 also spends the banked second
		if served[s] > 11 {
			t.Errorf("second %d served %d before the split could have happened (after 3 s + 2 s)", s, served[s])
		}
	}

	idle, clock := newTestModel(RateLimits{Put: 10, Get: 10, SplitAfter: 3 * time.Second, SplitDelay: 2 * time.Second})
	for i := 0; i < 120; i++ { // 5 a second: under the 80 % that counts as load
		send(idle, http.MethodPut, fmt.Sprintf("/out/k%03d", i%40))
		clock.add(200 * time.Millisecond)
	}
	if idle.Splits() != 0 {
		t.Errorf("split under half the budget")
	}

	one, clock := newTestModel(RateLimits{Put: 10, Get: 10, SplitAfter: time.Second, SplitDelay: time.Second})
	for i := 0; i < 400; i++ { // one hot key: nothing to split
		send(one, http.MethodPut, "/out/hot")
		clock.add(25 * time.Millisecond)
	}
	if one.Partitions("out") != 1 {
		t.Errorf("one key was split into %d partitions", one.Partitions("out"))
	}
}
