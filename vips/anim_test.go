package vips

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/sniff"
)

// animation is what libvips reads back of an image with every frame
// loaded (n=-1): the frame size, count, delays (ms) and loop count.
type animation struct {
	width, height, frames int
	delays                []int
	loop                  int
	img                   *govips.ImageRef
}

// readAnimation decodes b with every frame and checks the pure-Go sniff
// agrees on the frame count.
func readAnimation(t *testing.T, b []byte) animation {
	t.Helper()
	p := govips.NewImportParams()
	p.NumPages.Set(-1)
	img, err := govips.LoadImageFromBuffer(b, p)
	if err != nil {
		t.Fatalf("decode with every frame: %v", err)
	}
	t.Cleanup(img.Close)
	a := animation{width: img.Width(), height: img.PageHeight(), img: img}
	a.frames = img.Height() / a.height
	if a.frames > 1 {
		if a.delays, err = img.PageDelay(); err != nil {
			t.Fatalf("delays: %v", err)
		}
		a.loop = img.GetInt("loop")
	}
	info, err := sniff.Inspect(b)
	if err != nil {
		t.Fatalf("sniff: %v", err)
	}
	if max(info.Pages, 1) != a.frames {
		t.Fatalf("sniff counts %d frames, libvips %d", info.Pages, a.frames)
	}
	return a
}

// animatedSources are the two animations of the issue: a GIF made by
// scripts/make-anim-gif.go and the corpus' animated WebP.
func animatedSources(t *testing.T) map[string][]byte {
	t.Helper()
	gif, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "testdata", "anim", "gif-animated-6-frames.gif"))
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"gif":  gif,
		"webp": readCorpus(t, "webp-animated-rotating-squares.webp"),
	}
}

func renderWith(t *testing.T, src []byte, o options, vs ...imgbatch.Variant) []Result {
	t.Helper()
	info, err := sniff.Inspect(src)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := render(src, info.Format, vs, o)
	if err != nil {
		t.Fatalf("render %+v: %v", vs, err)
	}
	return rs
}

// TestAnimatedKeepsFramesDelaysLoop is the done-when: an animated
// GIF and an animated WebP become animated GIF and WebP outputs with the
// same frame count, delays and loop count, read back by decoding them.
func TestAnimatedKeepsFramesDelaysLoop(t *testing.T) {
	for name, src := range animatedSources(t) {
		in := readAnimation(t, src)
		if in.frames < 2 {
			t.Fatalf("%s: source has %d frames", name, in.frames)
		}
		for _, format := range []string{imgbatch.FormatGIF, imgbatch.FormatWebP} {
			for _, c := range configs {
				v := imgbatch.Variant{Name: "a", Width: 48, Height: 48, Format: format, Quality: 80}
				r := renderWith(t, src, c.o, v)[0]
				out := readAnimation(t, r.Data)
				what := name + "→" + format + " " + c.name
				if r.Format != format || r.Frames != in.frames || out.frames != in.frames {
					t.Errorf("%s: format %s, %d frames reported, %d decoded; want %s, %d", what, r.Format, r.Frames, out.frames, format, in.frames)
				}
				if !slices.Equal(out.delays, in.delays) || out.loop != in.loop {
					t.Errorf("%s: delays %v loop %d, want %v loop %d", what, out.delays, out.loop, in.delays, in.loop)
				}
				if out.width != r.Width || out.height != r.Height || max(r.Width, r.Height) != 48 {
					t.Errorf("%s: frames %dx%d, reported %dx%d, want 48 on the long side", what, out.width, out.height, r.Width, r.Height)
				}
			}
		}
	}
}

// redCentre is the mean x of the red pixels of each frame (-1 for a frame
// without any): the GIF's square walks right, so a cut shifts it.
func redCentre(t *testing.T, a animation) []float64 {
	t.Helper()
	pix, err := a.img.ToBytes() // 8-bit, bands interleaved, frames stacked
	if err != nil {
		t.Fatal(err)
	}
	nb := a.img.Bands()
	var out []float64
	for f := 0; f < a.frames; f++ {
		sum, n := 0.0, 0
		for y := 0; y < a.height; y++ {
			for x := 0; x < a.width; x++ {
				p := pix[((f*a.height+y)*a.width+x)*nb:]
				if p[0] > 180 && p[1] < 90 && p[2] < 90 && (nb < 4 || p[3] > 128) {
					sum += float64(x)
					n++
				}
			}
		}
		if n == 0 {
			out = append(out, -1)
		} else {
			out = append(out, sum/float64(n))
		}
	}
	return out
}

