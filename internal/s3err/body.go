package s3err

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// BodyError is a response body that broke off after the headers arrived:
// the read failed, or the body ended before its Content-Length. The SDK
// retries requests, not bodies, so the caller reads the object again (see
// Reread).
type BodyError struct {
	Read int64 // bytes read before it broke
	Want int64 // the Content-Length, -1 when unknown
	Err  error // the read's error; nil when the body just ended early
}

func (e *BodyError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("body cut at %d of %d bytes", e.Read, e.Want)
}

// Unwrap is the read's error, or io.ErrUnexpectedEOF for an early end.
func (e *BodyError) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return io.ErrUnexpectedEOF
}

// IsBody reports whether err is (or wraps) a *BodyError.
func IsBody(err error) bool {
	var be *BodyError
	return errors.As(err, &be)
}

// ReadAll reads a whole response body and checks it against its
// Content-Length (nil = unknown): a body that breaks off or ends early is
// a *BodyError.
func ReadAll(body io.Reader, contentLength *int64) ([]byte, error) {
	want := int64(-1)
	if contentLength != nil {
		want = *contentLength
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return b, &BodyError{Read: int64(len(b)), Want: want, Err: err}
	}
	if want >= 0 && int64(len(b)) != want {
		return b, &BodyError{Read: int64(len(b)), Want: want}
	}
	return b, nil
}

// Reread is the policy for bodies that break off: how many reads in all,
// and how long to wait before read try (1-based: Wait(1) comes before the
// second read). Each caller keeps its own numbers (they were tuned per
// use: see the callers); the loop and its messages are written once here.
type Reread struct {
	Tries int
	Wait  func(try int) time.Duration
}

// Pause waits before read try unless ctx ends first (then ctx.Err()).
func (p Reread) Pause(ctx context.Context, try int) error {
	t := time.NewTimer(p.Wait(try))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Do calls read until it returns nil or an error that is not a
// *BodyError, at most Tries times, pausing between reads. An error of
// read other than a *BodyError is returned as it is; so is a *BodyError
// once ctx has ended. After Tries broken bodies the error says so, and
// when ctx ends during a pause it says what broke before.
func (p Reread) Do(ctx context.Context, read func() error) error {
	var last error
	for try := 0; try < p.Tries; try++ {
		if try > 0 {
			if err := p.Pause(ctx, try); err != nil {
				return fmt.Errorf("%w (after %w)", err, last)
			}
		}
		err := read()
		if err == nil || !IsBody(err) || ctx.Err() != nil {
			return err
		}
		last = err
	}
	return fmt.Errorf("%d tries: %w", p.Tries, last)
}
