package s3err

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/imgbatch/imgbatch/s3fault"
)

// client is the real SDK client on gofakes3 (bucket "b" exists) behind the
// fault proxy; fault, when set, is the fault of every request.
func client(t *testing.T, fault *atomic.Value) *s3.Client {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("b"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	px, err := s3fault.Start(s3fault.Config{Target: srv.URL, Before: func(r *s3fault.Request) {
		r.Fault = s3fault.None
		if f, ok := fault.Load().(s3fault.Fault); ok {
			r.Fault = f
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = px.Close() })
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(px.URL), UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider("x", "x", ""),
		RetryMaxAttempts: 1,
	})
}

// TestRoundTrip classifies the answers of a real SDK client to real
// requests: the predicates must hold for what S3 (here gofakes3 and the
// fault proxy) sends, not just for hand-made error values.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	var fault atomic.Value
	c := client(t, &fault)
	put := func(key string, in *s3.PutObjectInput) error {
		in.Bucket, in.Key, in.Body = aws.String("b"), aws.String(key), strings.NewReader("x")
		_, err := c.PutObject(ctx, in)
		return err
	}
	if err := put("k", &s3.PutObjectInput{}); err != nil {
		t.Fatal(err)
	}
	_, getMissing := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("missing")})
	_, headMissing := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("missing")})
	_, noBucket := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k")})
	lost := put("k", &s3.PutObjectInput{IfNoneMatch: aws.String("*")})
	fault.Store(s3fault.Conflict)
	raced := put("k2", &s3.PutObjectInput{IfNoneMatch: aws.String("*")})
	fault.Store(s3fault.InternalError)
	_, internal := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})

	for _, c := range []struct {
		name                                string
		err                                 error
		noSuchKey, notFound, lost, conflict bool
		status                              int
	}{
		{"GET of a missing key", getMissing, true, true, false, false, 404},
		{"HEAD of a missing key", headMissing, true, true, false, false, 404},
		{"GET in a missing bucket", noBucket, false, true, false, false, 404},
		{"If-None-Match on an existing key", lost, false, false, true, false, 412},
		{"409 ConditionalRequestConflict", raced, false, false, false, true, 409},
		{"500 InternalError", internal, false, false, false, false, 500},
		{"no error", nil, false, false, false, false, 0},
	} {
		if (c.err != nil) != (c.status != 0) {
			t.Fatalf("%s: err %v", c.name, c.err)
		}
		if got := IsNoSuchKey(c.err); got != c.noSuchKey {
			t.Errorf("%s: IsNoSuchKey = %v (%v)", c.name, got, c.err)
		}
		if got := IsNotFound(c.err); got != c.notFound {
			t.Errorf("%s: IsNotFound = %v (%v)", c.name, got, c.err)
		}
		if got := IsPreconditionFailed(c.err); got != c.lost {
			t.Errorf("%s: IsPreconditionFailed = %v (%v)", c.name, got, c.err)
		}
		if got := IsRetryConflict(c.err); got != c.conflict {
			t.Errorf("%s: IsRetryConflict = %v (%v)", c.name, got, c.err)
		}
		if got := Status(c.err); got != c.status {
			t.Errorf("%s: Status = %d (%v)", c.name, got, c.err)
		}
	}
	if got := Code(raced); got != "ConditionalRequestConflict" {
		t.Errorf("Code of a 409 = %q", got)
	}
}

// A body the proxy cuts short under its full Content-Length is a
// *BodyError; a whole one is not.
func TestReadAllCutBody(t *testing.T) {
	ctx := context.Background()
	var fault atomic.Value
	c := client(t, &fault)
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	get := func() ([]byte, error) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return ReadAll(out.Body, out.ContentLength)
	}
	if b, err := get(); err != nil || !bytes.Equal(b, body) {
		t.Fatalf("whole body: %d bytes, %v", len(b), err)
	}
	fault.Store(s3fault.Truncate)
	b, err := get()
	var be *BodyError
	if !errors.As(err, &be) || be.Read != int64(len(b)) || be.Want != int64(len(body)) || !IsBody(err) {
		t.Fatalf("cut body: %d bytes, %#v", len(b), err)
	}
}

func TestReadAllEarlyEnd(t *testing.T) {
	want := int64(10)
	_, err := ReadAll(strings.NewReader("12345"), &want)
	if !errors.Is(err, io.ErrUnexpectedEOF) || err.Error() != "body cut at 5 of 10 bytes" {
		t.Fatalf("early end: %v", err)
	}
	if b, err := ReadAll(strings.NewReader("12345"), nil); err != nil || string(b) != "12345" {
		t.Fatalf("unknown length: %q %v", b, err)
	}
}

func TestRereadDo(t *testing.T) {
	ctx := context.Background()
	p := Reread{Tries: 3, Wait: func(int) time.Duration { return time.Millisecond }}
	broken := &BodyError{Read: 1, Want: 2}
	calls := 0
	err := p.Do(ctx, func() error {
		if calls++; calls < 3 {
			return broken
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("two broken reads then a whole one: %v after %d calls", err, calls)
	}
	calls = 0
	err = p.Do(ctx, func() error { calls++; return broken })
	if !errors.Is(err, broken) || calls != 3 || err.Error() != "3 tries: body cut at 1 of 2 bytes" {
		t.Fatalf("every read broken: %v after %d calls", err, calls)
	}
	other := errors.New("access denied")
	calls = 0
	if err := p.Do(ctx, func() error { calls++; return other }); err != other || calls != 1 {
		t.Fatalf("another error: %v after %d calls, want it returned at once", err, calls)
	}
	// A body that broke as the context ended is not read again.
	cctx, cancel := context.WithCancel(ctx)
	calls = 0
	err = p.Do(cctx, func() error { calls++; cancel(); return broken })
	if calls != 1 || err != broken {
		t.Fatalf("broken as ctx ended: %v after %d calls, want the body error at once", err, calls)
	}
	// The context ends during a pause: the error says what broke before.
	cctx, cancel = context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	calls = 0
	err = Reread{Tries: 3, Wait: func(int) time.Duration { return time.Hour }}.Do(cctx, func() error { calls++; return broken })
	if calls != 1 || !errors.Is(err, broken) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx ended during a pause: %v after %d calls", err, calls)
	}
}
