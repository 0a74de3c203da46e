package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond every 20 ms until it holds, failing t when limit
// passes first; what names the awaited state in the failure.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
