package worker

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/s3err"
)

// copySource writes a keepSmallerSource output: a server-side copy of the
// source, no bytes through the worker. The metadata is replaced by what a
// PUT of the output would carry (the source's own x-amz-meta-* are not
// the output's), with the Content-Type of the source's format; the run's
// owners, requester pays and encryption go with it as with a PUT. The copy
// is of the version read (If-Match its ETag): a source overwritten since
// fails the item instead of copying bytes nobody inspected.
func (w *Worker) copySource(ctx context.Context, run *imgbatch.Run, j *job, o rendered) error {
	it := j.task.Item
	src, out := sourceAccess(run), outputAccess(run)
	in := &s3.CopyObjectInput{
		Bucket:            aws.String(run.OutputBucket),
		Key:               aws.String(o.key),
		CopySource:        aws.String(copySourceOf(it)),
		MetadataDirective: types.MetadataDirectiveReplace,
		// An output carries no tags (a PUT writes none), and copying the
		// source's would need s3:GetObjectTagging on it.
		TaggingDirective:          types.TaggingDirectiveReplace,
		ContentType:               aws.String(imgbatch.ContentType(o.format)),
		CacheControl:              aws.String(w.cfg.CacheControl),
		Metadata:                  outputMeta(run, j, o),
		ExpectedBucketOwner:       out.owner,
		ExpectedSourceBucketOwner: src.owner,
		RequestPayer:              cmp.Or(src.payer, out.payer),
	}
	if j.etag != "" {
		in.CopySourceIfMatch = aws.String(j.etag)
	}
	if a := run.Access; a.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(a.SSE)
		if a.SSEKMSKeyID != "" {
			in.SSEKMSKeyId = aws.String(a.SSEKMSKeyID)
		}
		if a.BucketKey {
			in.BucketKeyEnabled = aws.Bool(true)
		}
	}
	octx, cancel := context.WithTimeout(ctx, w.cfg.S3Timeout)
	defer cancel()
	_, err := w.s3.CopyObject(octx, in)
	what := fmt.Sprintf("copy %s to s3://%s/%s", it, run.OutputBucket, o.key)
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && s3err.IsPreconditionFailed(err):
		return itemErr(CodeS3, http.StatusPreconditionFailed, "%s: the source changed since it was read (ETag %s); nothing copied", what, j.etag)
	}
	return ownerHint(w.s3Err(ctx, err, what, true), run.Access.OutputOwner, "--output-bucket-owner")
}

// copySourceOf is the x-amz-copy-source of an item: bucket/key, the key
// percent-encoded except its slashes ("+" too: S3 and gofakes3 decode it
// as a query would, to a space), with the pinned version.
func copySourceOf(it imgbatch.Item) string {
	const hex = "0123456789ABCDEF"
	b := []byte(it.Bucket + "/")
	for i := 0; i < len(it.Key); i++ {
		c := it.Key[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~', c == '/':
			b = append(b, c)
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	if it.VersionID != "" {
		b = append(b, "?versionId="...)
		b = append(b, []byte(url.QueryEscape(it.VersionID))...)
	}
	return string(b)
}

// outputMeta is the x-amz-meta-* of an output: its source (key, bucket,
// ETag), the recipe hash and run that made it, the format written, and
// whether it is a copy of the source.
func outputMeta(run *imgbatch.Run, j *job, o rendered) map[string]string {
	srcBucket, srcKey := sourceMeta(j.task.Item)
	m := map[string]string{
		MetaSourceETag:   normETag(j.etag),
		MetaRecipeHash:   run.RecipeHash,
		MetaRunID:        run.ID,
		MetaSourceKey:    srcKey,
		MetaSourceBucket: srcBucket,
		MetaFormat:       o.format,
	}
	if o.copied {
		m[MetaCopied] = "true"
	}
	if o.quality > 0 && !o.copied {
		m[MetaQuality] = strconv.Itoa(o.quality)
	}
	if o.score > 0 {
		m[MetaSSIM] = strconv.FormatFloat(o.score, 'f', 5, 64)
	}
	return m
}
