package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/s3err"
)

// S3API is the part of the S3 client the run store uses.
type S3API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Store reads and writes the objects of runs in the work bucket.
type Store struct {
	S3     S3API
	Bucket string
}

// ErrNotFound is returned when an object does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a conditional write lost (412) or raced (409).
var ErrConflict = errors.New("conditional write lost")

// IsNotFound reports whether err means the object (or key) does not
// exist: ErrNotFound from the Store, or any 404 from S3.
func IsNotFound(err error) bool {
	return errors.Is(err, ErrNotFound) || s3err.IsNotFound(err)
}

// IsConflict reports whether err is a lost precondition: ErrConflict from
// the Store, or S3's 412 PreconditionFailed (someone else's write won). A
// 409 ConditionalRequestConflict is not one: S3 says a concurrent write was
// in flight and the request should be retried (see IsRetryConflict).
func IsConflict(err error) bool {
	return errors.Is(err, ErrConflict) || s3err.IsPreconditionFailed(err)
}

// IsRetryConflict reports whether err is S3's 409 ConditionalRequestConflict:
// a conditional write raced another in flight; the same request is retried.
func IsRetryConflict(err error) bool { return s3err.IsRetryConflict(err) }

// bodyTries is how many times Get reads an object whose body breaks off
// after the headers (the SDK retries requests, not bodies).
const bodyTries = 4

// bodyReread waits a little longer before each read again.
var bodyReread = s3err.Reread{Tries: bodyTries, Wait: func(try int) time.Duration {
	return jitter(time.Duration(try) * 100 * time.Millisecond)
}}

// Get reads a whole object and its ETag.
func (s *Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	b, etag, _, err := s.getAt(ctx, key)
	return b, etag, err
}

// getAt is Get, and when S3 last wrote the object (by S3's clock).
func (s *Store) getAt(ctx context.Context, key string) ([]byte, string, time.Time, error) {
	var b []byte
	var etag string
	var mod time.Time
	err := bodyReread.Do(ctx, func() error {
		out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.Bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			if IsNotFound(err) {
				return fmt.Errorf("s3://%s/%s: %w", s.Bucket, key, ErrNotFound)
			}
			return fmt.Errorf("get s3://%s/%s: %w", s.Bucket, key, err)
		}
		defer out.Body.Close()
		etag, mod = aws.ToString(out.ETag), aws.ToTime(out.LastModified)
		b, err = s3err.ReadAll(out.Body, out.ContentLength)
		return err
	})
	if s3err.IsBody(err) {
		return nil, "", mod, fmt.Errorf("read s3://%s/%s: %w", s.Bucket, key, err)
	}
	if err != nil {
		return nil, "", mod, err
	}
	return b, etag, mod, nil
}

// GetJSON reads a JSON object into v and returns its ETag.
func (s *Store) GetJSON(ctx context.Context, key string, v any) (string, error) {
	b, etag, err := s.Get(ctx, key)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return "", fmt.Errorf("decode s3://%s/%s: %w", s.Bucket, key, err)
	}
	return etag, nil
}

// Cond is the precondition of a write.
type Cond struct {
	IfNoneMatch bool   // create only: fail if the object exists
	IfMatch     string // replace only the version with this ETag
}

// conflictTries is how many times Put sends a conditional write that S3
// answers with 409 ConditionalRequestConflict.
const conflictTries = 5

