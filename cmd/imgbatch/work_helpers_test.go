package main

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/localstack"
)

// workStack is an in-process S3 (buckets source, work, output) and the
// environment that points this process's and the children's SDK clients
// at it.
type workStack struct {
	env []string
	cl  *clients
}

func newWorkStack(t *testing.T) *workStack {
	t.Helper()
	srv, err := localstack.StartS3("", "source", "work", "output")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	// Nothing is sent to EventBridge: --event-bus "".
	env, cl := setLocalAWSEnv(t, srv.URL, "http://127.0.0.1:1", "IMGBATCH_EVENT_BUS=", "IMGBATCH_LOG_FORMAT=json")
	return &workStack{env: env, cl: cl}
}

func (s *workStack) put(t *testing.T, bucket, key string, body []byte) {
	t.Helper()
	s3test.Put(t, s.cl.s3, bucket, key, body)
}

func (s *workStack) exists(bucket, key string) bool { return s3test.Exists(s.cl.s3, bucket, key) }

// count is the number of objects under prefix.
func (s *workStack) count(t *testing.T, bucket, prefix string) int {
	t.Helper()
	return s3test.Count(t, s.cl.s3, bucket, prefix)
}

// child is one `imgbatch work` attempt: this test binary standing in for
// the imgbatch binary (TestMain, IMGBATCH_BE_MAIN=1), with the variables
// AWS Batch sets for array child 0 of job "job-under-test".
type child struct {
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
	code int // exit code, -1 when killed by a signal
}

func startChild(t *testing.T, env []string, attempt int, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(exe, append([]string{"--log-level", "info", "work"}, args...)...)
	c.cmd.Env = append(append(os.Environ(), env...),
		"IMGBATCH_BE_MAIN=1",
		"AWS_BATCH_JOB_ID=job-under-test:0",
		"AWS_BATCH_JOB_ARRAY_INDEX=0",
		"AWS_BATCH_JOB_ARRAY_SIZE=1",
		"AWS_BATCH_JOB_ATTEMPT="+strconv.Itoa(attempt),
	)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		err := c.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				c.code = -1
			} else {
				c.code = ee.ExitCode()
			}
		default:
			c.code = -2
		}
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// wait waits for the child to end, killing it (and failing the test)
// after limit.
func (c *child) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
		return c.code
	case <-time.After(limit):
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Fatalf("child did not end within %s; its log:\n%s", limit, c.out.String())
		return 0
	}
}
