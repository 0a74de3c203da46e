package testutil

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNeed runs itself as a child with and without StrictEnv: a missing
// prerequisite skips the test normally and fails it under StrictEnv.
func TestNeed(t *testing.T) {
	if os.Getenv("TESTUTIL_CHILD") != "" {
		Need(t, "frobnicator", errors.New("not found"))
		return
	}
	for _, c := range []struct {
		strict bool
		want   string
	}{{false, "--- SKIP"}, {true, "--- FAIL"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNeed$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTUTIL_CHILD=1", StrictEnv+"=")
		if c.strict {
			cmd.Env = append(cmd.Env, StrictEnv+"=1")
		}
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), c.want) || !strings.Contains(string(out), "frobnicator") {
			t.Errorf("strict=%v: want %q naming the prerequisite, got:\n%s", c.strict, c.want, out)
		}
	}
	Need(t, "nothing", nil) // present: neither skips nor fails
}