// TestAnimatedCoverCutsEveryFrameAlike: cover (centre and smart) cuts the
// same region of every frame: against the uncut frames at the same scale
// the red square moves by one constant offset.
func TestAnimatedCoverCutsEveryFrameAlike(t *testing.T) {
	src := animatedSources(t)["gif"] // 96x64: 48x32 at half scale
	for _, smart := range []bool{false, true} {
		rs := renderWith(t, src, defaults,
			imgbatch.Variant{Name: "uncut", Width: 48, Height: 32, Format: imgbatch.FormatWebP, Quality: 95},
			imgbatch.Variant{Name: "cover", Width: 32, Height: 32, Fit: imgbatch.FitCover, SmartCrop: smart, Format: imgbatch.FormatWebP, Quality: 95})
		uncut, cover := readAnimation(t, rs[0].Data), readAnimation(t, rs[1].Data)
		if cover.width != 32 || cover.height != 32 || cover.frames != 6 || rs[1].Frames != 6 {
			t.Fatalf("smart %v: cover is %d frames of %dx%d, want 6 of 32x32", smart, cover.frames, cover.width, cover.height)
		}
		a, b := redCentre(t, uncut), redCentre(t, cover)
		shift := []float64{}
		for f := range a {
			if a[f] >= 0 && b[f] >= 4.5 && b[f] <= 27.5 { // the 8 px square wholly inside the cut
				shift = append(shift, a[f]-b[f])
			}
		}
		if len(shift) < 2 {
			t.Fatalf("smart %v: square inside the cut in %d frames (%v / %v)", smart, len(shift), a, b)
		}
		for _, s := range shift {
			if s < shift[0]-1 || s > shift[0]+1 || s < -0.5 || s > 16.5 {
				t.Errorf("smart %v: frames cut at different places: offsets %v (uncut %v, cover %v)", smart, shift, a, b)
				break
			}
		}
		if !smart && (shift[0] < 7 || shift[0] > 9) {
			t.Errorf("centre cut at %.1f, want 8 (48 → 32 wide)", shift[0])
		}
	}
}

// TestAnimatedContainAndFill: contain pads every frame to the box
// (transparent), fill stretches every frame.
func TestAnimatedContainAndFill(t *testing.T) {
	src := animatedSources(t)["gif"]
	rs := renderWith(t, src, defaults,
		imgbatch.Variant{Name: "contain", Width: 64, Height: 64, Fit: imgbatch.FitContain, Format: imgbatch.FormatGIF},
		imgbatch.Variant{Name: "fill", Width: 40, Height: 40, Fit: imgbatch.FitFill, Format: imgbatch.FormatWebP, Quality: 90})
	c, f := readAnimation(t, rs[0].Data), readAnimation(t, rs[1].Data)
	if c.width != 64 || c.height != 64 || c.frames != 6 {
		t.Fatalf("contain: %d frames of %dx%d, want 6 of 64x64", c.frames, c.width, c.height)
	}
	if f.width != 40 || f.height != 40 || f.frames != 6 {
		t.Fatalf("fill: %d frames of %dx%d, want 6 of 40x40", f.frames, f.width, f.height)
	}
	// A box the frames fit exactly: nothing to cut or pad.
	for _, fit := range []string{imgbatch.FitCover, imgbatch.FitContain} {
		r := renderWith(t, src, defaults, imgbatch.Variant{Name: fit, Width: 96, Height: 64, Fit: fit, Format: imgbatch.FormatWebP, Quality: 90})[0]
		if a := readAnimation(t, r.Data); a.width != 96 || a.height != 64 || a.frames != 6 {
			t.Errorf("%s 96x64: %d frames of %dx%d, want 6 of 96x64", fit, a.frames, a.width, a.height)
		}
	}
	// 96x64 in 64x64 is 64x43: ~10 rows of padding above and below.
	for fr := 0; fr < c.frames; fr++ {
		top, mid := pixel(t, c.img, 32, fr*64+2), pixel(t, c.img, 32, fr*64+32)
		if len(top) < 4 || top[3] != 0 || mid[3] != 255 {
			t.Errorf("contain frame %d: top %v, middle %v: want transparent padding around an opaque frame", fr, top, mid)
		}
	}
}

