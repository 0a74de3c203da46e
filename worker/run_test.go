package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/localstack"
)

// TestWholeRunPictureAndSavings runs a plan through batch's runner and
// this worker (real libvips, the SDK against the embedded S3 of imgbatch
// local, s3disk, whose copy is checked too) and reads what
// the finalizer wrote: picture.jsonl has each source's chosen formats,
// keys and sizes in <picture> order, and summary.json and report.html the
// bytes in and out, copies and format mix per variant. The recipe: an auto
// thumb and a keepSmallerSource web jpeg q95, over a tiny JPEG (copied),
// a rotated one (re-encoded) and a PNG (re-encoded: not a format of web).
func TestWholeRunPictureAndSavings(t *testing.T) {
	ctx := context.Background()
	srv, err := localstack.StartS3(filepath.Join(t.TempDir(), "s3"), "work", "src", "out")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client := s3test.NewClient(srv.URL)
	tiny := tinyJPEG(t)
	srcs := map[string][]byte{"a/tiny.jpg": tiny, "a/rot.jpg": withOrientation(tiny, 6), "b/p.png": photo(t, 300, 200, true)}
	var its []imgbatch.Item
	var bytesIn int64
	for _, k := range []string{"a/tiny.jpg", "a/rot.jpg", "b/p.png"} {
		s3test.Put(t, client, "src", k, srcs[k])
		its = append(its, imgbatch.Item{Bucket: "src", Key: k})
		bytesIn += int64(len(srcs[k]))
	}
	store := &batch.Store{S3: client, Bucket: "work"}
	recipe := imgbatch.Recipe{Name: "pic", Variants: []imgbatch.Variant{
		{Name: "thumb", Width: 64, Height: 64, Format: imgbatch.FormatAuto, Formats: []string{"webp", "png"}},
		{Name: "web", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, Quality: 95, KeepSmallerSource: true}}}
	p, err := store.PlanRun(ctx, itemtest.NewSource(its...), batch.PlanOptions{OutputBucket: "out", OutputPrefix: "v1", Recipe: recipe, ShardSize: 2, Width: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := &batch.Runner{Store: store, RunID: p.Run.ID, Me: batch.Identity{JobID: "j", ArraySize: 1, Attempt: 1},
		Processor: New(client, Config{Processors: 1}), LeaseTTL: 5 * time.Second, Poll: 20 * time.Millisecond, Linger: true}
	if st, err := r.Run(ctx); err != nil || !st.Finalized {
		t.Fatalf("run: %+v %v", st, err)
	}
	lay := imgbatch.Layout{RunID: p.Run.ID}

	pics := map[string]batch.Picture{}
	b, _, err := store.Get(ctx, lay.Picture())
	if err != nil {
		t.Fatal(err)
	}
	for sc := bufio.NewScanner(bytes.NewReader(b)); sc.Scan(); {
		var pic batch.Picture
		if err := json.Unmarshal(sc.Bytes(), &pic); err != nil {
			t.Fatalf("picture.jsonl: %v: %s", err, sc.Bytes())
		}
		pics[pic.Key] = pic
	}
	if len(pics) != 3 {
		t.Fatalf("picture.jsonl has %d sources, want 3:\n%s", len(pics), b)
	}
	tp := pics["a/tiny.jpg"]
	if len(tp.Variants) != 2 || !tp.Variants[1].Copied || tp.Variants[1].Bytes != int64(len(tiny)) || tp.Variants[1].Key != "v1/web/a/tiny.jpg.jpg" {
		t.Errorf("tiny.jpg: %+v", tp.Variants)
	}
	th := tp.Variants[0]
	if th.Key != "v1/thumb/a/tiny.jpg."+imgbatch.Ext(th.Format) || th.Type != imgbatch.ContentType(th.Format) || th.Width != 64 {
		t.Errorf("tiny.jpg thumb: %+v", th)
	}
	// <source> of the thumb's type first, then the jpeg; the <img> is the
	// largest jpeg (web, 200 wide).
	if n := len(tp.Sources); n != 2 || tp.Sources[0].Type != th.Type || tp.Sources[1].Type != "image/jpeg" ||
		tp.Img != (batch.PictureImg{Key: "v1/web/a/tiny.jpg.jpg", Width: 200, Height: 150}) {
		t.Errorf("tiny.jpg picture: %+v img %+v", tp.Sources, tp.Img)
	}
	// The copy on s3disk: the source's bytes with the worker's headers only.
	h := s3test.Head(t, client, "out", "v1/web/a/tiny.jpg.jpg")
	if aws.ToString(h.ContentType) != "image/jpeg" || aws.ToString(h.CacheControl) != DefaultCacheControl ||
		!maps.Equal(h.Metadata, map[string]string{MetaCopied: "true", MetaFormat: "jpeg", MetaRecipeHash: p.Run.RecipeHash, MetaRunID: p.Run.ID,
			MetaSourceBucket: "src", MetaSourceKey: "a%2Ftiny.jpg", MetaSourceETag: strings.Trim(aws.ToString(h.ETag), `"`)}) {
		t.Errorf("copy's headers: %s %s %v", aws.ToString(h.ContentType), aws.ToString(h.CacheControl), h.Metadata)
	}
	if v := pics["a/rot.jpg"].Variants[1]; v.Copied || v.Width != 150 || v.Height != 200 {
		t.Errorf("rotated: %+v, want an upright re-encode", v)
	}
	if v := pics["b/p.png"].Variants[1]; v.Copied || v.Format != "jpeg" {
		t.Errorf("png: %+v", v)
	}

	var sum batch.Summary
	b, _, err = store.Get(ctx, lay.Summary())
	if err != nil || json.Unmarshal(b, &sum) != nil {
		t.Fatalf("summary.json: %v\n%s", err, b)
	}
	if sum.Final.Picture != lay.Picture() || len(sum.Variants) != 2 {
		t.Fatalf("summary: picture %q, variants %+v", sum.Final.Picture, sum.Variants)
	}
	web := sum.Variants[1]
	var webOut int64
	for _, pic := range pics {
		webOut += pic.Variants[1].Bytes
	}
	if web.Variant != "web" || web.Outputs != 3 || web.Copies != 1 || web.BytesIn != bytesIn || web.BytesOut != webOut ||
		web.Saved != bytesIn-webOut || web.Formats["jpeg"] != 3 {
		t.Errorf("web figures %+v (bytes in %d, out %d)", web, bytesIn, webOut)
	}
	if thumb := sum.Variants[0]; thumb.Outputs != 3 || thumb.Copies != 0 || thumb.Formats[th.Format] != 3 {
		t.Errorf("thumb figures %+v", thumb)
	}

	b, _, err = store.Get(ctx, lay.HTML())
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{`<table id="variants">`, "<td>web</td><td>3</td>", "jpeg 3", `<pre id="picture">`,
		"&lt;source type=&#34;" + th.Type, "v1/web/a/tiny.jpg.jpg 200w"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}
