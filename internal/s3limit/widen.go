package s3limit

// Widen sets the share of every data lane (not a Control bucket's) to f
// times its starting rate, f ≥ 1: the fleet the starting rates were a
// share of has shrunk to 1/f of its children (the slow end of a run:
// children that ran out of shards left, and the budget they held goes
// unused unless the others take it). A lane's rate moves with its share,
// so a lane cut by SlowDown stays as far below it as it was; the step of
// its probing grows alike. A lane that started unlimited is not touched.
// Widen(1) returns to the starting shares.
func (l *Limiter) Widen(f float64) {
	f = max(f, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if f == l.widen {
		return
	}
	by := f / l.widen
	l.widen = f
	for ln, p := range l.lanes {
		if l.control[ln.bucket] || p.share <= 0 {
			continue
		}
		p.share *= by
		p.rate *= by
		p.step *= by
	}
}

// Widened is the factor of the last Widen (1 before any).
func (l *Limiter) Widened() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.widen
}
