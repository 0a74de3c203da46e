package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
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
	if _, err := s.cl.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func (s *workStack) exists(bucket, key string) bool {
	_, err := s.cl.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	return err == nil
}

// count is the number of objects under prefix.
func (s *workStack) count(t *testing.T, bucket, prefix string) int {
	t.Helper()
	n := 0
	p := s3.NewListObjectsV2Paginator(s.cl.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Contents)
	}
	return n
}

// child is one `imgbatch work` attempt: this test binary standing in for
// the imgbatch binary (TestMain, IMGBATCH_BE_MAIN=1), with the variables
// AWS Batch sets for array child 0 of job "job-under-test".
type child struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	code int // exit code, -1 when killed by a signal
}

func startChild(t *testing.T, env []string, attempt int, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{out: &syncBuffer{}, done: make(chan struct{})}
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

// textured makes a photo-like JPEG whose pixels depend on seed.
func textured(t *testing.T, w, h, seed int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8((x*seed + y*7) ^ (x * y >> 6))
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), v, uint8(y * 255 / h), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// itemSource is a manifest.Reader over a slice.
type itemSource struct {
	items []imgbatch.Item
	i     int
}

func (s *itemSource) Next() (imgbatch.Item, error) {
	if s.i >= len(s.items) {
		return imgbatch.Item{}, io.EOF
	}
	s.i++
	return s.items[s.i-1], nil
}
