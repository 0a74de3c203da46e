package worker

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
)

// Object metadata written on every output (x-amz-meta-*).
const (
	MetaSourceETag = "imgbatch-source-etag"
	MetaRecipeHash = "imgbatch-recipe-hash"
	MetaRunID      = "imgbatch-run-id"
)

// outputsCurrent reports whether every output exists with this source's
// ETag and the run's recipe hash. A missing or unreadable output means
// "make it"; only a fatal error (credentials, access to the output bucket)
// is returned.
func (w *Worker) outputsCurrent(ctx context.Context, run *imgbatch.Run, j *job) (bool, error) {
	it := j.task.Item
	var made []string // source ETags the outputs were made from
	for _, key := range j.keys {
		h, err := w.head(ctx, run.OutputBucket, key, "", outputAccess(run))
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			var fe *FatalError
			if errors.As(classifyS3(err, "head s3://"+run.OutputBucket+"/"+key, true), &fe) {
				return false, fe
			}
			return false, nil
		}
		if h.Metadata[MetaRecipeHash] != run.RecipeHash {
			return false, nil
		}
		made = append(made, normETag(h.Metadata[MetaSourceETag]))
	}
	// The manifest's ETag is exact only for a pinned version; otherwise the
	// object may have been overwritten since the manifest was made.
	etag := it.ETag
	if etag == "" || it.VersionID == "" {
		sh, err := w.head(ctx, it.Bucket, it.Key, it.VersionID, sourceAccess(run))
		if err != nil {
			return false, nil // let the GET report it
		}
		etag = aws.ToString(sh.ETag)
	}
	for _, m := range made {
		if m != normETag(etag) {
			return false, nil
		}
	}
	j.etag = etag
	return true, nil
}

func (w *Worker) head(ctx context.Context, bucket, key, version string, a bucketAccess) (*s3.HeadObjectOutput, error) {
	octx, cancel := context.WithTimeout(ctx, w.cfg.S3Timeout)
	defer cancel()
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ExpectedBucketOwner: a.owner, RequestPayer: a.payer}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	return w.s3.HeadObject(octx, in)
}

func normETag(s string) string { return strings.Trim(s, `"`) }
