package localstack

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/s3fault/versitygw"
)

// outcome is what S3 answers: a status and error code, or the object read
// back (body and headers), or a listing (all pages).
type outcome struct {
	Status   int
	Code     string
	Body     string
	Headers  map[string]string // "ETag" is the quoted MD5 of Body when Body is set
	Keys     []string
	Prefixes []string
}

// s3case is one row: an operation and what AWS S3 documents for it.
// versity, when set, is what versitygw v1.8.0 (posix backend) answers
// instead, and why; the table is the documentation of S3, the override
// the record of where the second implementation differs.
type s3case struct {
	name string
	op   string // put, get, head, list, copy
	key  string
	body string
	hdr  map[string]string // put: Content-Type, Cache-Control, Content-Encoding, Content-Disposition, x-amz-meta-*
	cond map[string]string // If-Match / If-None-Match; "etag:<key>" is that key's current ETag
	// list parameters (max-keys pages through the whole listing)
	prefix, delim, startAfter string
	maxKeys                   int32

	// copy: the source key (same bucket) and x-amz-metadata-directive;
	// cond's If-Match is x-amz-copy-source-if-match (s3conformance_copy_test.go)
	from, directive string

	want    outcome
	versity *outcome
	why     string
}

const longKey = "long/" // + padding to 1,024 bytes

func long(n int) string { return longKey + strings.Repeat("x", n-len(longKey)) }

func etagOf(body string) string {
	s := md5.Sum([]byte(body))
	return `"` + hex.EncodeToString(s[:]) + `"`
}

// conformance is the table. Rows run in order against one bucket.
var conformance = []s3case{
	{name: "plain key with headers", op: "put", key: "photos/a.jpg", body: "a", hdr: map[string]string{
		"Content-Type": "image/jpeg", "Cache-Control": "public, max-age=31536000, immutable",
		"Content-Disposition": `inline; filename="a.jpg"`, "Content-Encoding": "identity", "x-amz-meta-source": "cam/1.jpg"},
		want: outcome{Status: 200}},
	{name: "headers read back", op: "get", key: "photos/a.jpg", want: outcome{Status: 200, Body: "a", Headers: map[string]string{
		"Content-Type": "image/jpeg", "Cache-Control": "public, max-age=31536000, immutable",
		"Content-Disposition": `inline; filename="a.jpg"`, "Content-Encoding": "identity", "x-amz-meta-source": "cam/1.jpg"}}},
	{name: "head reads the same headers", op: "head", key: "photos/a.jpg", want: outcome{Status: 200, Headers: map[string]string{
		"Content-Type": "image/jpeg", "Cache-Control": "public, max-age=31536000, immutable", "ETag": etagOf("a")}}},
	{name: "leading slash is part of the key", op: "put", key: "/lead.jpg", body: "lead", want: outcome{Status: 200},
		versity: &outcome{Status: 200}},
	{name: "leading slash read back", op: "get", key: "/lead.jpg", want: outcome{Status: 200, Body: "lead"}},
	{name: "dot-dot segment is part of the key", op: "put", key: "a/../b.jpg", body: "dotdot", want: outcome{Status: 200}},
	{name: "dot-dot read back", op: "get", key: "a/../b.jpg", want: outcome{Status: 200, Body: "dotdot"}},
	{name: "the cleaned path is another key", op: "get", key: "b.jpg", want: outcome{Status: 404, Code: "NoSuchKey"},
		versity: &outcome{Status: 200, Body: "dotdot"}, why: "versitygw's posix backend cleans keys to paths: a/../b.jpg is stored as b.jpg"},
	{name: "double slash (the worker's thumb//x.jpg)", op: "put", key: "thumb//x.jpg", body: "x", want: outcome{Status: 200}},
	{name: "double slash read back", op: "get", key: "thumb//x.jpg", want: outcome{Status: 200, Body: "x"}},
	{name: "dot segment", op: "put", key: "./c.jpg", body: "c", want: outcome{Status: 200}},
	{name: "trailing slash key holds bytes", op: "put", key: "dir/", body: "d", want: outcome{Status: 200},
		versity: &outcome{Status: 400, Code: "DirectoryObjectContainsData"}, why: "versitygw stores a key ending in / as a directory and refuses a body"},
	{name: "unicode key", op: "put", key: "unicodé/ключ 鍵.jpg", body: "u", want: outcome{Status: 200}},
	{name: "unicode read back", op: "get", key: "unicodé/ключ 鍵.jpg", want: outcome{Status: 200, Body: "u"}},
	{name: "1,024-byte key", op: "put", key: long(1024), body: "L", want: outcome{Status: 200},
		versity: &outcome{Status: 409, Code: "ExistingObjectIsDirectory"}, why: "a 1,019-byte path segment is longer than a file name (255) on posix; versitygw answers with an unrelated 409"},
	{name: "1,025-byte key is too long", op: "put", key: long(1025), body: "L", want: outcome{Status: 400, Code: "KeyTooLongError"}},
	{name: "If-None-Match * on an existing key", op: "put", key: "photos/a.jpg", body: "b", cond: map[string]string{"If-None-Match": "*"},
		want: outcome{Status: 412, Code: "PreconditionFailed"}},
	{name: "If-None-Match * on a new key", op: "put", key: "photos/new.jpg", body: "n", cond: map[string]string{"If-None-Match": "*"},
		want: outcome{Status: 200}},
	{name: "If-Match on a missing key", op: "put", key: "photos/missing.jpg", body: "m", cond: map[string]string{"If-Match": etagOf("m")},
		want: outcome{Status: 404, Code: "NoSuchKey"}},
	{name: "If-Match with another ETag", op: "put", key: "photos/a.jpg", body: "b", cond: map[string]string{"If-Match": etagOf("zzz")},
		want: outcome{Status: 412, Code: "PreconditionFailed"}},
	{name: "If-Match with the current ETag", op: "put", key: "photos/a.jpg", body: "b", cond: map[string]string{"If-Match": "etag:photos/a.jpg"},
		want: outcome{Status: 200}},
	{name: "the conditional write landed", op: "get", key: "photos/a.jpg", want: outcome{Status: 200, Body: "b"}},
	{name: "conditional GET: If-None-Match the ETag", op: "get", key: "photos/a.jpg", cond: map[string]string{"If-None-Match": "etag:photos/a.jpg"},
		want: outcome{Status: 304}},
	{name: "missing key", op: "get", key: "nope", want: outcome{Status: 404, Code: "NoSuchKey"}},
	{name: "missing key (HEAD has no body)", op: "head", key: "nope", want: outcome{Status: 404, Code: "NotFound"}},
	{name: "list all in byte order, two keys a page", op: "list", maxKeys: 2, want: outcome{Status: 200, Keys: []string{
		"./c.jpg", "/lead.jpg", "a/../b.jpg", "dir/", long(1024), "photos/a.jpg", "photos/new.jpg", "thumb//x.jpg", "unicodé/ключ 鍵.jpg"}},
		versity: &outcome{Status: 200, Keys: []string{"b.jpg", "c.jpg", "lead.jpg", "photos/a.jpg", "photos/new.jpg", "thumb/x.jpg", "unicodé/ключ 鍵.jpg"}},
		why:     "versitygw lists cleaned paths (see above); no dir/ and no 1,024-byte key"},
	{name: "delimiter rolls up, two entries a page", op: "list", delim: "/", maxKeys: 2, want: outcome{Status: 200,
		Prefixes: []string{"./", "/", "a/", "dir/", "long/", "photos/", "thumb/", "unicodé/"}},
		versity: &outcome{Status: 200, Keys: []string{"b.jpg", "c.jpg", "lead.jpg"}, Prefixes: []string{"long/", "photos/", "thumb/", "unicodé/"}},
		why:     "cleaned paths; the failed 1,024-byte put left its directory long/ behind, listed as a prefix"},
	{name: "prefix with delimiter", op: "list", prefix: "thumb/", delim: "/", want: outcome{Status: 200, Prefixes: []string{"thumb//"}},
		versity: &outcome{Status: 200, Keys: []string{"thumb/x.jpg"}}, why: "cleaned paths"},
	{name: "prefix /", op: "list", prefix: "/", want: outcome{Status: 200, Keys: []string{"/lead.jpg"}},
		versity: &outcome{Status: 200}, why: "cleaned paths: no key starts with /"},
	{name: "start-after", op: "list", prefix: "photos/", startAfter: "photos/a.jpg", want: outcome{Status: 200, Keys: []string{"photos/new.jpg"}}},
}

