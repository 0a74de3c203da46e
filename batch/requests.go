package batch

import "github.com/imgbatch/imgbatch/internal/s3count"

// Request accounting (issue 20). Each child counts its S3 requests
// (Runner.Requests, an SDK middleware on its client); a done marker carries
// what its owner counted since its previous one, so the count needs no
// request of its own. The finalizer sums the done markers and adds its own
// requests since its last marker: summary.json and final.json then say
// what the run asked of S3, by plane and method, and the control requests
// per item. Not counted: requests after a child's last done marker other
// than the finalizer's (a watcher's waiting, the attempts of killed
// children), so the figures are a floor.

// requestsSince is what this child counted since its last done marker
// (nil without a counter).
func (r *Runner) requestsSince() *s3count.Requests {
	if r.Requests == nil {
		return nil
	}
	d := r.Requests.Snapshot().Sub(r.reqMark)
	return &d
}

// requestsMarked moves the mark past what the done marker m carried, once
// it is written (a marker that lost its race carried nothing to anyone).
func (r *Runner) requestsMarked(m *DoneMarker) {
	if m.Requests != nil {
		r.reqMark.Add(*m.Requests)
	}
}

// addRequests adds a done marker's requests to the run's.
func (f *Final) addRequests(m *DoneMarker) {
	if m == nil || m.Requests == nil {
		return
	}
	if f.Requests == nil {
		f.Requests = &s3count.Requests{}
	}
	f.Requests.Add(*m.Requests)
}

// countFinalizer adds the finalizer's own requests since its last done
// marker (the reports' reads and writes up to here) and works out the
// control requests per item. A run whose children counted nothing (no
// counter: tests, an older binary) says nothing.
func (r *Runner) countFinalizer(f *Final) {
	if r.Requests != nil {
		f.addRequests(&DoneMarker{Requests: r.requestsSince()})
	}
	if f.Requests == nil || f.Requests.IsZero() {
		f.Requests = nil
		return
	}
	if items := f.Counts.Items + f.NotRun; items > 0 {
		f.ControlPerItem = float64(f.Requests.Control.Total()) / float64(items)
	}
}
