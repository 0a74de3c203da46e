// Package testutil holds helpers shared by the tests of several packages.
package testutil

import (
	"os"
	"testing"
)

// StrictEnv is set by `make test` (and so by CI, which installs every tool
// the tests use: scripts/install-deps.sh test). Under it a test whose
// prerequisite is missing fails instead of skipping: a skipped test proves
// nothing, and CI must not pass because a package was not installed.
const StrictEnv = "IMGBATCH_TEST_STRICT"

// Need skips t, or fails it under StrictEnv, when err (a missing tool or
// library) is not nil. what names the prerequisite.
func Need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if Strict() {
		t.Fatalf("%s is missing (%v), and %s is set: make test needs it (scripts/install-deps.sh test installs it)", what, err, StrictEnv)
	}
	t.Skipf("%s is missing: %v (make test would fail here)", what, err)
}

// Strict reports whether StrictEnv is set: optional parts of a test
// (a sample that needs a library) are then required.
func Strict() bool { return os.Getenv(StrictEnv) != "" }

// Long skips t under -short: what says what makes it long. make test and
// CI never pass -short, so a long test always runs there.
func Long(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + ": skipped in -short")
	}
}
