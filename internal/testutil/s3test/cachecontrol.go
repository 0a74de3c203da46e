package s3test

import "net/http"

// cacheControlHeader carries Cache-Control through gofakes3, which keeps
// only X-Amz-*, Content-Type, Content-Disposition and Content-Encoding of
// a PUT; real S3 keeps Cache-Control too.
const cacheControlHeader = "X-Amz-Test-Cache-Control"

// keepCacheControl stores a PUT's Cache-Control under cacheControlHeader
// and answers it back as Cache-Control.
func keepCacheControl(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Cache-Control"); v != "" && r.Method == http.MethodPut {
			r.Header.Set(cacheControlHeader, v)
		}
		cw := &cacheControlWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		cw.fix() // a HEAD answer may never call WriteHeader
	})
}

type cacheControlWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *cacheControlWriter) fix() {
	h := w.Header()
	if v := h.Get(cacheControlHeader); v != "" {
		h.Set("Cache-Control", v)
		h.Del(cacheControlHeader)
	}
}

func (w *cacheControlWriter) WriteHeader(code int) {
	w.fix()
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *cacheControlWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}
