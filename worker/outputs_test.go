package worker

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/s3fault"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// templRun is testRun under the default (collision-free) key template.
func templRun(t *testing.T, vs ...imgbatch.Variant) *imgbatch.Run {
	run := testRun(t, vs...)
	run.OutputKey = imgbatch.DefaultOutputKey
	return run
}

// succeeded fails the test unless every item succeeded, and returns the
// results in item order.
func succeeded(t *testing.T, o outcome, n int) []imgbatch.Result {
	t.Helper()
	if o.err != nil {
		t.Fatal(o.err)
	}
	var rs []imgbatch.Result
	for i := range n {
		r := o.results[i]
		if r.Status != imgbatch.StatusSucceeded {
			t.Fatalf("item %d: %s %s %q", i, r.Status, r.ErrorCode, r.Message)
		}
		rs = append(rs, r)
	}
	return rs
}

// TestAutoFormatKeys: an auto variant's output key, Content-Type and
// metadata follow the format it wrote, which is one of its candidates.
func TestAutoFormatKeys(t *testing.T) {
	s := newTestS3(t, "src", "out")
	s.put(t, "src", "a/p.jpg", photo(t, 200, 150, false))
	run := templRun(t,
		imgbatch.Variant{Name: "pw", Width: 64, Height: 64, Format: imgbatch.FormatAuto, Formats: []string{"png", "webp"}},
		imgbatch.Variant{Name: "wp", Width: 64, Height: 64, Format: imgbatch.FormatAuto, Formats: []string{"webp", "png"}},
		imgbatch.Variant{Name: "j", Width: 64, Height: 64, Format: imgbatch.FormatJPEG})
	r := succeeded(t, processAll(t, context.Background(), newTestWorker(s, Config{}), run, items("src", "a/p.jpg")), 1)[0]
	if len(r.Outputs) != 3 {
		t.Fatalf("outputs %+v", r.Outputs)
	}
	for i, o := range r.Outputs {
		v := run.Recipe.Variants[i]
		if !slices.Contains(v.OutputFormats(), o.Format) {
			t.Errorf("%s wrote %q, not one of %v", v.Name, o.Format, v.OutputFormats())
		}
		want := "v1/" + v.Name + "/a/p.jpg." + imgbatch.Ext(o.Format)
		if o.Key != want {
			t.Errorf("%s: key %q, want %q", v.Name, o.Key, want)
		}
		h := s.head(t, "out", o.Key)
		if ct := aws.ToString(h.ContentType); ct != imgbatch.ContentType(o.Format) {
			t.Errorf("%s: Content-Type %q for %s", o.Key, ct, o.Format)
		}
		if h.Metadata[MetaFormat] != o.Format || h.Metadata[MetaCopied] != "" {
			t.Errorf("%s: metadata %v", o.Key, h.Metadata)
		}
		// The q and the measured score are in the metadata as in the
		// result: the auto variants searched the default target.
		if o.Quality > 0 && h.Metadata[MetaQuality] != strconv.Itoa(o.Quality) {
			t.Errorf("%s: %s %q, result q %d", o.Key, MetaQuality, h.Metadata[MetaQuality], o.Quality)
		}
		if v.Format == imgbatch.FormatAuto && o.Format != imgbatch.FormatPNG {
			if o.Score < imgbatch.DefaultSSIM || h.Metadata[MetaSSIM] != strconv.FormatFloat(o.Score, 'f', 5, 64) {
				t.Errorf("%s: score %v, %s %q", o.Key, o.Score, MetaSSIM, h.Metadata[MetaSSIM])
			}
		}
		if got, _ := sniff.Inspect(s.get(t, "out", o.Key)); string(got.Format) != o.Format {
			t.Errorf("%s holds %s, recorded %s", o.Key, got.Format, o.Format)
		}
	}
}

