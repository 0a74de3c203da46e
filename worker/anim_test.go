package worker

import (
	"bytes"
	"context"
	"encoding/binary"
	"image/gif"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
)

// timing is an animation as an independent reader sees it: frame delays
// in ms and how many times it plays (0: forever).
type timing struct {
	delays []int
	plays  int
}

// gifTiming reads a GIF with Go's image/gif, not libvips.
func gifTiming(t *testing.T, b []byte) timing {
	t.Helper()
	g, err := gif.DecodeAll(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("image/gif: %v", err)
	}
	// LoopCount is NETSCAPE's repetitions: 0 forever, -1 none (once).
	tm := timing{plays: g.LoopCount + 1}
	if g.LoopCount == 0 {
		tm.plays = 0
	}
	for _, d := range g.Delay {
		tm.delays = append(tm.delays, d*10)
	}
	return tm
}

// webpTiming walks a WebP's chunks: ANIM's loop count, each ANMF's
// duration (24 bits at offset 12 of its payload).
func webpTiming(t *testing.T, b []byte) timing {
	t.Helper()
	var tm timing
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		t.Fatal("not a WebP")
	}
	for off := 12; off+8 <= len(b); {
		size := int(binary.LittleEndian.Uint32(b[off+4:]))
		p := b[off+8 : min(len(b), off+8+size)]
		switch string(b[off : off+4]) {
		case "ANIM":
			tm.plays = int(binary.LittleEndian.Uint16(p[4:])) // 0: forever
		case "ANMF":
			tm.delays = append(tm.delays, int(p[12])|int(p[13])<<8|int(p[14])<<16)
		}
		off += 8 + size + size&1
	}
	return tm
}

func timingOf(t *testing.T, format string, b []byte) timing {
	t.Helper()
	if format == imgbatch.FormatGIF {
		return gifTiming(t, b)
	}
	return webpTiming(t, b)
}

func animGIF(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "testdata", "anim", "gif-animated-6-frames.gif"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnimatedOutputs: through the whole worker (S3 in, libvips, S3 out),
// an animated GIF and an animated WebP become animated GIF and WebP
// outputs with the source's frame count, delays and loop, read back from
// S3 by decoders other than libvips; the result records the frames; a
// JPEG variant of the same recipe gets the first frame.
func TestAnimatedOutputs(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{})
	run := testRun(t,
		imgbatch.Variant{Name: "g", Width: 48, Height: 48, Format: imgbatch.FormatGIF},
		imgbatch.Variant{Name: "w", Width: 40, Height: 40, Fit: imgbatch.FitCover, Format: imgbatch.FormatWebP},
		imgbatch.Variant{Name: "j", Width: 48, Height: 48, Format: imgbatch.FormatJPEG})
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
			data := s.get(t, "out", out.Key)
			if ct := *s.head(t, "out", out.Key).ContentType; ct != imgbatch.ContentType(v.Format) || out.Format != v.Format {
				t.Errorf("%s %s: Content-Type %q, result format %q", k, v.Name, ct, out.Format)
			}
			if v.Format == imgbatch.FormatJPEG {
				if out.Frames != 0 {
					t.Errorf("%s %s: frames %d recorded for a JPEG", k, v.Name, out.Frames)
				}
				continue
			}
			got := timingOf(t, v.Format, data)
			if out.Frames != len(in.delays) || !slices.Equal(got.delays, in.delays) {
				t.Errorf("%s → %s: %d frames recorded, delays %v; want %d frames, %v", k, v.Name, out.Frames, got.delays, len(in.delays), in.delays)
			}
			if got.plays != in.plays {
				t.Errorf("%s → %s: plays %d times, want %d (0: forever)", k, v.Name, got.plays, in.plays)
			}
		}
	}
}

// TestAnimationBudgets: the guard's budgets hold for the whole animation:
// the frame budget refuses the corpus' 10,000-frame GIF and a GIF over a
// smaller one; the total-pixel budget counts every frame (six 96x64
// frames are 36,864 pixels); within both, the same GIF renders animated.
func TestAnimationBudgets(t *testing.T) {
	off := false
	cases := []struct {
		name   string
		cfg    Config
		src    []byte
		vs     []imgbatch.Variant
		code   string
		inMsg  string
		frames int
	}{
		{"10000 frames, default budget", Config{}, testutil.BadImage(t, "gif-10000-frames-1x1.gif"), nil, CodeTooManyPix, "10000 frames of 1x1, over the 1000-frame budget", 0},
		{"6 frames, budget 5", Config{MaxFrames: 5}, animGIF(t), nil, CodeTooManyPix, "6 frames", 0},
		{"6 frames, budget 5, animated false", Config{MaxFrames: 5}, animGIF(t),
			[]imgbatch.Variant{{Name: "w", Width: 32, Format: imgbatch.FormatWebP, Animated: &off}}, CodeTooManyPix, "6 frames", 0},
		{"36,864 px over a total of 30,000", Config{MaxPixels: 10_000, MaxTotalPixels: 30_000}, animGIF(t), nil, CodeTooManyPix, "budget for all frames", 0},
		{"within both", Config{MaxPixels: 10_000, MaxTotalPixels: 40_000, MaxFrames: 6}, animGIF(t), nil, "", "", 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newTestS3(t, "src", "out")
			w := newTestWorker(s, c.cfg)
			vs := c.vs
			if vs == nil {
				vs = []imgbatch.Variant{{Name: "w", Width: 32, Format: imgbatch.FormatWebP}}
			}
			run := testRun(t, vs...)
			s.put(t, "src", "x.gif", c.src)
			o := processAll(t, context.Background(), w, run, items("src", "x.gif"))
			if o.err != nil {
				t.Fatal(o.err)
			}
			r := o.results[0]
			if c.code == "" {
				if r.Status != imgbatch.StatusSucceeded || r.Outputs[0].Frames != c.frames {
					t.Fatalf("%s %s %q, outputs %+v; want succeeded with %d frames", r.Status, r.ErrorCode, r.Message, r.Outputs, c.frames)
				}
				return
			}
			if r.Status != imgbatch.StatusFailed || r.ErrorCode != c.code || !strings.Contains(r.Message, c.inMsg) {
				t.Fatalf("%s %s %q; want failed %s with %q", r.Status, r.ErrorCode, r.Message, c.code, c.inMsg)
			}
		})
	}
}

// TestAnimationItemDeadline: the item deadline covers the whole animation:
// a real render of big GIF frames (six 96x64 frames enlarged to 960x640,
// each quantised to a palette: 1-5 s of CPU) fails as Timeout at a 150 ms
// deadline, and the abandoned libvips call is counted stuck until it
// returns.
func TestAnimationItemDeadline(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{ItemTimeout: 150 * time.Millisecond})
	run := testRun(t, imgbatch.Variant{Name: "big", Width: 960, Upscale: true, Format: imgbatch.FormatGIF})
	s.put(t, "src", "a.gif", animGIF(t))
	o := processAll(t, context.Background(), w, run, items("src", "a.gif"))
	if o.err != nil {
		t.Fatal(o.err)
	}
	if r := o.results[0]; r.Status != imgbatch.StatusFailed || r.ErrorCode != CodeTimeout {
		t.Fatalf("%s %s %q, want failed Timeout", r.Status, r.ErrorCode, r.Message)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for w.stuck.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := w.stuck.Load(); n != 0 {
		t.Fatalf("%d stuck calls two minutes on", n)
	}
	noLeaks(t)
}