// Put writes body under key with an optional precondition and returns the
// new ETag. A lost precondition is ErrConflict.
//
// A conditional write is ambiguous when its answer is lost: the SDK sends
// it again and the second try fails its precondition against the first
// try's own write. So on 412 Put reads the object back: when it holds
// exactly body, the write was ours and Put succeeds. (Every conditional
// body imgbatch writes names its writer: owner, epoch, times.)
func (s *Store) Put(ctx context.Context, key string, body []byte, contentType string, c Cond) (string, error) {
	conditional := c.IfNoneMatch || c.IfMatch != ""
	var err error
	for try := 0; try < conflictTries; try++ {
		if try > 0 && !sleep(ctx, jitter(time.Duration(try)*50*time.Millisecond)) {
			break
		}
		in := &s3.PutObjectInput{
			Bucket:        &s.Bucket,
			Key:           &key,
			Body:          bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))),
			ContentType:   &contentType,
		}
		if c.IfNoneMatch {
			in.IfNoneMatch = aws.String("*")
		}
		if c.IfMatch != "" {
			in.IfMatch = aws.String(c.IfMatch)
		}
		var out *s3.PutObjectOutput
		out, err = s.S3.PutObject(ctx, in)
		if err == nil {
			return aws.ToString(out.ETag), nil
		}
		if conditional && IsRetryConflict(err) {
			continue
		}
		break
	}
	if conditional && IsConflict(err) {
		tag, ok, rerr := s.holds(ctx, key, body)
		switch {
		case rerr != nil:
			// Neither won nor lost for sure: a transient error, not a
			// conflict (a caller must not give up a lease over it).
			return "", fmt.Errorf("put s3://%s/%s: precondition failed, reading it back: %w", s.Bucket, key, rerr)
		case ok:
			return tag, nil
		}
		return "", fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, ErrConflict)
	}
	// gofakes3 and some S3-compatible stores answer If-Match on a
	// missing key with 404 instead of 412: it is the same lost race.
	if c.IfMatch != "" && IsNotFound(err) {
		return "", fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, ErrConflict)
	}
	return "", fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, err)
}

// holds reports whether the object at key is exactly body, and its ETag.
// A missing object does not hold it; a failed read is an error.
func (s *Store) holds(ctx context.Context, key string, body []byte) (string, bool, error) {
	cur, tag, err := s.Get(ctx, key)
	if IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return tag, bytes.Equal(cur, body), nil
}

// PutJSON writes v as JSON with an optional precondition.
func (s *Store) PutJSON(ctx context.Context, key string, v any, c Cond) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", key, err)
	}
	return s.Put(ctx, key, b, "application/json", c)
}

// Exists reports whether key exists.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.Bucket, Key: &key})
	if err == nil {
		return true, nil
	}
	if IsNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("head s3://%s/%s: %w", s.Bucket, key, err)
}

// List calls fn for every key under prefix, page by page.
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	return s.eachObject(ctx, prefix, func(o types.Object) error { return fn(aws.ToString(o.Key), aws.ToInt64(o.Size)) })
}

// ListPage lists one page of at most maxKeys keys under prefix that sort
// after startAfter ("" = from the start), calling fn for each with its
// last-modified time, and reports whether more keys follow.
func (s *Store) ListPage(ctx context.Context, prefix, startAfter string, maxKeys int32, fn func(key string, modified time.Time)) (bool, error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.Bucket, Prefix: &prefix, MaxKeys: aws.Int32(maxKeys)}
	if startAfter != "" {
		in.StartAfter = &startAfter
	}
	page, err := s.S3.ListObjectsV2(ctx, in)
	if err != nil {
		return false, fmt.Errorf("list s3://%s/%s: %w", s.Bucket, prefix, err)
	}
	for _, o := range page.Contents {
		fn(aws.ToString(o.Key), aws.ToTime(o.LastModified))
	}
	return aws.ToBool(page.IsTruncated), nil
}

// ListDetailed calls fn for every key under prefix with its last-modified time.
func (s *Store) ListDetailed(ctx context.Context, prefix string, fn func(key string, modified time.Time) error) error {
	return s.eachObject(ctx, prefix, func(o types.Object) error { return fn(aws.ToString(o.Key), aws.ToTime(o.LastModified)) })
}

