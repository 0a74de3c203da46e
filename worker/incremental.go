package worker

import (
	"context"
	"errors"
	"net/url"
	"slices"
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
	// MetaSourceKey is the source key the output was made from,
	// URL-encoded (metadata is ASCII), and MetaSourceBucket its bucket: an
	// output made from another source is never current, whatever its ETag.
	MetaSourceKey    = "imgbatch-source-key"
	MetaSourceBucket = "imgbatch-source-bucket"
)

// sourceMeta is the metadata naming it as the source of an output.
func sourceMeta(it imgbatch.Item) (bucket, key string) {
	return it.Bucket, url.PathEscape(it.Key)
}

// otherSource is the s3:// URI of the source an output's metadata names
// when it is not it, else "". Outputs written before the source was
// recorded name none and belong to whoever matches their ETag.
func otherSource(meta map[string]string, it imgbatch.Item) string {
	key, ok := meta[MetaSourceKey]
	if !ok {
		return ""
	}
	b, k := sourceMeta(it)
	bucket := meta[MetaSourceBucket]
	if key == k && (bucket == "" || bucket == b) {
		return ""
	}
	if dk, err := url.PathUnescape(key); err == nil {
		key = dk
	}
	return "s3://" + bucket + "/" + key
}

// outputsCurrent reports whether every output exists with this source's
// key, ETag and the run's recipe hash. A missing or unreadable output means
// "make it"; one made from another source (two sources, one output key:
// the plan refuses that within a run, but another run or --on-collision
// allow can write it) means "make it" too, and j.foreignAt names that
// source for the result, so the overwrite is reported, not silent. A
// FormatAuto variant's output may be under any of its candidates' keys
// (in the order of its Formats): it is current when one of them is. Only
// a fatal error (credentials, access to the output bucket) is returned.
func (w *Worker) outputsCurrent(ctx context.Context, run *imgbatch.Run, j *job) (bool, error) {
	it := j.task.Item
	var made [][]string // per variant: source ETags its candidates were made from
	for _, keys := range j.keys {
		var etags []string
		for _, key := range keys {
			h, err := w.head(ctx, run.OutputBucket, key, "", outputAccess(run))
			if err != nil {
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				var fe *FatalError
				if errors.As(classifyS3(err, "head s3://"+run.OutputBucket+"/"+key, true), &fe) {
					return false, fe
				}
				continue
			}
			if other := otherSource(h.Metadata, it); other != "" {
				j.foreignAt = map[string]string{key: "s3://" + run.OutputBucket + "/" + key + " was made from " + other}
				return false, nil
			}
			if j.own == nil {
				j.own = map[string]bool{}
			}
			j.own[key] = true
			if h.Metadata[MetaRecipeHash] == run.RecipeHash {
				etags = append(etags, normETag(h.Metadata[MetaSourceETag]))
			}
		}
		if len(etags) == 0 {
			return false, nil
		}
		made = append(made, etags)
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
	for _, etags := range made {
		if !slices.Contains(etags, normETag(etag)) {
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
