// Package s3limit makes S3 clients cooperate with S3's request budgets:
// an AIMD rate limiter per bucket and budget (PUT-class, GET-class) in
// the client's HTTP path, which starts at a given rate (a fleet's fair
// share of the documented per-prefix budgets) or unlimited, halves its
// rate when S3 answers 503 SlowDown, and adds back, for every second it
// held requests back, 2 % of the starting rate while below it and a little
// (0.1 %) above it. Control-plane buckets (Control) are paced only at
// their own generous rates (ControlPut, ControlGet), or not at all. A request waits for its slot inside the
// SDK call, so the goroutine that made it — an upload or fetch worker —
// waits too: the limiter's back-pressure reaches the pools that feed it,
// and the bytes they hold stay bounded by their own semaphores.
//
// S3 partitions are not visible to a client, so the limiter keys on the
// bucket only; a bucket whose prefix S3 has split serves more, and the
// additive increase finds it.
//
// Retryer builds the retryer of the same clients, in one of the modes the
// rate simulation compares: the standard retryer without a retry quota
// (the limiter, or nothing, controls the rate) or the SDK's adaptive mode
// (its own client-side token bucket, per client, reacting to throttles).
package s3limit
