package worker

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// TestAnimatedAutoOutputs: through the worker and S3, format auto on an
// animated GIF and WebP writes an animated output in the format it chose
// among the candidates that hold frames: the key's extension, the
// Content-Type and the format metadata follow that choice; frames, delays
// and loop are the source's (read by image/gif and a WebP chunk walk);
// the default target is met. A list with no such candidate gets the first
// frame. Under keepSmallerSource the output is never bigger than its
// source, and still animated.
func TestAnimatedAutoOutputs(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{})
	run := testRun(t,
		imgbatch.Variant{Name: "auto", Width: 48, Height: 48, Format: imgbatch.FormatAuto},
		imgbatch.Variant{Name: "gw", Width: 48, Height: 48, Format: imgbatch.FormatAuto, Formats: []string{"gif", "webp"}},
		imgbatch.Variant{Name: "still", Width: 48, Height: 48, Format: imgbatch.FormatAuto, Formats: []string{"avif", "jpeg"}},
		imgbatch.Variant{Name: "keep", Width: 200, Height: 200, Format: imgbatch.FormatAuto, KeepSmallerSource: true})
	srcs := map[string][]byte{
		"a.gif":  animGIF(t),
		"b.webp": testutil.BadImage(t, "webp-animated-rotating-squares.webp"),
	}
	keys := []string{"a.gif", "b.webp"}
	for k, b := range srcs {
		s.put(t, "src", k, b)
	}
	o := processAll(t, context.Background(), w, run, items("src", keys...))
	if o.err != nil {
		t.Fatal(o.err)
	}
	for i, k := range keys {
		r := o.results[i]
		if r.Status != imgbatch.StatusSucceeded {
			t.Fatalf("%s: %s %s %q", k, r.Status, r.ErrorCode, r.Message)
		}
		in := timingOf(t, map[bool]string{true: imgbatch.FormatGIF, false: imgbatch.FormatWebP}[strings.HasSuffix(k, ".gif")], srcs[k])
		for vi, v := range run.Recipe.Variants {
			out := r.Outputs[vi]
			what := k + " " + v.Name
			t.Logf("%s: %s q%d score %.4f, %d frames, %d bytes (source %d), copied %v", what, out.Format, out.Quality, out.Score, out.Frames, out.Bytes, len(srcs[k]), out.Copied)
			data := s.get(t, "out", out.Key)
			h := s.head(t, "out", out.Key)
			if !strings.HasSuffix(out.Key, "."+imgbatch.Ext(out.Format)) || aws.ToString(h.ContentType) != imgbatch.ContentType(out.Format) ||
				h.Metadata[MetaFormat] != out.Format || !slices.Contains(v.OutputFormats(), out.Format) {
				t.Errorf("%s: key %s, Content-Type %q, metadata format %q, result %s (candidates %v)",
					what, out.Key, aws.ToString(h.ContentType), h.Metadata[MetaFormat], out.Format, v.OutputFormats())
			}
			if got, _ := sniff.Inspect(data); string(got.Format) != out.Format {
				t.Errorf("%s: holds %s, recorded %s", what, got.Format, out.Format)
			}
			if v.Name == "still" {
				if out.Frames != 0 || out.Format == imgbatch.FormatGIF || out.Format == imgbatch.FormatWebP {
					t.Errorf("%s: %s with %d frames; want the first frame as AVIF or JPEG", what, out.Format, out.Frames)
				}
				continue
			}
			got := timingOf(t, out.Format, data)
			if out.Frames != len(in.delays) || !slices.Equal(got.delays, in.delays) || got.plays != in.plays {
				t.Errorf("%s: %d frames recorded, delays %v plays %d; want %d, %v plays %d", what, out.Frames, got.delays, got.plays, len(in.delays), in.delays, in.plays)
			}
			if v.KeepSmallerSource {
				if out.Bytes > int64(len(srcs[k])) || int64(len(data)) != out.Bytes {
					t.Errorf("%s: %d bytes (%d stored) over its %d-byte source", what, out.Bytes, len(data), len(srcs[k]))
				}
				continue
			}
			if out.Score < imgbatch.DefaultSSIM {
				t.Errorf("%s: score %.4f under the default target %.2f", what, out.Score, imgbatch.DefaultSSIM)
			}
		}
	}
}

