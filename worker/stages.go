package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/semaphore"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// Object metadata written on every output (x-amz-meta-*).
const (
	MetaSourceETag = "imgbatch-source-etag"
	MetaRecipeHash = "imgbatch-recipe-hash"
	MetaRunID      = "imgbatch-run-id"
)

// errSkip marks an item whose outputs are already current.
var errSkip = errors.New("outputs are current")

// fetch downloads the source into memory, holding its size in the
// in-flight semaphore. It returns skip=true when every output is current.
func (w *Worker) fetch(ctx context.Context, run *imgbatch.Run, j *job, mem *semaphore.Weighted) (skip bool, err error) {
	it := j.task.Item
	what := "get " + it.String()
	// Output keys are checked first: a key that cannot exist is a failure
	// before any byte is read.
	for _, v := range run.Recipe.Variants {
		if _, err := imgbatch.OutputKey(run.OutputPrefix, v, it.Key); err != nil {
			return false, itemErr(CodeKeyTooLong, http.StatusBadRequest, "%v", err)
		}
	}
	if w.cfg.Incremental {
		current, err := w.outputsCurrent(ctx, run, j)
		if err != nil {
			return false, err
		}
		if current {
			return true, errSkip
		}
	}
	in := &s3.GetObjectInput{Bucket: aws.String(it.Bucket), Key: aws.String(it.Key)}
	if it.VersionID != "" {
		in.VersionId = aws.String(it.VersionID)
	}
	out, err := w.s3.GetObject(ctx, in)
	if err != nil {
		return false, classifyS3(err, what, false)
	}
	defer out.Body.Close()
	size := aws.ToInt64(out.ContentLength)
	j.etag = aws.ToString(out.ETag)
	j.size = size
	if size > w.cfg.MaxSourceBytes {
		return false, itemErr(CodeTooLarge, http.StatusBadRequest, "source is %d bytes, over the %d-byte cap (--max-source-bytes)", size, w.cfg.MaxSourceBytes)
	}
	if size == 0 {
		return false, itemErr(CodeEmpty, http.StatusBadRequest, "source object is empty (0 bytes)")
	}
	hold := size
	if hold <= 0 {
		hold = w.cfg.MaxSourceBytes
	}
	if err := mem.Acquire(ctx, hold); err != nil {
		return false, err
	}
	j.held = hold
	buf := bytes.NewBuffer(make([]byte, 0, max(size, 0)))
	n, err := io.Copy(buf, io.LimitReader(out.Body, w.cfg.MaxSourceBytes+1))
	if err != nil {
		return false, classifyS3(err, what+" (reading body)", false)
	}
	if n > w.cfg.MaxSourceBytes {
		return false, itemErr(CodeTooLarge, http.StatusBadRequest, "source is over the %d-byte cap (--max-source-bytes)", w.cfg.MaxSourceBytes)
	}
	if size > 0 && n != size {
		return false, itemErr(CodeS3, http.StatusServiceUnavailable, "%s: body truncated: got %d of %d bytes", what, n, size)
	}
	j.data = buf.Bytes()
	j.size = n
	return false, nil
}

// outputsCurrent reports whether every output exists with this source's
// ETag and the run's recipe hash.
func (w *Worker) outputsCurrent(ctx context.Context, run *imgbatch.Run, j *job) (bool, error) {
	it := j.task.Item
	etag := it.ETag
	for i, v := range run.Recipe.Variants {
		key, _ := imgbatch.OutputKey(run.OutputPrefix, v, it.Key)
		h, err := w.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(run.OutputBucket), Key: aws.String(key)})
		if err != nil {
			var fe *FatalError
			if errors.As(classifyS3(err, "head output", true), &fe) {
				return false, fe
			}
			return false, nil // missing (or unreadable): make it
		}
		if h.Metadata[MetaRecipeHash] != run.RecipeHash {
			return false, nil
		}
		if i == 0 && etag == "" {
			sh, err := w.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(it.Bucket), Key: aws.String(it.Key), VersionId: nilIfEmpty(it.VersionID)})
			if err != nil {
				return false, nil // let the GET report it
			}
			etag = aws.ToString(sh.ETag)
		}
		if normETag(h.Metadata[MetaSourceETag]) != normETag(etag) {
			return false, nil
		}
	}
	j.etag = etag
	return true, nil
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func normETag(s string) string { return strings.Trim(s, `"`) }

