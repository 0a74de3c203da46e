// Package batch is the run side of imgbatch: it turns a manifest into a plan
// of shards in the work bucket, lets array children claim shards with leases
// built on S3 conditional writes, checkpoints progress, and finalizes the run
// exactly once (report.csv, failed.csv, summary.json). There is no database:
// S3 is the only state.
package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
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

// IsNotFound reports whether err means the object (or key) does not exist.
func IsNotFound(err error) bool {
	if errors.Is(err, ErrNotFound) {
		return true
	}
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var nf *types.NotFound
	if errors.As(err, &nf) {
		return true
	}
	return httpStatus(err) == http.StatusNotFound
}

// IsConflict reports whether err is a lost conditional write: 412
// PreconditionFailed (someone else won) or 409 ConditionalRequestConflict
// (a concurrent write is in flight: re-read and try again).
func IsConflict(err error) bool {
	if errors.Is(err, ErrConflict) {
		return true
	}
	s := httpStatus(err)
	if s == http.StatusPreconditionFailed || s == http.StatusConflict {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	return false
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Get reads a whole object and its ETag.
func (s *Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.Bucket, Key: &key})
	if err != nil {
		if IsNotFound(err) {
			return nil, "", fmt.Errorf("s3://%s/%s: %w", s.Bucket, key, ErrNotFound)
		}
		return nil, "", fmt.Errorf("get s3://%s/%s: %w", s.Bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("read s3://%s/%s: %w", s.Bucket, key, err)
	}
	return b, aws.ToString(out.ETag), nil
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

// Put writes body under key with an optional precondition and returns the
// new ETag. A lost precondition is ErrConflict.
func (s *Store) Put(ctx context.Context, key string, body []byte, contentType string, c Cond) (string, error) {
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
	out, err := s.S3.PutObject(ctx, in)
	if err != nil {
		if (c.IfNoneMatch || c.IfMatch != "") && IsConflict(err) {
			return "", fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, ErrConflict)
		}
		// gofakes3 and some S3-compatible stores answer If-Match on a
		// missing key with 404 instead of 412: it is the same lost race.
		if c.IfMatch != "" && IsNotFound(err) {
			return "", fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, ErrConflict)
		}
		return "", fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, err)
	}
	return aws.ToString(out.ETag), nil
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
	p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: &s.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(aws.ToString(o.Key), aws.ToInt64(o.Size)); err != nil {
				return err
			}
		}
	}
	return nil
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
	p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: &s.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(aws.ToString(o.Key), aws.ToTime(o.LastModified)); err != nil {
				return err
			}
		}
	}
	return nil
}
