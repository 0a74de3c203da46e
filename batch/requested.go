package batch

import (
	"time"
)

// Requested is runs/<id>/requested.json: the run was started (its "Run
// Requested" event accepted by the bus, or its array job submitted). It is
// the outbox of that start: a submit (or redrive) that finds the run
// planned but not requested starts it and then writes this, so a run
// planned by `imgbatch plan`, or whose first submit failed to start it, is
// started by submitting again with the same client token — and a run
// already requested is not started twice.
type Requested struct {
	RunID       string    `json:"runId"`
	Via         string    `json:"via"`               // events or batch
	EventID     string    `json:"eventId,omitempty"` // the Run Requested event (via events)
	JobID       string    `json:"jobId,omitempty"`   // the array job (via batch)
	RequestedAt time.Time `json:"requestedAt"`
}
