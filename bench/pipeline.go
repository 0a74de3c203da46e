package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	"github.com/imgbatch/imgbatch/localstack"
)

// s3Env is the embedded S3 server of pipeline cases (in this, the parent,
// process: its CPU is counted apart from the worker's) with the dataset
// uploaded into the source bucket.
type s3Env struct {
	srv    *localstack.S3Server
	client *s3.Client
	store  *batch.Store
	runs   int
}

const (
	bucketSource = "source"
	bucketWork   = "work"
	bucketOutput = "output"
)

// startS3Env starts an in-memory S3 server and uploads every file of d
// under its relative path.
func startS3Env(ctx context.Context, d *Dataset) (*s3Env, error) {
	srv, err := localstack.StartS3("", bucketSource, bucketWork, bucketOutput)
	if err != nil {
		return nil, fmt.Errorf("start the embedded S3: %w", err)
	}
	e := &s3Env{srv: srv, client: newS3Client(srv.URL)}
	e.store = &batch.Store{S3: e.client, Bucket: bucketWork}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, f := range d.Files {
		g.Go(func() error {
			fh, err := os.Open(d.Path(f))
			if err != nil {
				return err
			}
			defer fh.Close()
			_, err = e.client.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(bucketSource), Key: aws.String(f.Rel), Body: fh, ContentLength: aws.Int64(f.Size)})
			if err != nil {
				return fmt.Errorf("upload %s: %w", f.Rel, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		srv.Close()
		return nil, err
	}
	return e, nil
}

// plan writes a run of files (in this order, repeats allowed) making
// recipe r; the worker runs it with --incremental off, so repeats are
// processed again. It returns the planned run.
func (e *s3Env) plan(ctx context.Context, files []File, r imgbatch.Recipe) (*imgbatch.Run, error) {
	e.runs++
	prefix := "bench-" + strconv.Itoa(e.runs)
	items := make([]imgbatch.Item, len(files))
	for i, f := range files {
		items[i] = imgbatch.Item{Bucket: bucketSource, Key: f.Rel, Size: f.Size}
	}
	p, err := e.store.PlanRun(ctx, &itemSource{items: items}, batch.PlanOptions{
		Source: "imgbatch bench", OutputBucket: bucketOutput, OutputPrefix: prefix,
		Recipe:    r,
		Width:     1,
		Tolerance: imgbatch.Tolerance{MinTasks: 1, MaxFailedPercent: 100},
	})
	if err != nil {
		return nil, fmt.Errorf("plan the pipeline run: %w", err)
	}
	return &p.Run, nil
}

// download copies the outputs of run to the layout of the other
// implementations (outPath(dir, v, i) for the i-th file).
func (e *s3Env) download(ctx context.Context, run *imgbatch.Run, files []File, dir string) error {
	tmpl, err := run.KeyTemplate()
	if err != nil {
		return err
	}
	for i, f := range files {
		for _, v := range run.Recipe.Variants {
			// A format: auto variant wrote one of its candidates' keys.
			keys, err := tmpl.Keys(run.OutputPrefix, v, bucketSource, f.Rel)
			if err != nil {
				return err
			}
			key, out := e.firstObject(ctx, keys)
			if out == nil {
				continue // failed item: no output, the quality pass counts it missing
			}
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				return fmt.Errorf("download %s: %w", key, err)
			}
			dst := outPath(dir, v, i)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// firstObject gets the first of keys that exists in the output bucket.
func (e *s3Env) firstObject(ctx context.Context, keys []string) (string, *s3.GetObjectOutput) {
	for _, k := range keys {
		out, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucketOutput), Key: aws.String(k)})
		if err == nil {
			return k, out
		}
	}
	return "", nil
}

func (e *s3Env) close() { _ = e.srv.Close() }

// itemSource is a manifest.Reader over a slice.
type itemSource struct {
	items []imgbatch.Item
	i     int
}

func (s *itemSource) Next() (imgbatch.Item, error) {
	if s.i >= len(s.items) {
		return imgbatch.Item{}, io.EOF
	}
	s.i++
	return s.items[s.i-1], nil
}
