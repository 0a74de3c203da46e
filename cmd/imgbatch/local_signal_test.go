package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// localProc is `imgbatch local` running as its own process (this test
// binary as main), so that signals reach it the way a terminal sends them.
type localProc struct {
	cmd         *exec.Cmd
	tag         string // in every array child's environment
	out, errOut *testutil.SyncBuffer
	done        chan struct{}
	code        int
}

func startLocal(t *testing.T, args ...string) *localProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &localProc{tag: fmt.Sprintf("signals-%d-%d", os.Getpid(), time.Now().UnixNano()),
		out: &testutil.SyncBuffer{}, errOut: &testutil.SyncBuffer{}, done: make(chan struct{})}
	args = append([]string{"--log-level", "warn", "local", "--child-env", "IMGBATCH_TEST_TAG=" + p.tag}, args...)
	p.cmd = exec.Command(exe, args...)
	p.cmd.Env = append(os.Environ(), "IMGBATCH_BE_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -2
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		for _, pid := range p.children() { // never leave a child behind
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return p
}

// wait waits up to limit for the process to exit and returns its code.
func (p *localProc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(limit):
		t.Fatalf("imgbatch local still running %s after the signal\nstdout:\n%s\nstderr:\n%s", limit, p.out.String(), p.errOut.String())
		return 0
	}
}

// children are the pids of the live processes with p's tag in their
// environment (the array children and their helpers).
func (p *localProc) children() []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(env, []byte("IMGBATCH_TEST_TAG="+p.tag+"\x00")) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join(d, "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
			continue // a zombie is dead already
		}
		var pid int
		fmt.Sscanf(filepath.Base(d), "%d", &pid)
		pids = append(pids, pid)
	}
	return pids
}

// signalDataset is a run long enough to be interrupted: many copies of
// one photo, one image goroutine per child.
func signalDataset(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	b := testutil.PhotoFile(t, 1600, 1200, false)
	for i := range n {
		testutil.WriteFile(t, filepath.Join(dir, fmt.Sprintf("p%03d.jpg", i)), b)
	}
	return dir
}

func localRunArgs(images, dir string) []string {
	return []string{"--dir", dir, "--images", images, "--width", "2", "--shard-size", "5",
		"--child-env", "IMGBATCH_PROCESSORS=1", "--variant", "big:1400x:webp:90", "--variant", "mid:800x:png", "--timeout", "5m"}
}

// TestLocalStopsOnSignals: Ctrl-C (SIGINT) or SIGTERM stops `imgbatch
// local` mid-run with its array children (none left running), exits
// 130/143 and says where the data is and how to resume; a second Ctrl-C
// kills the children at once; with --serve, the signal after the run is
// the normal end (the run's own exit code) and the embedded S3 goes away.
func TestLocalStopsOnSignals(t *testing.T) {
	testutil.Long(t, "runs imgbatch local three times with array children")
	images := signalDataset(t, 120)
	midRun := func(t *testing.T, p *localProc, dir string) {
		t.Helper()
		testutil.Eventually(t, 3*time.Minute, "array children at work", func() bool {
			outs, _ := filepath.Glob(filepath.Join(dir, "s3", "buckets", "output", "big", "*"))
			return len(outs) > 0 && len(p.children()) > 0
		})
	}
	for _, tc := range []struct {
		name    string
		signals []syscall.Signal
		code    int
	}{
		{"SIGTERM", []syscall.Signal{syscall.SIGTERM}, 143},
		{"SIGINT twice", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := startLocal(t, localRunArgs(images, dir)...)
			midRun(t, p, dir)
			for _, s := range tc.signals {
				if err := p.cmd.Process.Signal(s); err != nil {
					t.Fatal(err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			// Generous: the children get 5 s between SIGTERM and SIGKILL.
			if code := p.wait(t, time.Minute); code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, p.out.String(), p.errOut.String())
			}
			if left := p.children(); len(left) > 0 {
				t.Errorf("array children still running after local exited: %v", left)
			}
			msg := p.errOut.String()
			t.Logf("stderr:\n%s", msg)
			for _, want := range []string{"interrupted by " + strings.Fields(tc.name)[0], dir, "run the same command again"} {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr lacks %q:\n%s", want, msg)
				}
			}
			if strings.Contains(p.out.String(), "Run Completed") {
				t.Errorf("the run completed before the signal: nothing was interrupted\n%s", p.out.String())
			}
		})
	}
	t.Run("serve", func(t *testing.T) {
		dir := t.TempDir()
		small := signalDataset(t, 4)
		p := startLocal(t, "--dir", dir, "--images", small, "--width", "1", "--serve", "--variant", "t:64x64:jpeg")
		testutil.Eventually(t, 3*time.Minute, "serving", func() bool { return strings.Contains(p.out.String(), "serving until interrupted") })
		url := regexp.MustCompile(`S3 (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(p.out.String())
		if url == nil {
			t.Fatalf("no S3 URL in:\n%s", p.out.String())
		}
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, time.Minute); code != 0 {
			t.Fatalf("--serve after a completed run: exit %d on Ctrl-C, want the run's 0\nstderr:\n%s", code, p.errOut.String())
		}
		if resp, err := http.Get(url[1] + "/output"); err == nil {
			resp.Body.Close()
			t.Errorf("the embedded S3 %s still answers after local exited", url[1])
		}
	})
}
