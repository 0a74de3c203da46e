package s3test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// Request is one request as the fake S3 received it (path-style).
type Request struct {
	Method, Bucket, Key string
	Query               string
	Region              string // of its signature (SignedRegion)
	Header              http.Header
}

// Recorder keeps every request that reaches the fake, to assert on the
// headers a client really sent (Options.Wrap: rec.Wrap).
type Recorder struct {
	mu   sync.Mutex
	reqs []Request
}

// Wrap records each request, then passes it to h.
func (r *Recorder) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		bucket, key := splitPath(req.URL.Path)
		r.mu.Lock()
		r.reqs = append(r.reqs, Request{Method: req.Method, Bucket: bucket, Key: key, Query: req.URL.RawQuery, Region: SignedRegion(req), Header: req.Header.Clone()})
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	})
}

// Requests are the requests recorded so far.
func (r *Recorder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Reset forgets the requests recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}

func splitPath(p string) (bucket, key string) {
	bucket, key, _ = strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return bucket, key
}

// InRegion makes buckets live in other regions (bucket → region), as real
// S3 does: a request on one of them signed for another region is refused
// with 301 PermanentRedirect and x-amz-bucket-region, before h sees it.
func InRegion(regions map[string]string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			bucket, _ := splitPath(req.URL.Path)
			want, ok := regions[bucket]
			if !ok || SignedRegion(req) == want {
				h.ServeHTTP(w, req)
				return
			}
			w.Header().Set("X-Amz-Bucket-Region", want)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusMovedPermanently)
			if req.Method != http.MethodHead {
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message><Bucket>%s</Bucket></Error>`, bucket)
			}
		})
	}
}

// SignedRegion is the region of a SigV4 Authorization header
// (Credential=KEY/DATE/REGION/s3/aws4_request), "" if unsigned.
func SignedRegion(req *http.Request) string {
	_, cred, ok := strings.Cut(req.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}
