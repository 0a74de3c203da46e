package localstack

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
)

// diskErrors answers a write that the data directory refused — disk full,
// read-only, over quota, not permitted — with 507 InsufficientStorage
// naming the directory and the cause. A backend's write error is a bare
// 500 InternalError, which the SDK retries for a minute per request and
// the worker cannot tell from a passing S3 fault: the run hung, showing
// nothing. A 507 is not retried, so the item fails with the reason (or the
// planner, when the work bucket cannot be written). It wraps the HTTP
// server, whatever backend stores the objects under dir; dir "" (objects
// in memory) is passed through.
func diskErrors(next http.Handler, dir string) http.Handler {
	if dir == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		// A body that cannot fit is refused before the backend starts
		// writing it: no half-written object, whatever the backend.
		if r.ContentLength > 0 {
			if err := freeFor(dir, r.ContentLength); err != nil {
				// Read the body first: an answer while the client still
				// sends is a reset connection, which the SDK retries.
				_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
				writeDiskError(w, r, dir, err)
				return
			}
		}
		hw := &holdServerErrors{ResponseWriter: w}
		next.ServeHTTP(hw, r)
		if hw.status == 0 {
			return // answered: not a server error
		}
		if cause := diskCause(dir, r.ContentLength); cause != nil {
			writeDiskError(w, r, dir, cause)
			return
		}
		w.WriteHeader(hw.status) // some other server error: as it was
		_, _ = w.Write(hw.body.Bytes())
	})
}

// holdServerErrors passes everything through but a 5xx answer, which it
// holds back (status and body) for diskErrors to replace or release.
type holdServerErrors struct {
	http.ResponseWriter
	status int // held 5xx status; 0 while passing through
	wrote  bool
	body   bytes.Buffer
}

func (h *holdServerErrors) WriteHeader(code int) {
	if h.wrote || h.status != 0 {
		return
	}
	if code >= 500 {
		h.status = code
		return
	}
	h.wrote = true
	h.ResponseWriter.WriteHeader(code)
}

func (h *holdServerErrors) Write(p []byte) (int, error) {
	if !h.wrote && h.status == 0 {
		h.WriteHeader(http.StatusOK)
	}
	if h.status != 0 {
		return h.body.Write(p)
	}
	return h.ResponseWriter.Write(p)
}

// diskReserve is kept free beyond an object's body: its metadata, the
// directories of its key.
const diskReserve = 256 << 10

// freeFor is ENOSPC when dir's filesystem has not room for need bytes
// (and the reserve), else nil (also when it cannot tell).
func freeFor(dir string, need int64) error {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return nil
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < max(need, 0)+diskReserve {
		return fmt.Errorf("%w (%d bytes free, %d to write)", syscall.ENOSPC, free, max(need, 0))
	}
	return nil
}

// diskCause is why dir cannot take a write of need bytes (need < 0:
// unknown), or nil when it can: the error of writing and syncing a probe
// file (EROFS, EDQUOT, EACCES, ENOSPC), else ENOSPC when the free space is
// short.
func diskCause(dir string, need int64) error {
	if err := probeWrite(dir); err != nil {
		return err
	}
	return freeFor(dir, need)
}

func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return unwrapPathErr(err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return unwrapPathErr(err)
}

// unwrapPathErr drops the probe file's name: the message names the dir.
func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// writeDiskError writes the 507 in S3's XML error shape.
func writeDiskError(w http.ResponseWriter, r *http.Request, dir string, cause error) {
	body, _ := xml.Marshal(struct {
		XMLName  xml.Name `xml:"Error"`
		Code     string   `xml:"Code"`
		Message  string   `xml:"Message"`
		Resource string   `xml:"Resource"`
	}{Code: "InsufficientStorage", Resource: r.URL.Path,
		Message: fmt.Sprintf("the embedded S3 cannot write under %s: %v", dir, cause)})
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	h.Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusInsufficientStorage)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append([]byte(xml.Header), body...))
	}
}
