package manifest

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imgbatch/imgbatch"
)

// listingSource lists s3://bucket/prefix one page at a time; only the current
// page is held.
type listingSource struct {
	ctx    context.Context
	bucket string
	pager  *s3.ListObjectsV2Paginator
	page   []types.Object
	uri    string
}

func newListing(ctx context.Context, opt Options, bucket, prefix string, mustExist bool) (source, io.Closer, error) {
	pageSize := opt.ListPageSize
	if pageSize <= 0 || pageSize > 1000 {
		pageSize = 1000
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(pageSize)}
	if opt.SourceOwner != "" {
		in.ExpectedBucketOwner = aws.String(opt.SourceOwner)
	}
	if opt.SourceRequesterPays {
		in.RequestPayer = types.RequestPayerRequester
	}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	s := &listingSource{
		ctx:    ctx,
		bucket: bucket,
		pager:  s3.NewListObjectsV2Paginator(opt.S3, in),
		uri:    "s3://" + bucket + "/" + prefix,
	}
	// The first page is fetched now so that a wrong bucket or missing
	// permission fails Open, not the first Next.
	if err := s.fetch(); err != nil {
		return nil, nil, err
	}
	if mustExist && len(s.page) == 0 && !s.pager.HasMorePages() {
		return nil, nil, fmt.Errorf("manifest: %s: no such object, and no objects under it as a prefix", s.uri)
	}
	return s, io.NopCloser(nil), nil
}

func (s *listingSource) fetch() error {
	out, err := s.pager.NextPage(s.ctx)
	if err != nil {
		return fmt.Errorf("manifest: listing %s: %w", s.uri, err)
	}
	s.page = out.Contents
	return nil
}

func (s *listingSource) next(r *record) error {
	for len(s.page) == 0 {
		if !s.pager.HasMorePages() {
			return io.EOF
		}
		if err := s.fetch(); err != nil {
			return err
		}
	}
	o := s.page[0]
	s.page[0] = types.Object{}
	s.page = s.page[1:]
	key := aws.ToString(o.Key)
	if strings.HasSuffix(key, "/") {
		return errSkip // a "folder" placeholder
	}
	r.item = imgbatch.Item{Bucket: s.bucket, Key: key, ETag: trimETag(aws.ToString(o.ETag))}
	if o.Size != nil {
		r.item.Size, r.hasSize = *o.Size, true
	}
	if o.LastModified != nil {
		r.modified = *o.LastModified
	}
	return nil
}