// TestAutoFormatIncremental: an auto variant's output is current under
// any candidate's key that carries this source's ETag and the recipe hash,
// whichever comes first in the recipe's order, and a stale one of an
// earlier choice (another format, older bytes) left beside it changes
// nothing; new source bytes make it again.
func TestAutoFormatIncremental(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{Incremental: true})
	s.put(t, "src", "p.jpg", photo(t, 200, 150, false))
	v := imgbatch.Variant{Name: "pic", Width: 64, Height: 64, Format: imgbatch.FormatAuto, Formats: []string{"png", "webp"}}
	run := templRun(t, v)
	its := items("src", "p.jpg")
	ctx := context.Background()
	out := succeeded(t, processAll(t, ctx, w, run, its), 1)[0].Outputs[0]
	other := "v1/pic/p.jpg.webp"
	if out.Key == other {
		other = "v1/pic/p.jpg.png"
	}
	status := func() imgbatch.Status { return processAll(t, ctx, w, run, its).results[0].Status }
	if st := status(); st != imgbatch.StatusSkipped {
		t.Fatalf("again: %s, want skipped", st)
	}
	// An earlier choice, made from older bytes, under the other key.
	h := s.head(t, "out", out.Key)
	stale := withMeta(h.Metadata, MetaSourceETag, "0123456789abcdef0123456789abcdef")
	putMeta(t, s, other, []byte("stale"), stale)
	if st := status(); st != imgbatch.StatusSkipped {
		t.Fatalf("with a stale sibling: %s, want skipped", st)
	}
	// The same, the other way round: the current one under the other key.
	putMeta(t, s, other, s.get(t, "out", out.Key), h.Metadata)
	putMeta(t, s, out.Key, []byte("stale"), stale)
	if st := status(); st != imgbatch.StatusSkipped {
		t.Fatalf("current under the other candidate: %s, want skipped", st)
	}
	// New bytes: neither is current. The output of the other format,
	// made from this source, is left where it is and named.
	s.put(t, "src", "p.jpg", photo(t, 201, 150, false))
	r := processAll(t, ctx, w, run, its).results[0]
	if r.Status != imgbatch.StatusSucceeded || r.Message != "left outputs of an earlier format choice: "+other {
		t.Fatalf("changed source: %s %q, want succeeded naming %s", r.Status, r.Message, other)
	}
	s.head(t, "out", other) // still there
}

func withMeta(m map[string]string, k, v string) map[string]string {
	c := map[string]string{}
	for a, b := range m {
		c[a] = b
	}
	c[k] = v
	return c
}

func putMeta(t *testing.T, s *testS3, key string, body []byte, meta map[string]string) {
	t.Helper()
	_, err := s.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("out"), Key: aws.String(key),
		Body: bytes.NewReader(body), Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
}

// tinyJPEG is a 200x150 JPEG compressed hard (q 20): any q95 re-encode of
// it is bigger.
func tinyJPEG(t testing.TB) []byte {
	return testutil.JPEG(t, testutil.Gradient(200, 150, func(x, y int) uint8 { return uint8(x + y) }), 20)
}

