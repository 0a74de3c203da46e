package localstack

import (
	"context"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// copyRows are CopyObject as the worker's keepSmallerSource copy uses it:
// metadata REPLACE (the request's headers only), COPY (the source's only),
// x-amz-copy-source-if-match, and source keys that need encoding. They
// run after the listings of the table, which they would change.
var copyRows = []s3case{
	{name: "a source for copies", op: "put", key: "copies/src a+b.jpg", body: "s", hdr: map[string]string{
		"Content-Type": "image/jpeg", "Cache-Control": "no-cache", "Content-Disposition": "inline", "x-amz-meta-source": "cam/2.jpg"},
		want: outcome{Status: 200}},
	{name: "copy, metadata REPLACE, If-Match its ETag", op: "copy", from: "copies/src a+b.jpg", key: "copies/replaced.jpg", directive: "REPLACE",
		hdr:  map[string]string{"Content-Type": "image/webp", "Cache-Control": "public, max-age=86400", "x-amz-meta-copied": "true"},
		cond: map[string]string{"If-Match": "etag:copies/src a+b.jpg"}, want: outcome{Status: 200}},
	{name: "REPLACE: the request's headers only", op: "get", key: "copies/replaced.jpg", want: outcome{Status: 200, Body: "s", Headers: map[string]string{
		"Content-Type": "image/webp", "Cache-Control": "public, max-age=86400", "x-amz-meta-copied": "true", "x-amz-meta-source": "", "Content-Disposition": ""}}},
	{name: "copy, metadata COPY", op: "copy", from: "copies/src a+b.jpg", key: "copies/same.jpg", directive: "COPY",
		hdr: map[string]string{"x-amz-meta-copied": "true"}, want: outcome{Status: 200}},
	{name: "COPY: the source's headers only", op: "get", key: "copies/same.jpg", want: outcome{Status: 200, Body: "s", Headers: map[string]string{
		"Content-Type": "image/jpeg", "Cache-Control": "no-cache", "x-amz-meta-source": "cam/2.jpg", "x-amz-meta-copied": "", "Content-Disposition": "inline"}}},
	{name: "copy If-Match another ETag", op: "copy", from: "copies/src a+b.jpg", key: "copies/refused.jpg", directive: "REPLACE",
		cond: map[string]string{"If-Match": etagOf("zzz")}, want: outcome{Status: 412, Code: "PreconditionFailed"}},
	{name: "a refused copy writes nothing", op: "head", key: "copies/refused.jpg", want: outcome{Status: 404, Code: "NotFound"}},
	{name: "copy of a unicode key", op: "copy", from: "unicodé/ключ 鍵.jpg", key: "copies/u.jpg", directive: "REPLACE", want: outcome{Status: 200}},
	{name: "unicode copy read back", op: "get", key: "copies/u.jpg", want: outcome{Status: 200, Body: "u"}},
	{name: "copy of a missing key", op: "copy", from: "nope", key: "copies/nope.jpg", directive: "REPLACE", want: outcome{Status: 404, Code: "NoSuchKey"}},
}

func init() { conformance = append(conformance, copyRows...) }

func doCopy(ctx context.Context, c *s3.Client, bucket string, sc s3case, cond map[string]string) outcome {
	src := bucket + "/" + strings.ReplaceAll(url.PathEscape(sc.from), "%2F", "/")
	in := &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String(sc.key), CopySource: aws.String(strings.ReplaceAll(src, "+", "%2B")),
		MetadataDirective: types.MetadataDirective(sc.directive), Metadata: map[string]string{}}
	for k, v := range sc.hdr {
		switch k {
		case "Content-Type":
			in.ContentType = aws.String(v)
		case "Cache-Control":
			in.CacheControl = aws.String(v)
		default:
			in.Metadata[strings.TrimPrefix(k, "x-amz-meta-")] = v
		}
	}
	if v, ok := cond["If-Match"]; ok {
		in.CopySourceIfMatch = aws.String(v)
	}
	if _, err := c.CopyObject(ctx, in); err != nil {
		return failed(err)
	}
	return outcome{Status: 200}
}
