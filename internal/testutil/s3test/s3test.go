// Package s3test is the fake S3 of the tests: gofakes3 in memory behind an
// httptest server, and the real SDK client pointed at it (path-style,
// static credentials, us-east-1). It imports the SDK and gofakes3, so it
// lives apart from testutil: a package's tests pull it in only when they
// talk to S3.
//
// It does not import s3fault (whose own tests use it); to put the fault
// proxy between a client and the fake, start s3fault with Target set to
// Server.URL and make a client for the proxy with NewClient.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Region is the region of every client NewClient makes.
const Region = "us-east-1"

// Server is a fake S3 serving for one test, with a client for it.
type Server struct {
	URL     string         // the endpoint
	Backend *s3mem.Backend // its storage, to create buckets or look behind the API
	Client  *s3.Client     // a client for URL (NewClient's defaults and Options.Client)
}

// Options configure New.
type Options struct {
	Buckets []string // created before the server answers
	// Wrap, when set, wraps the fake's handler (to count or break
	// requests on the server side).
	Wrap func(http.Handler) http.Handler
	// Client options for Server.Client (e.g. Retries, HTTPClient).
	Client []func(*s3.Options)
}

// Start starts a fake S3 with buckets; see New.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	return New(t, Options{Buckets: buckets})
}

// New starts a fake S3, closed when t ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	backend := s3mem.New()
	for _, b := range o.Buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
	}
	h := Handler(backend)
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Server{URL: srv.URL, Backend: backend, Client: NewClient(srv.URL, o.Client...)}
}

// Handler is gofakes3 over backend, quiet, and keeping the Cache-Control
// of a PUT as real S3 does (gofakes3 drops it).
func Handler(backend gofakes3.Backend) http.Handler {
	return keepCacheControl(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
}

// NewClient is the SDK's S3 client for url: path-style, static
// credentials, region us-east-1, the SDK's default retryer; opts change
// any of it.
func NewClient(url string, opts ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(url),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("x", "x", ""),
	}, opts...)
}

// Retries sets the standard retryer (backoff with jitter) to attempts
// attempts, its waits capped at maxBackoff (0: the SDK's cap), without
// the retry token bucket (a test's bursts of errors must not exhaust it).
func Retries(attempts int, maxBackoff time.Duration) func(*s3.Options) {
	return func(o *s3.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			if maxBackoff > 0 {
				so.MaxBackoff = maxBackoff
			}
			so.RateLimiter = ratelimit.None
		})
	}
}

// Static sets static credentials (for endpoints that check signatures).
func Static(access, secret string) func(*s3.Options) {
	return Credentials(credentials.NewStaticCredentialsProvider(access, secret, ""))
}

// Credentials sets the client's credentials provider.
func Credentials(p aws.CredentialsProvider) func(*s3.Options) {
	return func(o *s3.Options) { o.Credentials = p }
}

// HTTPClient sets the client's HTTP client (to watch or break responses
// on the client side).
func HTTPClient(hc aws.HTTPClient) func(*s3.Options) {
	return func(o *s3.Options) { o.HTTPClient = hc }
}

// CreateBuckets creates buckets through c.
func CreateBuckets(t testing.TB, c *s3.Client, buckets ...string) {
	t.Helper()
	for _, b := range buckets {
		if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
	}
}

// Put writes body to s3://bucket/key through c.
func Put(t testing.TB, c *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

// Get reads s3://bucket/key through c.
func Get(t testing.TB, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	b, err := Read(c, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Read reads s3://bucket/key through c.
func Read(c *s3.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	return b, nil
}

// Head heads s3://bucket/key through c.
func Head(t testing.TB, c *s3.Client, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("head s3://%s/%s: %v", bucket, key, err)
	}
	return h
}

// Exists reports whether s3://bucket/key can be headed through c.
func Exists(c *s3.Client, bucket, key string) bool {
	_, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	return err == nil
}

// Count is the number of objects under prefix.
func Count(t testing.TB, c *s3.Client, bucket, prefix string) int {
	t.Helper()
	n := 0
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list s3://%s/%s: %v", bucket, prefix, err)
		}
		n += len(page.Contents)
	}
	return n
}

// Put, Get and Head through s.Client.
func (s *Server) Put(t testing.TB, bucket, key string, body []byte) {
	t.Helper()
	Put(t, s.Client, bucket, key, body)
}

func (s *Server) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	return Get(t, s.Client, bucket, key)
}

func (s *Server) Head(t testing.TB, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	return Head(t, s.Client, bucket, key)
}