// process guards the item from its header bytes, then renders every
// variant, within the item deadline.
func (w *Worker) process(ctx context.Context, run *imgbatch.Run, j *job) error {
	info, err := sniff.Inspect(j.data)
	if err != nil {
		var se *sniff.Error
		if errors.As(err, &se) {
			switch se.Code {
			case "Empty":
				return itemErr(CodeEmpty, http.StatusBadRequest, "%s", se.Error())
			case "UnsupportedFormat":
				return itemErr(CodeUnsupported, http.StatusUnsupportedMediaType, "%s", se.Error())
			}
		}
		return itemErr(CodeCorrupt, http.StatusUnprocessableEntity, "%v", err)
	}
	// Pixels is the canvas (frames may extend past a GIF's screen) × pages.
	if px := info.Pixels(); px > w.cfg.MaxPixels {
		return itemErr(CodeTooManyPix, http.StatusRequestEntityTooLarge, "%s claims %dx%d (frames up to %dx%d) × %d pages = %d pixels, over the %d-pixel budget (--max-pixels)",
			info.Format, info.Width, info.Height, max(info.FrameExtentW, info.Width), max(info.FrameExtentH, info.Height), max(info.Pages, 1), px, w.cfg.MaxPixels)
	}
	if int(w.stuck.Load()) >= w.cfg.MaxStuck {
		return &FatalError{fmt.Errorf("%d image operations are stuck past their deadline; exiting so the attempt is retried", w.stuck.Load())}
	}
	type out struct {
		r   []rendered
		err error
	}
	done := make(chan out, 1)
	data := j.data
	go func() {
		var rs []rendered
		for _, v := range run.Recipe.Variants {
			res, err := vips.Thumbnail(data, v)
			if err != nil {
				done <- out{err: itemErr(CodeCorrupt, http.StatusUnprocessableEntity, "%s %dx%d: variant %s: %v", info.Format, info.Width, info.Height, v.Name, err)}
				return
			}
			key, _ := imgbatch.OutputKey(run.OutputPrefix, v, j.task.Item.Key)
			rs = append(rs, rendered{variant: v, key: key, data: res.Data, width: res.Width, height: res.Height})
		}
		done <- out{r: rs}
	}()
	timer := time.NewTimer(w.cfg.ItemTimeout)
	defer timer.Stop()
	select {
	case o := <-done:
		if o.err != nil {
			return o.err
		}
		j.outputs = o.r
		return nil
	case <-timer.C:
		// libvips cannot be interrupted: the call is abandoned (it finishes
		// or not on its own) and the item fails; too many such calls end the
		// attempt so a fresh process continues from the checkpoint.
		w.stuck.Add(1)
		go func() { <-done; w.stuck.Add(-1) }()
		return itemErr(CodeTimeout, http.StatusRequestTimeout, "%s %dx%d: image processing exceeded the %s item deadline (--item-timeout)", info.Format, info.Width, info.Height, w.cfg.ItemTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// upload writes every rendered variant with its metadata.
func (w *Worker) upload(ctx context.Context, run *imgbatch.Run, j *job) error {
	for _, o := range j.outputs {
		_, err := w.s3.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(run.OutputBucket),
			Key:           aws.String(o.key),
			Body:          bytes.NewReader(o.data),
			ContentLength: aws.Int64(int64(len(o.data))),
			ContentType:   aws.String(imgbatch.ContentType(o.variant.Format)),
			CacheControl:  aws.String(w.cfg.CacheControl),
			Metadata: map[string]string{
				MetaSourceETag: normETag(j.etag),
				MetaRecipeHash: run.RecipeHash,
				MetaRunID:      run.ID,
			},
		})
		if err != nil {
			return classifyS3(err, "put s3://"+run.OutputBucket+"/"+o.key, true)
		}
	}
	return nil
}