// photoWebP is an animated WebP of n photo-like 160x120 frames at a low
// q: a source smaller than what a 0.98 target writes from it.
func photoWebP(t *testing.T, n, q int) []byte {
	t.Helper()
	g := &gif.GIF{}
	for f := range n {
		p := image.NewPaletted(image.Rect(0, 0, 160, 120), palette.Plan9)
		draw.FloydSteinberg.Draw(p, p.Bounds(), testutil.Photo(160, 120, f), image.Point{})
		g.Image, g.Delay = append(g.Image, p), append(g.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	vips.Start(vips.Config{})
	rs, err := vips.Render(buf.Bytes(), sniff.GIF, []imgbatch.Variant{{Name: "s", Width: 160, Format: imgbatch.FormatWebP, Quality: q}})
	if err != nil || rs[0].Frames != n {
		t.Fatalf("source: %v, %+v", err, rs)
	}
	return rs[0].Data
}

// TestAnimatedKeepSmallerSource: an animated source that a 0.98 target
// would grow is never outgrown: where the variant keeps its size and
// format, the source itself is copied (animated, all frames); where it
// must be resized, q is searched down under the source's size and the
// output stays animated.
func TestAnimatedKeepSmallerSource(t *testing.T) {
	s := newTestS3(t, "src", "out")
	src := photoWebP(t, 6, 20)
	s.put(t, "src", "p.webp", src)
	run := testRun(t,
		imgbatch.Variant{Name: "same", Width: 200, Height: 200, Format: imgbatch.FormatAuto, KeepSmallerSource: true},
		imgbatch.Variant{Name: "smaller", Width: 150, Height: 150, Format: imgbatch.FormatAuto, KeepSmallerSource: true},
		imgbatch.Variant{Name: "free", Width: 150, Height: 150, Format: imgbatch.FormatAuto})
	o := processAll(t, context.Background(), newTestWorker(s, Config{}), run, items("src", "p.webp"))
	if o.err != nil {
		t.Fatal(o.err)
	}
	r := o.results[0]
	if r.Status != imgbatch.StatusSucceeded {
		t.Fatalf("%s %s %q", r.Status, r.ErrorCode, r.Message)
	}
	for i, out := range r.Outputs {
		data := s.get(t, "out", out.Key)
		t.Logf("%s: %s q%d score %.4f, %d frames, %d bytes (source %d), copied %v", out.Variant, out.Format, out.Quality, out.Score, out.Frames, len(data), len(src), out.Copied)
		if got := webpTiming(t, data); out.Format != imgbatch.FormatWebP || out.Frames != 6 || len(got.delays) != 6 {
			t.Errorf("%s: %s, %d frames recorded, %d stored; want an animated WebP of 6", out.Variant, out.Format, out.Frames, len(got.delays))
		}
		switch run.Recipe.Variants[i].Name {
		case "same":
			if !out.Copied || !bytes.Equal(data, src) {
				t.Errorf("same: copied %v, %d bytes; want the source's own %d", out.Copied, len(data), len(src))
			}
		case "smaller":
			if out.Copied || len(data) > len(src) {
				t.Errorf("smaller: copied %v, %d bytes; want a resized output within the source's %d", out.Copied, len(data), len(src))
			}
		case "free":
			if len(data) <= len(src) {
				t.Errorf("free: %d bytes, the source %d: the cap was never tested (the target did not grow it)", len(data), len(src))
			}
		}
	}
}

// withRepeatedFrame copies the second ANMF chunk of an animated WebP
// after itself: a frame equal to the one before, as other tools than
// libwebp may write (libwebp folds such a frame into the one before).
func withRepeatedFrame(t *testing.T, b []byte) []byte {
	t.Helper()
	out := append([]byte{}, b[:12]...)
	anmf := 0
	for off := 12; off+8 <= len(b); {
		size := int(binary.LittleEndian.Uint32(b[off+4:]))
		end := min(len(b), off+8+size+size&1)
		out = append(out, b[off:end]...)
		if string(b[off:off+4]) == "ANMF" {
			if anmf++; anmf == 2 {
				out = append(out, b[off:end]...)
			}
		}
		off = end
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out
}

// TestAnimatedCopyWithRepeatedFrame: a source whose animation repeats a
// frame, re-encoded, holds one frame fewer (folded) yet is the same
// animation: keepSmallerSource still copies the source.
func TestAnimatedCopyWithRepeatedFrame(t *testing.T) {
	s := newTestS3(t, "src", "out")
	src := withRepeatedFrame(t, photoWebP(t, 6, 20))
	if info, err := sniff.Inspect(src); err != nil || info.Pages != 7 {
		t.Fatalf("the source: %+v, %v; want 7 frames", info, err)
	}
	s.put(t, "src", "r.webp", src)
	run := testRun(t, imgbatch.Variant{Name: "same", Width: 200, Height: 200, Format: imgbatch.FormatAuto, KeepSmallerSource: true})
	o := processAll(t, context.Background(), newTestWorker(s, Config{}), run, items("src", "r.webp"))
	if o.err != nil {
		t.Fatal(o.err)
	}
	r := o.results[0]
	if r.Status != imgbatch.StatusSucceeded || !r.Outputs[0].Copied || !bytes.Equal(s.get(t, "out", r.Outputs[0].Key), src) {
		t.Fatalf("%s %q, outputs %+v; want the 7-frame source copied", r.Status, r.Message, r.Outputs)
	}
}
