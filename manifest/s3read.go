package manifest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch/internal/s3err"
)

// s3Object streams an object and, when the connection breaks mid-way (a
// multi-GB manifest takes a while to read), resumes from the byte it reached
// with a ranged GET pinned to the object's ETag.
type s3Object struct {
	ctx         context.Context
	client      S3API
	bucket, key string
	etag        string
	size        int64 // -1 if unknown
	off         int64
	body        io.ReadCloser
	retries     int
}

const maxResumes = 5

var resumeBackoff = 200 * time.Millisecond

// reread is the policy of resumes: the first read and maxResumes more,
// each after a longer wait.
var reread = s3err.Reread{Tries: maxResumes + 1, Wait: func(try int) time.Duration {
	return resumeBackoff * time.Duration(try)
}}

func openS3Object(ctx context.Context, client S3API, bucket, key string) (*s3Object, error) {
	o := &s3Object{ctx: ctx, client: client, bucket: bucket, key: key, size: -1}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	o.body = out.Body
	o.etag = aws.ToString(out.ETag)
	if out.ContentLength != nil {
		o.size = *out.ContentLength
	}
	return o, nil
}

func (o *s3Object) Read(p []byte) (int, error) {
	for {
		if o.body == nil {
			return 0, errors.New("read after close")
		}
		n, err := o.body.Read(p)
		o.off += int64(n)
		if err == nil || err == io.EOF && (o.size < 0 || o.off >= o.size) {
			return n, err
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if rerr := o.resume(&s3err.BodyError{Read: o.off, Want: o.size, Err: err}); rerr != nil {
			return n, rerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

// resume reopens the object at o.off after err.
func (o *s3Object) resume(cause error) error {
	if o.ctx.Err() != nil || o.retries >= maxResumes {
		return fmt.Errorf("reading s3://%s/%s at byte %d: %w", o.bucket, o.key, o.off, cause)
	}
	o.retries++
	o.body.Close()
	o.body = io.NopCloser(errReader{cause})
	if err := reread.Pause(o.ctx, o.retries); err != nil {
		return err
	}
	in := &s3.GetObjectInput{Bucket: &o.bucket, Key: &o.key, Range: aws.String(fmt.Sprintf("bytes=%d-", o.off))}
	if o.etag != "" {
		in.IfMatch = aws.String(o.etag)
	}
	out, err := o.client.GetObject(o.ctx, in)
	if err != nil {
		return fmt.Errorf("resuming s3://%s/%s at byte %d after %v: %w", o.bucket, o.key, o.off, cause, err)
	}
	if e := aws.ToString(out.ETag); o.etag != "" && e != "" && e != o.etag {
		out.Body.Close()
		return fmt.Errorf("s3://%s/%s changed while being read (ETag %s, was %s)", o.bucket, o.key, e, o.etag)
	}
	if o.off > 0 && out.ContentRange == nil {
		out.Body.Close()
		return fmt.Errorf("resuming s3://%s/%s at byte %d: the server ignored the Range", o.bucket, o.key, o.off)
	}
	o.body = out.Body
	return nil
}

func (o *s3Object) Close() error {
	if o.body == nil {
		return nil
	}
	err := o.body.Close()
	o.body = nil
	return err
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
