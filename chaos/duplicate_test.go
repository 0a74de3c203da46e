package chaos

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/s3fault"
)

// TestDuplicateChildren runs two processes as the same array child at
// once: an exact copy (same index and attempt: the same lease owner, as a
// double submission would make), and a copy as the next attempt while the
// first still runs (a host Batch gave up on that is still alive: the newer
// attempt takes the older one's leases over at once). No result is
// written twice, none is lost, the outputs are those of a clean run.
func TestDuplicateChildren(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	for _, tc := range []struct {
		name string
		id   string
		env  []string
	}{
		{"same-attempt", "i0a1-copy", nil},
		{"next-attempt", "i0a2-early", []string{"AWS_BATCH_JOB_ATTEMPT=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var once sync.Once
			res := run(t, runSpec{backend: memS3, data: ds, width: 2,
				onStart: func(h *harness, a localAttempt) {
					if a.Index == 0 && a.Attempt == 1 {
						once.Do(func() { h.startCopy(a, tc.id, tc.env...) })
					}
				}})
			check(t, res, ref)
			copies := 0
			for _, a := range res.attempts {
				if a.extra {
					copies++
					if a.exitCode != 0 && a.exitCode != 75 {
						t.Errorf("the copy %s exited %d", a.appID, a.exitCode)
					}
				}
			}
			if copies != 1 {
				t.Errorf("%d copies ran, want 1", copies)
			}
		})
	}
}

// TestPausedPastItsLease SIGSTOPs a child in the middle of its first
// upload, keeps it stopped for more than two lease periods (others steal
// its shard), then SIGCONTs it: the zombie must not publish over the
// stealer's results, and nothing may be lost or doubled.
func TestPausedPastItsLease(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	const lease = 3 * time.Second
	for _, phase := range []string{"upload", "results"} {
		t.Run(phase, func(t *testing.T) {
			var once sync.Once
			var paused, resumed sync.WaitGroup
			paused.Add(1)
			resumed.Add(1)
			pause := func(h *harness, r *s3fault.Request) {
				if r.AppID != "i0a1" || !phases[phase].match(r) {
					return
				}
				once.Do(func() {
					h.t.Logf("pausing i0a1 at %s %s s3://%s/%s", r.Kind, phase, r.Bucket, r.Key)
					if !h.signal("i0a1", syscall.SIGSTOP, "stop@phase:"+phase) {
						paused.Done()
						resumed.Done()
						return
					}
					// Hold the request until the kernel has stopped the child,
					// so that it cannot act on the answer first.
					if !waitStopped(h.pid("i0a1"), 2*time.Second) {
						t.Errorf("child i0a1 did not stop within 2s of SIGSTOP")
					}
					paused.Done()
					go func() {
						defer resumed.Done()
						time.Sleep(2*lease + time.Second)
						h.signal("i0a1", syscall.SIGCONT, "cont")
					}()
				})
			}
			res := run(t, runSpec{backend: memS3, data: ds, width: 2, before: pause})
			resumed.Wait()
			check(t, res, ref)
			var a0 *attemptRecord
			for i := range res.attempts {
				if res.attempts[i].appID == "i0a1" {
					a0 = &res.attempts[i]
				}
			}
			if a0 == nil || !strings.Contains(a0.disturbance, "stop@") || !strings.Contains(a0.disturbance, "cont") {
				t.Fatalf("child i0a1 was not paused and resumed: %+v", a0)
			}
			t.Logf("paused child: exit %d (%s)", a0.exitCode, a0.disturbance)
			stolen := 0
			for _, m := range res.done {
				if m.Epoch > 1 {
					stolen++
				}
			}
			if stolen == 0 {
				t.Errorf("no shard was finished under a later epoch: the pause did not outlast the lease (%s)", fmt.Sprint(lease))
			}
		})
	}
}

// waitStopped waits until /proc/<pid>/status says the process is stopped.
func waitStopped(pid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return false
		}
		if strings.Contains(string(b), "State:\tT") {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}