// TestAnimatedFirstFrameWhereAsked: animated false, JPEG, PNG and AVIF
// variants get the first frame, beside animated ones in the same render
// (every strategy).
func TestAnimatedFirstFrameWhereAsked(t *testing.T) {
	off := false
	for name, src := range animatedSources(t) {
		vs := []imgbatch.Variant{
			{Name: "anim", Width: 40, Height: 40, Format: imgbatch.FormatWebP, Quality: 80},
			{Name: "still", Width: 40, Height: 40, Format: imgbatch.FormatGIF, Animated: &off},
			{Name: "jpeg", Width: 40, Height: 40, Format: imgbatch.FormatJPEG, Quality: 80},
			{Name: "png", Width: 30, Height: 30, Format: imgbatch.FormatPNG},
		}
		for _, c := range configs {
			rs := renderWith(t, src, c.o, vs...)
			for i, r := range rs {
				out := readAnimation(t, r.Data)
				want := 1
				if i == 0 {
					want = readAnimation(t, src).frames
				}
				if out.frames != want || r.Frames != want {
					t.Errorf("%s %s %s: %d frames (reported %d), want %d", name, c.name, vs[i].Name, out.frames, r.Frames, want)
				}
				if out.width != r.Width || out.height != r.Height {
					t.Errorf("%s %s %s: frame %dx%d, reported %dx%d", name, c.name, vs[i].Name, out.width, out.height, r.Width, r.Height)
				}
			}
		}
	}
}

// TestGIFOutputOfStills: GIF is an output format for any source.
func TestGIFOutputOfStills(t *testing.T) {
	src := encodeJPEG(t, scene(200, 100, 80, 30, 40))
	r := renderOne(t, src, imgbatch.Variant{Name: "g", Width: 100, Format: imgbatch.FormatGIF})
	out := readAnimation(t, r.Data)
	if r.Format != imgbatch.FormatGIF || r.Frames != 1 || out.frames != 1 || out.width != 100 || out.height != 50 {
		t.Fatalf("GIF of a JPEG: %s, %d frames of %dx%d", r.Format, out.frames, out.width, out.height)
	}
	if p := pixel(t, out.img, 50, 25); p[0] < 180 || p[1] > 90 {
		t.Errorf("the red square is %v in the GIF", p)
	}
}

// TestAnimatedReleasesEverything: the animated path leaves no libvips
// object behind, on success and on a corrupt animation.
func TestAnimatedReleasesEverything(t *testing.T) {
	srcs := animatedSources(t)
	cut := srcs["webp"][:len(srcs["webp"])*2/3]
	vs := []imgbatch.Variant{
		{Name: "a", Width: 32, Height: 32, Fit: imgbatch.FitCover, SmartCrop: true, Format: imgbatch.FormatGIF},
		{Name: "b", Width: 50, Height: 50, Fit: imgbatch.FitContain, Format: imgbatch.FormatWebP},
		{Name: "c", Width: 20, Format: imgbatch.FormatJPEG},
		// The search over frames, and its probes read back.
		{Name: "d", Width: 40, Format: imgbatch.FormatAuto, Formats: []string{"gif", "webp"}, Target: target(0.98)},
	}
	run := func() {
		for _, src := range srcs {
			renderWith(t, src, defaults, vs...)
		}
		if _, err := render(cut, sniff.WebP, vs, defaults); err == nil {
			t.Fatal("an animated WebP cut at two thirds rendered")
		}
	}
	run()
	before := liveObjects()
	for i := 0; i < 3; i++ {
		run()
	}
	if after := liveObjects(); after != before {
		t.Errorf("libvips objects alive: %d before, %d after 3 rounds", before, after)
	}
}
