// Package versitygw starts a versitygw server (github.com/versity/versitygw,
// a complete S3 gateway) for tests: a second S3 implementation beside the
// embedded gofakes3 of localstack, which the chaos suite runs behind the
// s3fault proxy. The product never starts it; scripts/versitygw.sh installs
// the binary.
package versitygw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Gateway is a versitygw process serving S3 on 127.0.0.1 with its posix
// backend: a second S3 implementation, independent of gofakes3, for
// integration tests. Buckets are directories under Dir; object metadata lives in extended
// attributes. Note that the posix backend maps keys to file paths: it
// cleans them ("a/../b" is stored as "b", "//" as "/"), so keys that are not
// clean paths need the in-memory gofakes3 (localstack.StartS3("")).
type Gateway struct {
	URL       string // http://127.0.0.1:<port>
	Dir       string // the posix backend's root (one directory per bucket)
	AccessKey string // the root user's credentials
	SecretKey string

	cmd  *exec.Cmd
	log  bytes.Buffer // what versitygw printed (for errors)
	mu   sync.Mutex
	done chan struct{}
}

// Start starts the versitygw binary bin on a free loopback port with the
// posix backend in dir (created if missing) and the given root credentials,
// waits until it answers, and creates buckets with the SDK. Close stops it.
func Start(ctx context.Context, bin, dir, accessKey, secretKey string, buckets ...string) (*Gateway, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("versitygw data dir: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for try := 0; try < 3; try++ { // a free port can be taken between probe and bind
		g, err := start(ctx, bin, abs, accessKey, secretKey)
		if err != nil {
			lastErr = err
			continue
		}
		if err := g.createBuckets(ctx, buckets); err != nil {
			g.Close()
			return nil, err
		}
		return g, nil
	}
	return nil, lastErr
}

func start(ctx context.Context, bin, dir, accessKey, secretKey string) (*Gateway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	g := &Gateway{URL: "http://" + addr, Dir: dir, AccessKey: accessKey, SecretKey: secretKey, done: make(chan struct{})}
	// Loopback only; keep-alive so the SDK reuses connections; no request log.
	g.cmd = exec.Command(bin, "--port", addr, "--keep-alive", "--quiet", "posix", dir)
	// Credentials through the environment, not the command line (ps shows that).
	g.cmd.Env = append(minimalEnv(), "ROOT_ACCESS_KEY_ID="+accessKey, "ROOT_SECRET_ACCESS_KEY="+secretKey)
	g.cmd.Stdout, g.cmd.Stderr = &lockedWriter{mu: &g.mu, w: &g.log}, &lockedWriter{mu: &g.mu, w: &g.log}
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start versitygw %s: %w", bin, err)
	}
	go func() { _ = g.cmd.Wait(); close(g.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return g, nil
		}
		select {
		case <-g.done:
			return nil, fmt.Errorf("versitygw exited at start: %s", g.output())
		case <-ctx.Done():
			g.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.Close()
			return nil, fmt.Errorf("versitygw did not listen on %s within 20s: %s", addr, g.output())
		}
	}
}

// minimalEnv is the environment versitygw gets: no AWS variables of ours.
func minimalEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Client is an SDK S3 client for the gateway (path-style, its credentials).
func (g *Gateway) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(g.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(g.AccessKey, g.SecretKey, ""),
	})
}

func (g *Gateway) createBuckets(ctx context.Context, buckets []string) error {
	c := g.Client()
	for _, b := range buckets {
		var err error
		for try := 0; try < 20; try++ { // the listener may be up before the gateway serves
			_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)})
			if err == nil || isBucketOwned(err) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("versitygw: create bucket %s: %w (%s)", b, err, g.output())
		}
	}
	return nil
}

func isBucketOwned(err error) bool {
	var owned interface{ ErrorCode() string }
	if errors.As(err, &owned) {
		switch owned.ErrorCode() {
		case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
			return true
		}
	}
	return false
}

func (g *Gateway) output() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.log.Bytes()
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Close stops the gateway (SIGTERM, then SIGKILL after 5 s).
func (g *Gateway) Close() error {
	if g.cmd == nil || g.cmd.Process == nil {
		return nil
	}
	select {
	case <-g.done:
		return nil
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
	return nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