// withOrientation inserts an APP1 Exif segment saying orientation o after
// the SOI of a JPEG.
func withOrientation(jpg []byte, o int) []byte {
	bo := binary.BigEndian
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08")
	tiff = bo.AppendUint16(tiff, 1)
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, uint16(o))
	tiff = bo.AppendUint16(tiff, 0)
	tiff = bo.AppendUint32(tiff, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := append([]byte{0xff, 0xe1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
	return slices.Concat(jpg[:2], app1, jpg[2:])
}

// TestKeepSmallerSource: a tiny, hard-compressed JPEG that fits the box
// is copied server-side where a q95 re-encode would be bigger (for a fixed
// jpeg variant and for an auto variant whose key then ends in .jpg); the
// copy is byte-identical, typed and marked; a rotated source, a variant
// without the flag and a source that must shrink are re-encoded.
func TestKeepSmallerSource(t *testing.T) {
	s := newTestS3(t, "src", "out")
	src := tinyJPEG(t)
	s.put(t, "src", "d/a+b c.jpg", src)
	s.put(t, "src", "rot.jpg", withOrientation(src, 6))
	run := templRun(t,
		imgbatch.Variant{Name: "web", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, Quality: 95, KeepSmallerSource: true},
		imgbatch.Variant{Name: "pic", Width: 1280, Height: 1280, Format: imgbatch.FormatAuto, Formats: []string{"webp", "jpeg"}, Quality: 95, KeepSmallerSource: true},
		imgbatch.Variant{Name: "plain", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, Quality: 95},
		imgbatch.Variant{Name: "small", Width: 100, Height: 100, Format: imgbatch.FormatJPEG, Quality: 95, KeepSmallerSource: true})
	rs := succeeded(t, processAll(t, context.Background(), newTestWorker(s, Config{}), run, items("src", "d/a+b c.jpg", "rot.jpg")), 2)
	size := int64(len(src))
	byName := func(r imgbatch.Result) map[string]imgbatch.Output {
		m := map[string]imgbatch.Output{}
		for _, o := range r.Outputs {
			m[o.Variant] = o
		}
		return m
	}
	got := byName(rs[0])
	if p := got["plain"]; p.Copied || p.Bytes <= size {
		t.Fatalf("plain q95 re-encode: %+v, source %d bytes: the test proves nothing", p, size)
	}
	for name, key := range map[string]string{"web": "v1/web/d/a+b c.jpg.jpg", "pic": "v1/pic/d/a+b c.jpg.jpg"} {
		o := got[name]
		if !o.Copied || o.Bytes != size || o.Format != imgbatch.FormatJPEG || o.Key != key || o.Width != 200 || o.Height != 150 || o.Quality != 0 {
			t.Errorf("%s: %+v, want a copy of %d bytes at %s", name, o, size, key)
			continue
		}
		if b := s.get(t, "out", key); !bytes.Equal(b, src) {
			t.Errorf("%s: %d bytes, not the source's", key, len(b))
		}
		h := s.head(t, "out", key)
		if aws.ToString(h.ContentType) != "image/jpeg" || h.Metadata[MetaCopied] != "true" || h.Metadata[MetaFormat] != "jpeg" ||
			h.Metadata[MetaSourceKey] != "d%2Fa+b%20c.jpg" || h.Metadata[MetaRecipeHash] != run.RecipeHash || h.Metadata[MetaSourceETag] == "" {
			t.Errorf("%s: %s %v", key, aws.ToString(h.ContentType), h.Metadata)
		}
	}
	if o := got["small"]; o.Copied || o.Width != 100 {
		t.Errorf("small (the source must shrink): %+v", o)
	}
	if sum := rs[0].BytesOut; sum != 2*size+got["plain"].Bytes+got["small"].Bytes {
		t.Errorf("bytesOut %d does not count the copies as the source's size", sum)
	}
	for name, o := range byName(rs[1]) {
		if o.Copied {
			t.Errorf("rotated source: %s copied: %+v", name, o)
		}
	}
}

// TestKeepSourceRules: what makes a source unfit to stand for a variant.
func TestKeepSourceRules(t *testing.T) {
	jpeg := imgbatch.Variant{Name: "v", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, KeepSmallerSource: true}
	info := sniff.Info{Format: sniff.JPEG, Width: 200, Height: 150, Pages: 1}
	same := vips.Result{Width: 200, Height: 150, Frames: 1}
	plain := sniff.Extras{Components: 3}
	keep := jpeg
	keep.Encoder = &imgbatch.EncoderOptions{ICC: "keep"}
	meta := jpeg
	meta.KeepMetadata = true
	p3 := jpeg
	p3.Encoder = &imgbatch.EncoderOptions{ICC: "p3"}
	rot := info
	rot.Orientation = 6
	anim := sniff.Info{Format: sniff.WebP, Width: 200, Height: 150, Pages: 5, Animated: true}
	webp := imgbatch.Variant{Name: "w", Width: 1280, Height: 1280, Format: imgbatch.FormatWebP}
	for _, c := range []struct {
		name string
		v    imgbatch.Variant
		info sniff.Info
		e    sniff.Extras
		r    vips.Result
		why  string // "" = kept
	}{
		{"fits", jpeg, info, plain, same, ""},
		{"webp variant", webp, info, plain, same, "not a format of the variant"},
		{"rotated", jpeg, rot, plain, same, "not upright"},
		{"shrunk", jpeg, info, plain, vips.Result{Width: 100, Height: 75, Frames: 1}, "resizes"},
		{"padded", jpeg, info, plain, vips.Result{Width: 200, Height: 200, Frames: 1}, "resizes"},
		{"exif", jpeg, info, sniff.Extras{Components: 3, EXIF: true}, same, "metadata"},
		{"exif kept", meta, info, sniff.Extras{Components: 3, EXIF: true}, same, ""},
		{"comment", jpeg, info, sniff.Extras{Components: 3, Other: true}, same, "metadata"},
		{"icc", jpeg, info, sniff.Extras{Components: 3, ICC: true}, same, "colour profile"},
		{"icc kept", keep, info, sniff.Extras{Components: 3, ICC: true}, same, ""},
		{"to p3", p3, info, plain, same, "p3"},
		{"cmyk", jpeg, info, sniff.Extras{Components: 4}, same, "CMYK"},
		{"animation kept", webp, anim, sniff.Extras{}, vips.Result{Width: 200, Height: 150, Frames: 5}, ""},
		{"first frame only", webp, anim, sniff.Extras{}, same, "animation"},
	} {
		f, why := keepSource(c.v, c.info, c.e, true, c.r)
		if (c.why == "") != (why == "") || !strings.Contains(why, c.why) || (why == "" && f != string(c.info.Format)) {
			t.Errorf("%s: %q %q, want %q", c.name, f, why, c.why)
		}
	}
	if _, why := keepSource(jpeg, sniff.Info{Format: sniff.AVIF, Width: 200, Height: 150}, sniff.Extras{}, false, same); !strings.Contains(why, "not inspected") {
		t.Errorf("avif: %q", why)
	}
}

func TestCopySourceOf(t *testing.T) {
	for _, c := range []struct {
		it   imgbatch.Item
		want string
	}{
		{imgbatch.Item{Bucket: "b", Key: "d/a+b c.jpg"}, "b/d/a%2Bb%20c.jpg"},
		{imgbatch.Item{Bucket: "b", Key: "/lead//x?.jpg"}, "b//lead//x%3F.jpg"},
		{imgbatch.Item{Bucket: "b", Key: "日.jpg", VersionID: "v+1"}, "b/%E6%97%A5.jpg?versionId=v%2B1"},
	} {
		if got := copySourceOf(c.it); got != c.want {
			t.Errorf("%+v: %q, want %q", c.it, got, c.want)
		}
	}
}

// TestCopyCarriesAccess: the server-side copy sends what a PUT of the
// output and a GET of the source would: both owners, requester pays, the
// run's SSE-KMS, the metadata (replaced) and If-Match on the ETag read.
func TestCopyCarriesAccess(t *testing.T) {
	srv, rec := accessStack(t, nil, "src", "out")
	s3test.Put(t, srv.Client, "src", "t.jpg", tinyJPEG(t))
	const key = "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	run := templRun(t, imgbatch.Variant{Name: "web", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, Quality: 95, KeepSmallerSource: true})
	run.Access = imgbatch.Access{SSE: imgbatch.SSEKMS, SSEKMSKeyID: key, SourceOwner: "111111111111", OutputOwner: "222222222222", SourceRequesterPays: true}
	rec.Reset()
	r := succeeded(t, processAll(t, context.Background(), New(srv.Client, Config{Processors: 1}), run, items("src", "t.jpg")), 1)[0]
	if !r.Outputs[0].Copied {
		t.Fatalf("not copied: %+v", r.Outputs[0])
	}
	var copies []s3test.Request
	for _, q := range rec.Requests() {
		if q.Header.Get("X-Amz-Copy-Source") != "" {
			copies = append(copies, q)
		}
	}
	if len(copies) != 1 {
		t.Fatalf("%d copy requests", len(copies))
	}
	etag := aws.ToString(s3test.Head(t, srv.Client, "src", "t.jpg").ETag)
	for h, want := range map[string]string{
		"X-Amz-Copy-Source": "src/t.jpg", "X-Amz-Copy-Source-If-Match": etag, "X-Amz-Metadata-Directive": "REPLACE",
		"X-Amz-Expected-Bucket-Owner": "222222222222", "X-Amz-Source-Expected-Bucket-Owner": "111111111111",
		"X-Amz-Request-Payer": "requester", "X-Amz-Server-Side-Encryption": "aws:kms",
		"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": key, "Content-Type": "image/jpeg", "X-Amz-Meta-Imgbatch-Copied": "true",
	} {
		if got := copies[0].Header.Get(h); got != want {
			t.Errorf("copy: %s = %q, want %q", h, got, want)
		}
	}
}

// TestCopyOfChangedSource: S3 refuses the copy (412) when the source is no
// longer the version read: the item fails, saying so.
func TestCopyOfChangedSource(t *testing.T) {
	s := newTestS3(t, "src", "out")
	s.put(t, "src", "t.jpg", tinyJPEG(t))
	s.faults.AddRule(&s3fault.Rule{Method: "PUT", Path: "/out/v1/web/t.jpg.jpg", Fault: s3fault.Error, Status: 412, Code: "PreconditionFailed", Times: -1})
	run := templRun(t, imgbatch.Variant{Name: "web", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, Quality: 95, KeepSmallerSource: true})
	r := processAll(t, context.Background(), newTestWorker(s, Config{}), run, items("src", "t.jpg")).results[0]
	if r.Status != imgbatch.StatusFailed || r.ErrorCode != CodeS3 || r.HTTPStatus != 412 || !strings.Contains(r.Message, "source changed") {
		t.Errorf("%s %s %d %q", r.Status, r.ErrorCode, r.HTTPStatus, r.Message)
	}
}

// TestKeepSmallerSourceCap: issue 16's case, a 1360x1020 JPEG of q60
// whose 1280 px JPEG at q82 is bigger than itself. Under
// keepSmallerSource the encoder lowers q until the output fits (fixed q,
// and auto with a quality target); without it the output is as before.
// A palette PNG whose resized PNG (no q) stays bigger is written and
// named in the message; where it fits the box it is copied.
func TestKeepSmallerSourceCap(t *testing.T) {
	s := newTestS3(t, "src", "out")
	src := testutil.JPEG(t, testutil.Photo(1360, 1020, 3), 60)
	s.put(t, "src", "p.jpg", src)
	pal := palettePNG(t, 1360, 1020)
	s.put(t, "src", "pal.png", pal)
	target := &imgbatch.QualityTarget{SSIM: 0.98}
	run := templRun(t,
		imgbatch.Variant{Name: "web", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, Quality: 82, KeepSmallerSource: true},
		imgbatch.Variant{Name: "auto", Width: 1280, Height: 1280, Format: imgbatch.FormatAuto, Formats: []string{"webp", "jpeg"}, Target: target, KeepSmallerSource: true},
		imgbatch.Variant{Name: "plain", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, Quality: 82})
	rs := succeeded(t, processAll(t, context.Background(), newTestWorker(s, Config{}), run, items("src", "p.jpg")), 1)
	size := int64(len(src))
	got := map[string]imgbatch.Output{}
	for _, o := range rs[0].Outputs {
		got[o.Variant] = o
		t.Logf("%s: %s q%d %d bytes (source %d) SSIM %.4f copied %v", o.Variant, o.Format, o.Quality, o.Bytes, size, o.Score, o.Copied)
	}
	if p := got["plain"]; p.Bytes <= size {
		t.Fatalf("plain q82: %d bytes, source %d: the test proves nothing", p.Bytes, size)
	}
	if o := got["web"]; o.Bytes > size || o.Copied || o.Quality >= 82 || o.Score <= 0 || o.Width != 1280 {
		t.Errorf("web: %+v, want a re-encode of at most %d bytes at q < 82, SSIM measured", o, size)
	}
	if o := got["auto"]; o.Bytes > size || o.Copied || o.Score <= 0 {
		t.Errorf("auto: %+v, want at most %d bytes", o, size)
	}
	for _, o := range rs[0].Outputs {
		if b := s.get(t, "out", o.Key); int64(len(b)) != o.Bytes {
			t.Errorf("%s: %d bytes stored, %d recorded", o.Key, len(b), o.Bytes)
		}
	}
	if rs[0].Message != "" {
		t.Errorf("message %q", rs[0].Message)
	}

	run = templRun(t,
		imgbatch.Variant{Name: "fit", Width: 2000, Height: 2000, Format: imgbatch.FormatPNG, KeepSmallerSource: true},
		imgbatch.Variant{Name: "web", Width: 1280, Height: 1280, Format: imgbatch.FormatPNG, KeepSmallerSource: true})
	r := succeeded(t, processAll(t, context.Background(), newTestWorker(s, Config{}), run, items("src", "pal.png")), 1)[0]
	if o := r.Outputs[0]; !o.Copied || o.Bytes != int64(len(pal)) {
		t.Errorf("fit: %+v, want a copy of the %d-byte source", o, len(pal))
	}
	o := r.Outputs[1]
	if o.Copied || o.Bytes <= int64(len(pal)) {
		t.Fatalf("web: %+v (source %d bytes): the test proves nothing", o, len(pal))
	}
	if !strings.Contains(r.Message, "bigger than its source: web png") || !strings.Contains(r.Message, "resizes") {
		t.Errorf("message %q, want web named bigger than its source", r.Message)
	}
}

// palettePNG is a 4-colour palette PNG of bands: tiny, and a resize makes
// it RGB with many colours (bigger).
func palettePNG(t *testing.T, w, h int) []byte {
	t.Helper()
	p := color.Palette{color.RGBA{200, 30, 30, 255}, color.RGBA{30, 200, 30, 255}, color.RGBA{30, 30, 200, 255}, color.RGBA{240, 240, 240, 255}}
	img := image.NewPaletted(image.Rect(0, 0, w, h), p)
	for y := range h {
		for x := range w {
			img.SetColorIndex(x, y, uint8((x/37+y/23)%4))
		}
	}
	return testutil.PNG(t, img)
}
