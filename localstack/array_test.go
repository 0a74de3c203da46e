package localstack

import (
	"context"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestArrayHooks: AttemptEnv reaches the attempt, OnStart sees every
// attempt's running process, OnExit its end; exit 75 and a signal-killed
// attempt are retried, as the job definition's retry strategy does.
func TestArrayHooks(t *testing.T) {
	var mu sync.Mutex
	var started []int
	var ended []string
	r := &ArrayRunner{Exe: "/bin/sh", Hooks: ArrayHooks{
		AttemptEnv: func(_ string, index, attempt int) []string {
			return []string{"HOOK_ENV=i" + strconv.Itoa(index) + "a" + strconv.Itoa(attempt)}
		},
		OnStart: func(a Attempt) {
			mu.Lock()
			started = append(started, a.Attempt)
			mu.Unlock()
			if a.Attempt == 2 { // a lost host: killed by a signal
				_ = a.Cmd.Process.Signal(syscall.SIGKILL)
			}
			if a.Attempts != 4 || a.Cmd.Process == nil {
				t.Errorf("attempt %+v", a)
			}
		},
		OnExit: func(a Attempt, st *os.ProcessState) {
			mu.Lock()
			defer mu.Unlock()
			if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				ended = append(ended, "signal")
				return
			}
			ended = append(ended, strconv.Itoa(st.ExitCode()))
		},
	}}
	// Attempt 1 exits 75; attempt 2 is killed; attempt 3 checks its
	// variable and succeeds.
	script := `case "$AWS_BATCH_JOB_ATTEMPT" in 1) exit 75;; 2) sleep 30;; esac; test "$HOOK_ENV" = i0a3`
	j, err := r.Submit(context.Background(), JobSpec{Name: "hooks", Command: []string{"-c", script}, Size: 1, Attempts: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := j.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := len(started), 3; got != want {
		t.Errorf("%d attempts started, want %d", got, want)
	}
	if want := []string{"75", "signal", "0"}; len(ended) != 3 || ended[0] != want[0] || ended[1] != want[1] || ended[2] != want[2] {
		t.Errorf("attempts ended %v, want %v", ended, want)
	}
}
