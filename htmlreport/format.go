package htmlreport

import (
	"fmt"
	"strings"
	"time"

	"github.com/imgbatch/imgbatch/internal/human"
)

// humanDuration formats a duration for reading, not parsing: "0.4 ms",
// "30 ms", "1.2 s", "42 s", "2 m 05 s", "1 h 07 m", "3 d 04 h".
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + humanDuration(-d)
	case d == 0:
		return "0 s"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond)
	case d < 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return compound(d.Round(time.Second))
	case d < 24*time.Hour:
		return compound(d.Round(time.Minute))
	}
	return compound(d.Round(time.Hour))
}

// units are compound's units, largest first.
var units = []struct {
	d    time.Duration
	name string
}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}}

// compound writes d in its largest unit and the next one ("2 m 05 s",
// "1 h", "3 d 04 h"); whatever is below the next unit is dropped.
func compound(d time.Duration) string {
	for i, u := range units {
		if d < u.d && i < len(units)-1 {
			continue
		}
		s := fmt.Sprintf("%d %s", d/u.d, u.name)
		if i+1 < len(units) && units[i+1].d >= time.Second {
			next := units[i+1]
			if r := (d % u.d) / next.d; r > 0 {
				s += fmt.Sprintf(" %02d %s", r, next.name)
			}
		}
		return s
	}
	return "0 s"
}

// axisLabel labels a tick at d on an axis of the given step and extent:
// milliseconds on an axis under a second, seconds with one decimal for
// sub-second steps beyond it, else compound units ("1 m 30 s", "2 h").
// Ticks are multiples of a nice step, so no label is rounded.
func axisLabel(d, step, extent time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case step < time.Second && extent <= time.Second:
		return fmt.Sprintf("%d ms", d/time.Millisecond)
	case step < time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return compound(d)
}

// humanCount writes n with thousands separators (12,345), or in k/M
// beyond a million, as a count axis reads best.
func humanCount(n int64) string {
	if n >= 1_000_000 {
		s := fmt.Sprintf("%.1f", float64(n)/1e6)
		return strings.TrimSuffix(s, ".0") + " M"
	}
	return human.Count(n)
}

func humanBytes(n int64) string { return human.Bytes(n) }

// strconvRate writes items per second: one decimal from 1 to 1,000, two
// significant digits below (a slow run is not "0.0").
func strconvRate(r float64) string {
	switch {
	case r >= 1000:
		return humanCount(int64(r + 0.5))
	case r >= 1 || r == 0:
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.2g", r)
}
