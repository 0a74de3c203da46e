package s3disk

import (
	"net/http"
	"strings"
)

// carryPrefix carries the request headers gofakes3 drops (it keeps only
// X-Amz-*, Content-Type, Content-Disposition and Content-Encoding of a PUT)
// through to the backend, which stores them under their own names.
const carryPrefix = "X-Amz-Imgbatch-Carry-"

// carried are the object headers S3 stores that gofakes3 would drop.
var carried = []string{"Cache-Control", "Content-Language", "Expires"}

// KeepHeaders wraps a gofakes3 handler so a PUT's (or a multipart
// upload's) Cache-Control, Content-Language and Expires reach the backend.
// A client's own carry headers are removed first: only ours are trusted.
func KeepHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k := range r.Header {
			if strings.HasPrefix(k, carryPrefix) {
				delete(r.Header, k)
			}
		}
		if r.Method == http.MethodPut || r.Method == http.MethodPost {
			for _, h := range carried {
				if v := r.Header.Get(h); v != "" {
					r.Header.Set(carryPrefix+h, v)
				}
			}
		}
		carryCopy(r) // copy.go
		next.ServeHTTP(w, r)
	})
}

// storedMeta picks from gofakes3's metadata what S3 stores with an object:
// the content headers and x-amz-meta-*, not the request's signing headers.
func storedMeta(in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		ck := http.CanonicalHeaderKey(k)
		switch {
		case strings.HasPrefix(ck, carryPrefix):
			out[strings.TrimPrefix(ck, carryPrefix)] = v
		case strings.HasPrefix(ck, "X-Amz-Meta-"), ck == "Content-Type", ck == "Content-Disposition",
			ck == "Content-Encoding", ck == "X-Amz-Website-Redirect-Location",
			ck == "Cache-Control", ck == "Content-Language", ck == "Expires": // a copy's source headers
			out[ck] = v
		}
	}
	if out["Content-Type"] == "" {
		out["Content-Type"] = "binary/octet-stream" // S3's default
	}
	return out
}
