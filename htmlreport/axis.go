package htmlreport

import (
	"math"
	"time"
)

// maxTicks bounds the ticks of an axis: enough to read a value off a
// 720-px chart, few enough that labels like "1 h 30 m" never touch.
const maxTicks = 7

// niceSteps are the time steps an axis may use, from a millisecond to a
// week: each a round number in its unit, so every tick label is exact.
var niceSteps = func() []time.Duration {
	var s []time.Duration
	for _, u := range []struct {
		unit  time.Duration
		mults []int
	}{
		{time.Millisecond, []int{1, 2, 5, 10, 20, 50, 100, 200, 500}},
		{time.Second, []int{1, 2, 5, 10, 15, 30}},
		{time.Minute, []int{1, 2, 5, 10, 15, 30}},
		{time.Hour, []int{1, 2, 3, 6, 12, 24, 48, 168}},
	} {
		for _, m := range u.mults {
			s = append(s, time.Duration(m)*u.unit)
		}
	}
	return s
}()

// timeAxis is the ticks of a time axis covering [0, span]: the smallest
// nice step giving at most maxTicks intervals, and the axis extent, the
// first tick at or past span.
func timeAxis(span time.Duration) (ticks []time.Duration, step, extent time.Duration) {
	if span < time.Millisecond {
		span = time.Millisecond
	}
	step = niceSteps[len(niceSteps)-1]
	for _, s := range niceSteps {
		if span <= s*maxTicks {
			step = s
			break
		}
	}
	for span > step*maxTicks { // beyond weeks: keep doubling
		step *= 2
	}
	n := (span + step - 1) / step
	for i := time.Duration(0); i <= n; i++ {
		ticks = append(ticks, i*step)
	}
	return ticks, step, n * step
}

// countAxis is the ticks of a count axis covering [0, max]: steps of 1, 2
// or 5 × 10^k (never below 1: items are whole), and its extent.
func countAxis(max int64) (ticks []int64, extent int64) {
	if max < 1 {
		max = 1
	}
	step := int64(1)
	for mag := int64(1); ; mag *= 10 {
		if s := pickStep(max, mag); s > 0 {
			step = s
			break
		}
		if mag > math.MaxInt64/100 {
			step = mag
			break
		}
	}
	n := (max + step - 1) / step
	for i := int64(0); i <= n; i++ {
		ticks = append(ticks, i*step)
	}
	return ticks, n * step
}

// pickStep returns the first of 1, 2, 5 × mag that covers max in at most
// maxTicks intervals, or 0.
func pickStep(max, mag int64) int64 {
	for _, m := range []int64{1, 2, 5} {
		if max <= m*mag*maxTicks {
			return m * mag
		}
	}
	return 0
}
