// Package localstack is the embedded default: everything imgbatch needs
// from AWS, on one machine, in one process — an S3-compatible server whose
// data is a directory a person can open, a local EventBridge bus that routes
// with the CloudFormation template's own rules, and an array-job runner that
// starts `imgbatch work` children with the variables AWS Batch sets. The
// code under test is the production code: SDK clients are only pointed at
// these endpoints.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/imgbatch/imgbatch/localstack/s3disk"
)

// S3Server is an in-process S3-compatible server on 127.0.0.1.
type S3Server struct {
	URL string
	Dir string // the store (see package s3disk); <Dir>/buckets/<bucket>/<key> are the objects as files (empty in memory mode)
	srv *http.Server
	ln  net.Listener
}

// StartS3 starts the server. With dir set, objects live in dir through
// package s3disk, with S3's key fidelity ("/lead.jpg" and "a/../b" are
// keys, not paths) across restarts, and dir/buckets/<bucket>/<key> shows
// them as files a person can open; with dir empty, everything stays in
// memory (gofakes3's s3mem). A dir written by an older imgbatch is refused
// with a message that says what to do.
func StartS3(dir string, buckets ...string) (*S3Server, error) {
	var backend gofakes3.Backend
	keep := func(h http.Handler) http.Handler { return h }
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		b, err := s3disk.Open(abs)
		if err != nil {
			return nil, fmt.Errorf("s3 data dir %s: %w", abs, err)
		}
		backend, keep = b, s3disk.KeepHeaders
		dir = abs
	} else {
		backend = s3mem.New()
	}
	fake := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()), gofakes3.WithAutoBucket(false))
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil && !isBucketExists(err) {
			return nil, fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &S3Server{URL: "http://" + ln.Addr().String(), Dir: dir, ln: ln,
		srv: &http.Server{Handler: diskErrors(keep(fake.Server()), dir), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("local s3 server stopped", "err", err)
		}
	}()
	return s, nil
}

func isBucketExists(err error) bool {
	return gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists)
}

// Close stops the server (nothing when it stands for an external endpoint).
func (s *S3Server) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
