package localstack

import (
	"bytes"
	"context"
	"maps"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imgbatch/imgbatch/internal/s3err"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// TestS3CopyAsS3Does: the embedded S3 copies as S3 does what the worker's
// keepSmallerSource copy relies on: metadata REPLACE keeps only the
// request's Content-Type, Cache-Control and x-amz-meta-* (none of the
// source's), the bytes and ETag are the source's, a key with "+" and a
// space is found, and If-Match on another ETag is 412 with nothing
// written.
func TestS3CopyAsS3Does(t *testing.T) {
	srv, err := StartS3(filepath.Join(t.TempDir(), "s3"), "source", "output")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := s3test.NewClient(srv.URL)
	ctx := context.Background()
	body := []byte("jpeg bytes")
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("source"), Key: aws.String("d/a+b c.jpg"), Body: bytes.NewReader(body),
		ContentType: aws.String("image/png"), CacheControl: aws.String("no-cache"), Metadata: map[string]string{"foo": "bar"}})
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{"imgbatch-copied": "true", "imgbatch-format": "jpeg"}
	in := &s3.CopyObjectInput{Bucket: aws.String("output"), Key: aws.String("web/a.jpg"), CopySource: aws.String("source/d/a%2Bb%20c.jpg"),
		CopySourceIfMatch: put.ETag, MetadataDirective: types.MetadataDirectiveReplace, TaggingDirective: types.TaggingDirectiveReplace,
		ContentType: aws.String("image/jpeg"), CacheControl: aws.String("public, max-age=86400"), Metadata: meta}
	if _, err := c.CopyObject(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("output"), Key: aws.String("web/a.jpg")})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	if aws.ToString(got.ContentType) != "image/jpeg" || aws.ToString(got.CacheControl) != "public, max-age=86400" ||
		!maps.Equal(got.Metadata, meta) || aws.ToString(got.ETag) != aws.ToString(put.ETag) {
		t.Errorf("copy: %s, %s, %v, %s", aws.ToString(got.ContentType), aws.ToString(got.CacheControl), got.Metadata, aws.ToString(got.ETag))
	}
	in.Key, in.CopySourceIfMatch = aws.String("web/b.jpg"), aws.String(`"0123456789abcdef0123456789abcdef"`)
	if _, err := c.CopyObject(ctx, in); !s3err.IsPreconditionFailed(err) {
		t.Errorf("copy If-Match another ETag: %v, want 412", err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("output"), Key: aws.String("web/b.jpg")}); !s3err.IsNotFound(err) {
		t.Errorf("a refused copy wrote web/b.jpg: %v", err)
	}
}