// s3Target is one S3 implementation the table runs against.
type s3Target struct {
	name    string
	client  *s3.Client
	url     string
	access  string
	secret  string
	versity bool
}

func TestS3ConformanceEmbedded(t *testing.T) {
	srv, err := StartS3(t.TempDir(), "conform", "cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tg := s3Target{name: "embedded", client: s3test.NewClient(srv.URL), url: srv.URL, access: "x", secret: "x"}
	runConformance(t, tg, "conform")
	runCLIConformance(t, tg, "cli")
}

func TestS3ConformanceVersityGW(t *testing.T) {
	bin := versitygw.Binary(t)
	g, err := versitygw.Start(context.Background(), bin, t.TempDir(), "AKIACONFORMANCE00001", "conformance/secret/0001", "conform", "cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	tg := s3Target{name: "versitygw", client: g.Client(), url: g.URL, access: g.AccessKey, secret: g.SecretKey, versity: true}
	runConformance(t, tg, "conform")
	runCLIConformance(t, tg, "cli")
}

func runConformance(t *testing.T, tg s3Target, bucket string) {
	ctx := context.Background()
	for _, c := range conformance {
		want := c.want
		if tg.versity && c.versity != nil {
			want = *c.versity
		}
		got := do(ctx, t, tg.client, bucket, c)
		if !matches(got, want) {
			t.Errorf("%s: %s %s %q:\n got  %+v\n want %+v%s", tg.name, c.name, c.op, c.key, got, want, note(tg, c))
		}
	}
}

func note(tg s3Target, c s3case) string {
	if tg.versity && c.why != "" {
		return "\n (versitygw: " + c.why + ")"
	}
	return ""
}

// matches compares what was asked for: headers only those named.
func matches(got, want outcome) bool {
	if got.Status != want.Status || got.Code != want.Code || got.Body != want.Body {
		return false
	}
	if want.Body != "" && got.Headers["ETag"] != etagOf(want.Body) {
		return false
	}
	for k, v := range want.Headers {
		if got.Headers[k] != v {
			return false
		}
	}
	return reflect.DeepEqual(got.Keys, want.Keys) && reflect.DeepEqual(got.Prefixes, want.Prefixes)
}

func do(ctx context.Context, t *testing.T, c *s3.Client, bucket string, sc s3case) outcome {
	cond := map[string]string{}
	for k, v := range sc.cond {
		if ref, ok := strings.CutPrefix(v, "etag:"); ok {
			h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &ref})
			if err != nil {
				t.Fatalf("%s: head %s for its ETag: %v", sc.name, ref, err)
			}
			v = aws.ToString(h.ETag)
		}
		cond[k] = v
	}
	switch sc.op {
	case "put":
		return doPut(ctx, c, bucket, sc, cond)
	case "get":
		return doGet(ctx, c, bucket, sc.key, cond)
	case "head":
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(sc.key)})
		if err != nil {
			return failed(err)
		}
		return outcome{Status: 200, Headers: map[string]string{"Content-Type": aws.ToString(h.ContentType),
			"Cache-Control": aws.ToString(h.CacheControl), "ETag": aws.ToString(h.ETag)}}
	case "list":
		return doList(ctx, c, bucket, sc)
	case "copy":
		return doCopy(ctx, c, bucket, sc, cond)
	}
	t.Fatalf("unknown op %q", sc.op)
	return outcome{}
}