// eachObject calls fn for every object under prefix, page by page.
func (s *Store) eachObject(ctx context.Context, prefix string, fn func(types.Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: &s.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// LoadDone reads the done marker of shard n of a run of layout 0 (tests;
// the run's code asks LoadDoneAt with the run's layout).
func (s *Store) LoadDone(ctx context.Context, runID string, n int) (*DoneMarker, error) {
	return s.LoadDoneAt(ctx, imgbatch.Layout{RunID: runID}, n)
}

// LoadDoneAt reads the done marker of shard n in layout lay.
func (s *Store) LoadDoneAt(ctx context.Context, lay imgbatch.Layout, n int) (*DoneMarker, error) {
	var m DoneMarker
	tag, err := s.GetJSON(ctx, lay.Done(n), &m)
	if err != nil {
		return nil, err
	}
	m.etag = tag
	return &m, nil
}

// markEventSent records in the done marker (its outbox) that the shard's
// event was accepted. Losing the race to another writer is harmless: the
// event may be sent once more, with the same id.
func (s *Store) markEventSent(ctx context.Context, lay imgbatch.Layout, m DoneMarker) {
	if m.etag == "" {
		return
	}
	m.EventSent = true
	_, _ = s.PutJSON(ctx, lay.Done(m.Shard), m, Cond{IfMatch: m.etag})
}

// PutFile uploads a file (multipart through the transfer manager when the
// client supports it, so reports of any size fit).
func (s *Store) PutFile(ctx context.Context, key string, f *os.File, contentType string) error {
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	if c, ok := s.S3.(manager.UploadAPIClient); ok {
		up := manager.NewUploader(c)
		_, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key, Body: f, ContentType: aws.String(contentType)})
		if err != nil {
			return fmt.Errorf("upload s3://%s/%s: %w", s.Bucket, key, err)
		}
		return nil
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = s.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key, Body: f, ContentLength: aws.Int64(st.Size()), ContentType: aws.String(contentType)})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, err)
	}
	return nil
}

// LoadRun reads run.json.
func (s *Store) LoadRun(ctx context.Context, runID string) (*imgbatch.Run, error) {
	run, _, err := s.loadRunAt(ctx, runID)
	return run, err
}

// loadRunAt is LoadRun that also gives S3's LastModified of run.json (one
// GET either way).
func (s *Store) loadRunAt(ctx context.Context, runID string) (*imgbatch.Run, time.Time, error) {
	key := imgbatch.Layout{RunID: runID}.Run()
	b, _, mod, err := s.getAt(ctx, key)
	if IsNotFound(err) {
		return nil, mod, fmt.Errorf("run %q not found in s3://%s (no run.json): %w", runID, s.Bucket, err)
	}
	if err != nil {
		return nil, mod, err
	}
	var run imgbatch.Run
	if err := json.Unmarshal(b, &run); err != nil {
		return nil, mod, fmt.Errorf("decode s3://%s/%s: %w", s.Bucket, key, err)
	}
	return &run, mod, nil
}

// LoadShard reads the items of shard n.
func (s *Store) LoadShard(ctx context.Context, runID string, n int) ([]imgbatch.Item, error) {
	b, _, err := s.Get(ctx, imgbatch.Layout{RunID: runID}.Shard(n))
	if err != nil {
		return nil, err
	}
	items, err := decodeLines[imgbatch.Item](b)
	if err != nil {
		return nil, fmt.Errorf("shard %d of run %s: %w", n, runID, err)
	}
	return items, nil
}

// ReadResults reads a JSON-lines results file.
func (s *Store) ReadResults(ctx context.Context, key string) ([]imgbatch.Result, error) {
	b, _, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	out, err := decodeLines[imgbatch.Result](b)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return out, nil
}

// decodeLines decodes the JSON values of a JSON-lines file, in order.
func decodeLines[T any](b []byte) ([]T, error) {
	var out []T
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var v T
		if err := dec.Decode(&v); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// IsRequested reports whether the run was started.
func (s *Store) IsRequested(ctx context.Context, runID string) (bool, error) {
	return s.Exists(ctx, imgbatch.Layout{RunID: runID}.Requested())
}

// MarkRequested records that the run was started (write-once: a second
// mark changes nothing).
func (s *Store) MarkRequested(ctx context.Context, r Requested) error {
	_, err := s.PutJSON(ctx, imgbatch.Layout{RunID: r.RunID}.Requested(), r, Cond{IfNoneMatch: true})
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}
