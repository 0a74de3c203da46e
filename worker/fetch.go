package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/semaphore"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/s3err"
)

// errSkip marks an item whose outputs are already current.
var errSkip = errors.New("outputs are current")

// bodyAttempts is how often a GET is repeated when its body breaks off
// (connection reset or truncated mid-stream): the SDK retries failed
// requests, but not a body that fails after the response headers arrived.
// Five: with 3, the long chaos run (1,240 items, ~10 % of source reads
// broken) failed one item in three runs as S3Error.
const bodyAttempts = 5

// fetch checks what can be checked without the bytes (the manifest's
// size, current outputs), then downloads the source into
// memory, holding its size in the in-flight semaphore (j.held). It returns
// errSkip when every output is current.
func (w *Worker) fetch(ctx context.Context, run *imgbatch.Run, j *job, mem *semaphore.Weighted) error {
	it := j.task.Item
	if it.Size > w.cfg.MaxSourceBytes {
		return itemErr(CodeTooLarge, http.StatusBadRequest, "source is %d bytes (manifest), over the %d-byte cap (--max-source-bytes)", it.Size, w.cfg.MaxSourceBytes)
	}
	if w.cfg.Incremental {
		current, err := w.outputsCurrent(ctx, run, j)
		if err != nil {
			return err
		}
		if current {
			return errSkip
		}
	}
	// Exponential backoff with full jitter: 0-200 ms, 0-400 ms, …
	reread := s3err.Reread{Tries: bodyAttempts, Wait: func(try int) time.Duration {
		return time.Duration(rand.Int64N(int64(100*time.Millisecond) << try))
	}}
	err := reread.Do(ctx, func() error { return w.get(ctx, run, j, mem) })
	var be *s3err.BodyError
	switch {
	case errors.As(err, &be) && ctx.Err() != nil:
		return ctx.Err() // stopped while waiting to read again
	case errors.As(err, &be):
		return itemErr(CodeS3, http.StatusServiceUnavailable, "get %s: %d attempts: %s", it, bodyAttempts, oneLine(be))
	}
	return err
}

// get is one GET of the source.
func (w *Worker) get(ctx context.Context, run *imgbatch.Run, j *job, mem *semaphore.Weighted) error {
	it := j.task.Item
	what := "get " + it.String()
	octx, cancel := context.WithTimeout(ctx, w.cfg.S3Timeout)
	defer cancel()
	// ChecksumMode: where S3 stored a full-object checksum, the SDK checks
	// the body against it (the length check below catches a short body
	// either way).
	src := sourceAccess(run)
	in := &s3.GetObjectInput{Bucket: aws.String(it.Bucket), Key: aws.String(it.Key), ChecksumMode: types.ChecksumModeEnabled,
		ExpectedBucketOwner: src.owner, RequestPayer: src.payer}
	if it.VersionID != "" {
		in.VersionId = aws.String(it.VersionID)
	}
	out, err := w.s3.GetObject(octx, in)
	if err != nil {
		return ownerHint(w.s3Err(ctx, err, what, false), run.Access.SourceOwner, "--source-bucket-owner")
	}
	defer out.Body.Close()
	j.etag = aws.ToString(out.ETag)
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	j.size = max(size, 0)
	if size > w.cfg.MaxSourceBytes {
		return itemErr(CodeTooLarge, http.StatusBadRequest, "source is %d bytes, over the %d-byte cap (--max-source-bytes)", size, w.cfg.MaxSourceBytes)
	}
	if size == 0 {
		return itemErr(CodeEmpty, http.StatusBadRequest, "source object is empty (0 bytes)")
	}
	hold := size
	if hold < 0 {
		hold = w.cfg.MaxSourceBytes // unknown length: assume the worst
	}
	// A source larger than the whole budget takes all of it (and waits
	// until nothing else is held) rather than never fitting.
	hold = min(hold, w.cfg.MaxInFlightBytes)
	if j.held != hold {
		if j.held > 0 {
			mem.Release(j.held)
			j.held = 0
		}
		if err := mem.Acquire(ctx, hold); err != nil {
			return err
		}
		j.held = hold
	}
	var data []byte
	if size > 0 {
		data = make([]byte, size)
		if n, err := io.ReadFull(out.Body, data); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &s3err.BodyError{Read: int64(n), Want: size, Err: fmt.Errorf("%s: reading body: %w", what, err)}
		}
	} else {
		data, err = io.ReadAll(io.LimitReader(out.Body, w.cfg.MaxSourceBytes+1))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &s3err.BodyError{Read: int64(len(data)), Want: size, Err: fmt.Errorf("%s: reading body: %w", what, err)}
		}
		if int64(len(data)) > w.cfg.MaxSourceBytes {
			return itemErr(CodeTooLarge, http.StatusBadRequest, "source is over the %d-byte cap (--max-source-bytes)", w.cfg.MaxSourceBytes)
		}
		if len(data) == 0 {
			return itemErr(CodeEmpty, http.StatusBadRequest, "source object is empty (0 bytes)")
		}
	}
	j.data = data
	j.size = int64(len(data))
	return nil
}

// s3Err classifies an S3 error; when the pipeline itself is shutting down
// the error is ctx's (no result: the checkpoint resumes the item).
func (w *Worker) s3Err(ctx context.Context, err error, what string, output bool) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return classifyS3(err, what, output)
}
