// Package s3region sends each S3 request to its bucket's region. One client
// is made for the process's region; a bucket elsewhere answers its first
// request with 301 PermanentRedirect (or 400 AuthorizationHeaderMalformed,
// or 307) carrying x-amz-bucket-region. The Router then remembers that
// bucket's region and repeats the request signed for it, and every later
// request on the bucket goes there at once.
//
// Learning the region from the refusal costs nothing for the buckets of the
// client's own region (the usual case, and the only one on the local stack,
// whose single endpoint never redirects), where asking first
// (manager.GetBucketRegion, HeadBucket) would cost a request per bucket.
// The region is a per-request option of the one client (its endpoint
// resolution and signing follow s3.Options.Region), so the buckets of every
// region share one connection pool.
package s3region

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// maxBuckets bounds the cache of bucket regions: a manifest may name any
// number of buckets. When it is full, new buckets are not remembered (each
// of their requests pays the redirect again) rather than evicting.
const maxBuckets = 4096

// HeaderBucketRegion is the header in which S3 names a bucket's region.
const HeaderBucketRegion = "X-Amz-Bucket-Region"

// Router is the S3 calls of imgbatch on one client, each sent to its
// bucket's region. It is safe for concurrent use.
type Router struct {
	client *s3.Client
	log    *slog.Logger
	mu     sync.RWMutex
	region map[string]string // bucket → region, for buckets outside the client's
}

// New routes the requests of client; log (nil: slog.Default) tells when a
// bucket is found in another region.
func New(client *s3.Client, log *slog.Logger) *Router {
	if log == nil {
		log = slog.Default()
	}
	return &Router{client: client, log: log, region: map[string]string{}}
}

// Client is the routed client.
func (r *Router) Client() *s3.Client { return r.client }

// Region is the region learnt for bucket ("" when it has not moved).
func (r *Router) Region(bucket string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.region[bucket]
}

func (r *Router) remember(bucket, region string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.region[bucket]; ok || len(r.region) < maxBuckets {
		r.region[bucket] = region
	}
}

func withRegion(region string) func(*s3.Options) {
	return func(o *s3.Options) { o.Region = region }
}

// Moved returns the region named by a refusal that means "this bucket
// lives in another region" (301, 307 or 400 with x-amz-bucket-region).
func Moved(err error) (string, bool) {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return "", false
	}
	switch re.Response.StatusCode {
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusBadRequest:
	default:
		return "", false
	}
	region := re.Response.Header.Get(HeaderBucketRegion)
	return region, region != ""
}

// do runs call with bucket's known region, and once more in the region a
// refusal names (rewind, when set, first resets a request body).
func do[T any](ctx context.Context, r *Router, bucket *string, opts []func(*s3.Options), rewind func() error,
	call func(context.Context, ...func(*s3.Options)) (T, error)) (T, error) {
	b := ""
	if bucket != nil {
		b = *bucket
	}
	used := r.client.Options().Region
	if region := r.Region(b); region != "" {
		opts = append(opts, withRegion(region))
		used = region
	}
	out, err := call(ctx, opts...)
	region, moved := Moved(err)
	if !moved || region == used || b == "" {
		return out, err
	}
	r.remember(b, region)
	r.log.Info("bucket is in another region: sending its requests there", "bucket", b, "region", region, "was", used)
	if rewind != nil {
		if rerr := rewind(); rerr != nil {
			return out, err
		}
	}
	return call(ctx, append(opts, withRegion(region))...)
}

// GetObject is s3.Client.GetObject in the bucket's region.
func (r *Router) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return do(ctx, r, in.Bucket, opts, nil, func(ctx context.Context, o ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
		return r.client.GetObject(ctx, in, o...)
	})
}

// HeadObject is s3.Client.HeadObject in the bucket's region.
func (r *Router) HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return do(ctx, r, in.Bucket, opts, nil, func(ctx context.Context, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
		return r.client.HeadObject(ctx, in, o...)
	})
}

// CopyObject is s3.Client.CopyObject in the destination bucket's region
// (S3 copies from a source in any region).
func (r *Router) CopyObject(ctx context.Context, in *s3.CopyObjectInput, opts ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	return do(ctx, r, in.Bucket, opts, nil, func(ctx context.Context, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
		return r.client.CopyObject(ctx, in, o...)
	})
}

// HeadBucket is s3.Client.HeadBucket in the bucket's region.
func (r *Router) HeadBucket(ctx context.Context, in *s3.HeadBucketInput, opts ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	return do(ctx, r, in.Bucket, opts, nil, func(ctx context.Context, o ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
		return r.client.HeadBucket(ctx, in, o...)
	})
}

// ListObjectsV2 is s3.Client.ListObjectsV2 in the bucket's region.
func (r *Router) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return do(ctx, r, in.Bucket, opts, nil, func(ctx context.Context, o ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
		return r.client.ListObjectsV2(ctx, in, o...)
	})
}

// PutObject is s3.Client.PutObject in the bucket's region; a body that can
// seek is sent again from its start after a redirect (one that cannot is
// not repeated: the refusal is returned).
func (r *Router) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	rewind := func() error {
		if in.Body == nil {
			return nil
		}
		s, ok := in.Body.(io.Seeker)
		if !ok {
			return errors.New("body cannot be sent again")
		}
		_, err := s.Seek(0, io.SeekStart)
		return err
	}
	return do(ctx, r, in.Bucket, opts, rewind, func(ctx context.Context, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
		return r.client.PutObject(ctx, in, o...)
	})
}