func doPut(ctx context.Context, c *s3.Client, bucket string, sc s3case, cond map[string]string) outcome {
	in := &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(sc.key), Body: strings.NewReader(sc.body), Metadata: map[string]string{}}
	for k, v := range sc.hdr {
		switch k {
		case "Content-Type":
			in.ContentType = aws.String(v)
		case "Cache-Control":
			in.CacheControl = aws.String(v)
		case "Content-Encoding":
			in.ContentEncoding = aws.String(v)
		case "Content-Disposition":
			in.ContentDisposition = aws.String(v)
		default:
			in.Metadata[strings.TrimPrefix(k, "x-amz-meta-")] = v
		}
	}
	if v, ok := cond["If-Match"]; ok {
		in.IfMatch = aws.String(v)
	}
	if v, ok := cond["If-None-Match"]; ok {
		in.IfNoneMatch = aws.String(v)
	}
	if _, err := c.PutObject(ctx, in); err != nil {
		return failed(err)
	}
	return outcome{Status: 200}
}

func doGet(ctx context.Context, c *s3.Client, bucket, key string, cond map[string]string) outcome {
	in := &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)}
	if v, ok := cond["If-None-Match"]; ok {
		in.IfNoneMatch = aws.String(v)
	}
	out, err := c.GetObject(ctx, in)
	if err != nil {
		o := failed(err)
		if o.Status == 304 {
			o.Code = "" // "NotModified" is the SDK's name for a bodiless 304
		}
		return o
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return outcome{Status: -1, Code: err.Error()}
	}
	h := map[string]string{"Content-Type": aws.ToString(out.ContentType), "Cache-Control": aws.ToString(out.CacheControl),
		"Content-Disposition": aws.ToString(out.ContentDisposition), "Content-Encoding": aws.ToString(out.ContentEncoding),
		"ETag": aws.ToString(out.ETag)}
	for k, v := range out.Metadata {
		h["x-amz-meta-"+k] = v
	}
	return outcome{Status: 200, Body: string(b), Headers: h}
}

func doList(ctx context.Context, c *s3.Client, bucket string, sc s3case) outcome {
	in := &s3.ListObjectsV2Input{Bucket: &bucket}
	if sc.prefix != "" {
		in.Prefix = aws.String(sc.prefix)
	}
	if sc.delim != "" {
		in.Delimiter = aws.String(sc.delim)
	}
	if sc.startAfter != "" {
		in.StartAfter = aws.String(sc.startAfter)
	}
	if sc.maxKeys > 0 {
		in.MaxKeys = aws.Int32(sc.maxKeys)
	}
	o := outcome{Status: 200}
	p := s3.NewListObjectsV2Paginator(c, in)
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > 100 {
			return outcome{Status: -1, Code: "listing does not end"}
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return failed(err)
		}
		for _, obj := range page.Contents {
			o.Keys = append(o.Keys, aws.ToString(obj.Key))
		}
		for _, cp := range page.CommonPrefixes {
			o.Prefixes = append(o.Prefixes, aws.ToString(cp.Prefix))
		}
	}
	return o
}

func failed(err error) outcome {
	o := outcome{Status: -1, Code: err.Error()}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		o.Status = re.HTTPStatusCode()
		o.Code = ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		o.Code = ae.ErrorCode()
	}
	return o
}
