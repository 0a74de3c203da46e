package vips

import (
	"bytes"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"slices"
	"testing"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/sniff"
)

// flatThenPhotoGIF is an animation whose first frame is one flat grey
// and whose other frames are photo-like: a search that scored the first
// frame alone would settle on the lowest q.
func flatThenPhotoGIF(t testing.TB, w, h, n int) []byte {
	t.Helper()
	g := &gif.GIF{}
	for f := 0; f < n; f++ {
		p := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
		if f == 0 {
			draw.Draw(p, p.Bounds(), image.NewUniform(color.Gray{128}), image.Point{}, draw.Src)
		} else {
			draw.FloydSteinberg.Draw(p, p.Bounds(), testutil.Photo(w, h, f), image.Point{})
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// framePlanes decodes every frame of an animation (govips, n=-1) into the
// test's own planes, one per frame.
func framePlanes(t *testing.T, data []byte) []planes {
	t.Helper()
	a := readAnimation(t, data)
	pix, err := a.img.ToBytes()
	if err != nil {
		t.Fatal(err)
	}
	bands, n := a.img.Bands(), a.width*a.height
	var out []planes
	for f := 0; f < a.frames; f++ {
		p := planes{w: a.width, h: a.height}
		for i := 0; i < n; i++ {
			s := pix[(f*n+i)*bands : (f*n+i+1)*bands]
			y := float64(s[0])
			if bands >= 3 {
				y = 0.299*float64(s[0]) + 0.587*float64(s[1]) + 0.114*float64(s[2])
			}
			if bands == 2 || bands == 4 {
				al := float64(s[bands-1])
				y = (y*al + 255*(255-al)) / 255
				p.a = append(p.a, al)
			}
			p.y = append(p.y, y)
		}
		out = append(out, p)
	}
	return out
}

// frameScores is the SSIM of every frame of out against ref (the same
// roll, lossless), luma and alpha (the lesser), as measure does stills.
func frameScores(t *testing.T, out, ref []byte) []float64 {
	t.Helper()
	a, b := framePlanes(t, ref), framePlanes(t, out)
	if len(a) != len(b) || a[0].w != b[0].w || a[0].h != b[0].h {
		t.Fatalf("output %d frames of %dx%d, reference %d of %dx%d", len(b), b[0].w, b[0].h, len(a), a[0].w, a[0].h)
	}
	var s []float64
	for f := range a {
		v := ssimOf(a[f].y, b[f].y, a[f].w, a[f].h)
		if a[f].a != nil && b[f].a != nil {
			v = min(v, ssimOf(a[f].a, b[f].a, a[f].w, a[f].h))
		}
		s = append(s, v)
	}
	return s
}

// losslessFrames is variant v rendered as a lossless animated WebP: the
// roll the search compared its probes with.
func losslessFrames(t *testing.T, src []byte, v imgbatch.Variant) []byte {
	t.Helper()
	v.Format, v.Formats, v.Target, v.Quality = imgbatch.FormatWebP, nil, nil, 0
	v.Encoder = &imgbatch.EncoderOptions{Lossless: true}
	return renderWith(t, src, defaults, v)[0].Data
}

// sampled is the frames of n that search.c scores (frames.c's rule).
func sampled(n int) []int {
	k := min(n, 8)
	if k == 1 {
		return []int{0}
	}
	idx := make([]int, k)
	for i := range idx {
		idx[i] = int(float64(i*(n-1))/float64(k-1) + 0.5)
	}
	return idx
}

// TestAnimatedTargetOverFrames: a quality target on an animated variant
// is met by every frame, not the first alone: on an animation whose first
// frame is flat (any q passes it) the output's worst frame, measured
// here apart from search.c, meets the target, and the reported score is
// the lowest of the scored frames.
func TestAnimatedTargetOverFrames(t *testing.T) {
	srcs := map[string][]byte{"flat-then-photo": flatThenPhotoGIF(t, 160, 120, 6)}
	for k, b := range animatedSources(t) {
		srcs[k] = b
	}
	for name, src := range srcs {
		v := imgbatch.Variant{Name: "t", Width: 160, Height: 160, Format: imgbatch.FormatWebP, Target: target(0.98)}
		r := renderWith(t, src, defaults, v)[0]
		scores := frameScores(t, r.Data, losslessFrames(t, src, v))
		low := slices.Min(scores)
		var lowSampled = 1.0
		for _, i := range sampled(len(scores)) {
			lowSampled = min(lowSampled, scores[i])
		}
		t.Logf("%s: webp q%d, %d bytes, %d frames, reported %.4f, worst frame %.4f (scores %.4f)", name, r.Quality, len(r.Data), r.Frames, r.Score, low, scores)
		if r.Frames != len(scores) || r.Frames < 6 {
			t.Errorf("%s: %d frames reported, %d decoded", name, r.Frames, len(scores))
		}
		if low < 0.98-2e-3 {
			t.Errorf("%s: worst frame scores %.4f under the 0.98 target (q%d, scores %.4f)", name, low, r.Quality, scores)
		}
		if d := r.Score - lowSampled; d > 2e-3 || d < -2e-3 {
			t.Errorf("%s: reported %.4f, the scored frames' lowest measures %.4f", name, r.Score, lowSampled)
		}
	}
}

// TestAnimatedAutoSmallest: format auto on an animated source searches
// the candidates that hold frames (WebP, a listed GIF) at the target and
// keeps the smallest that passes (on web-safe frames only GIF passes:
// WebP's q95 falls short), animated, with the source's timing; a
// list without such a candidate (AVIF, JPEG: no AVIF sequence in this
// libvips) gets the first frame.
func TestAnimatedAutoSmallest(t *testing.T) {
	srcs := animatedSources(t)
	// Web-safe colours, flat areas: GIF meets the target smaller.
	srcs["websafe"] = benchGIF(t, 240, 135, 6)
	gifWins := false
	for name, src := range srcs {
		in := readAnimation(t, src)
		base := imgbatch.Variant{Name: "a", Width: 128, Height: 128, Format: imgbatch.FormatAuto, Target: target(0.98)}
		// Each candidate alone, as the search makes it.
		alone := map[string]Result{}
		for _, f := range []string{imgbatch.FormatWebP, imgbatch.FormatGIF} {
			v := base
			v.Format = f
			alone[f] = renderWith(t, src, defaults, v)[0]
		}
		want := imgbatch.FormatWebP
		w, g := alone[imgbatch.FormatWebP], alone[imgbatch.FormatGIF]
		if g.Score >= 0.98 && (w.Score < 0.98 || len(g.Data) < len(w.Data)) {
			want = imgbatch.FormatGIF
			gifWins = true
		}
		for _, list := range [][]string{imgbatch.DefaultFormats, {imgbatch.FormatGIF, imgbatch.FormatWebP}} {
			v := base
			v.Formats = list
			r := renderWith(t, src, defaults, v)[0]
			t.Logf("%s %v: %s q%d %d bytes score %.4f (webp alone %d bytes %.4f, gif alone %d bytes %.4f)",
				name, list, r.Format, r.Quality, len(r.Data), r.Score, len(w.Data), w.Score, len(g.Data), g.Score)
			wantHere := want
			if !slices.Contains(list, imgbatch.FormatGIF) {
				wantHere = imgbatch.FormatWebP
			}
			if r.Format != wantHere || !bytes.Equal(r.Data, alone[wantHere].Data) {
				t.Errorf("%s %v: wrote %s (%d bytes); want %s's own output (%d bytes)", name, list, r.Format, len(r.Data), wantHere, len(alone[wantHere].Data))
			}
			out := readAnimation(t, r.Data)
			if r.Frames != in.frames || out.frames != in.frames || !slices.Equal(out.delays, in.delays) || out.loop != in.loop {
				t.Errorf("%s %v: %d frames (reported %d), delays %v loop %d; want %d, %v loop %d",
					name, list, out.frames, r.Frames, out.delays, out.loop, in.frames, in.delays, in.loop)
			}
		}
		v := base
		v.Formats = []string{imgbatch.FormatAVIF, imgbatch.FormatJPEG}
		if r := renderWith(t, src, defaults, v)[0]; r.Frames != 1 || readAnimation(t, r.Data).frames != 1 {
			t.Errorf("%s [avif jpeg]: %s of %d frames; want the first frame", name, r.Format, r.Frames)
		}
	}
	if !gifWins {
		t.Error("GIF won on no source: the case where it is kept is not tested")
	}
}

// TestAnimatedAutoCapped: under keepSmallerSource's byte cap an animated
// output's q is searched down until it fits, and it stays animated.
func TestAnimatedAutoCapped(t *testing.T) {
	src := flatThenPhotoGIF(t, 160, 120, 6)
	v := imgbatch.Variant{Name: "c", Width: 160, Format: imgbatch.FormatAuto, Formats: imgbatch.DefaultFormats, Target: target(0.98)}
	free := renderWith(t, src, defaults, v)[0]
	maxBytes := int64(len(free.Data)) * 6 / 10
	r := renderCap(t, src, v, maxBytes)
	t.Logf("uncapped %s q%d %d bytes; cap %d: %s q%d %d bytes score %.4f", free.Format, free.Quality, len(free.Data), maxBytes, r.Format, r.Quality, len(r.Data), r.Score)
	if !r.Capped || int64(len(r.Data)) > maxBytes || r.Quality >= free.Quality {
		t.Errorf("capped at %d: %d bytes q%d capped %v; want at most the cap, a lower q than %d", maxBytes, len(r.Data), r.Quality, r.Capped, free.Quality)
	}
	if out := readAnimation(t, r.Data); r.Format != imgbatch.FormatWebP || out.frames != 6 || r.Frames != 6 {
		t.Errorf("capped: %s of %d frames (reported %d); want an animated WebP of 6", r.Format, out.frames, r.Frames)
	}
}

// orientedWebP is the 6-frame GIF as an animated WebP whose EXIF says
// orientation o (libvips writes it into an EXIF chunk).
func orientedWebP(t *testing.T, o int) []byte {
	t.Helper()
	p := govips.NewImportParams()
	p.NumPages.Set(-1)
	img, err := govips.LoadImageFromBuffer(animatedSources(t)["gif"], p)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if err := img.SetOrientation(o); err != nil {
		t.Fatal(err)
	}
	b, _, err := img.ExportWebp(&govips.WebpExportParams{Quality: 95, StripMetadata: false})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnimatedWebPOrientation: an animated WebP's EXIF orientation is
// applied to every frame, as to a still: the animated variant's frames
// are the first-frame variant's picture, and the output says nothing of a
// rotation left to do.
func TestAnimatedWebPOrientation(t *testing.T) {
	for _, o := range []int{3, 6, 8} {
		src := orientedWebP(t, o)
		// The guard's sniff sees it too (keepSmallerSource copies no
		// rotated source).
		if info, err := sniff.Inspect(src); err != nil || !info.Animated || info.Orientation != o {
			t.Fatalf("orientation %d: sniffed %+v, %v; want an animated WebP of orientation %d", o, info, err, o)
		}
		keep := imgbatch.Variant{Name: "k", Width: 48, Height: 48, Format: imgbatch.FormatWebP, Quality: 95, KeepMetadata: true}
		rs := renderWith(t, src, defaults,
			imgbatch.Variant{Name: "a", Width: 48, Height: 48, Format: imgbatch.FormatWebP, Quality: 95},
			imgbatch.Variant{Name: "p", Width: 48, Height: 48, Format: imgbatch.FormatPNG}, keep)
		anim, still := readAnimation(t, rs[0].Data), readAnimation(t, rs[1].Data)
		ww, wh := 48, 32
		if o >= 5 {
			ww, wh = 32, 48
		}
		if anim.frames != 6 || anim.width != ww || anim.height != wh || still.width != ww || still.height != wh {
			t.Fatalf("orientation %d: animated %d frames of %dx%d, first frame %dx%d; want %dx%d", o, anim.frames, anim.width, anim.height, still.width, still.height, ww, wh)
		}
		// The first frame of the animation against the still.
		var diff float64
		for y := 0; y < wh; y++ {
			for x := 0; x < ww; x++ {
				a, s := pixel(t, anim.img, x, y), pixel(t, still.img, x, y)
				for c := 0; c < 3; c++ {
					diff += max(a[c]-s[c], s[c]-a[c])
				}
			}
		}
		if mean := diff / float64(3*ww*wh); mean > 6 {
			t.Errorf("orientation %d: the animation's first frame differs from the still by %.1f a sample", o, mean)
		}
		if k := readAnimation(t, rs[2].Data); k.img.Orientation() > 1 || k.frames != 6 {
			t.Errorf("orientation %d, metadata kept: output says orientation %d (%d frames); want upright pixels and 1", o, k.img.Orientation(), k.frames)
		}
	}
}

// repeatGIF is 5 photo-like frames of 100 ms whose third repeats the
// second: GIF and WebP encoders fold it into the second (200 ms).
func repeatGIF(t *testing.T, seeds ...int) []byte {
	t.Helper()
	g := &gif.GIF{}
	for _, seed := range seeds {
		p := image.NewPaletted(image.Rect(0, 0, 64, 48), palette.Plan9)
		draw.FloydSteinberg.Draw(p, p.Bounds(), testutil.Photo(64, 48, seed), image.Point{})
		g.Image, g.Delay = append(g.Image, p), append(g.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAnimatedRepeatedFrames: an animation with a frame equal to the one
// before is written with that frame folded in (the encoders' doing), and
// a target is still searched on it: the probes' frames are matched to the
// roll's by time. The result reports the frames written, and the timing
// is the source's.
func TestAnimatedRepeatedFrames(t *testing.T) {
	src := repeatGIF(t, 0, 1, 1, 3, 4)
	for _, v := range []imgbatch.Variant{
		{Name: "fixed", Width: 64, Format: imgbatch.FormatWebP, Quality: 80},
		{Name: "target", Width: 64, Format: imgbatch.FormatWebP, Target: target(0.98)},
		{Name: "auto", Width: 64, Format: imgbatch.FormatAuto, Formats: []string{"gif", "webp"}, Target: target(0.98)},
	} {
		r := renderWith(t, src, defaults, v)[0]
		out := readAnimation(t, r.Data)
		total := 0
		for _, d := range out.delays {
			total += d
		}
		t.Logf("%s: %s q%d score %.4f, %d frames %v", v.Name, r.Format, r.Quality, r.Score, out.frames, out.delays)
		if r.Frames != out.frames || out.frames != 4 || total != 500 {
			t.Errorf("%s: %d frames reported, %d written, delays %v; want 4 frames over 500 ms", v.Name, r.Frames, out.frames, out.delays)
		}
		if v.Target == nil {
			continue
		}
		scores := frameScores(t, r.Data, losslessFrames(t, src, v))
		if low := slices.Min(scores); r.Score < 0.98 || low < 0.98-2e-3 || r.Score-low > 2e-3 {
			t.Errorf("%s: reported %.4f, frames measure %.4f; want both at least 0.98", v.Name, r.Score, scores)
		}
	}
	// Three equal frames: folded into one picture, searched all the same.
	same := repeatGIF(t, 2, 2, 2)
	for _, f := range []string{"webp", "gif"} {
		v := imgbatch.Variant{Name: "same", Width: 64, Format: imgbatch.FormatAuto, Formats: []string{f, "png"}, Target: target(0.98)}
		r := renderWith(t, same, defaults, v)[0]
		if out := readAnimation(t, r.Data); r.Frames != out.frames || r.Frames != 1 || r.Score < 0.98 {
			t.Errorf("three equal frames as %s: %s of %d frames (reported %d), score %.4f; want one frame at 0.98", f, r.Format, out.frames, r.Frames, r.Score)
		}
	}
}

// TestAutoGIFCandidateOfStills: a listed GIF competes for a still as for
// an animation: scored once (no q), kept when it passes and is smallest.
func TestAutoGIFCandidateOfStills(t *testing.T) {
	for name, src := range map[string][]byte{
		"photo": testutil.PhotoFile(t, 400, 300, false),
		"flat":  encodePNG(t, scene(200, 100, 80, 30, 40)),
	} {
		base := imgbatch.Variant{Name: "s", Width: 160, Format: imgbatch.FormatAuto, Formats: []string{"webp", "gif"}, Target: target(0.98)}
		alone := map[string]Result{}
		for _, f := range []string{"webp", "gif"} {
			v := base
			v.Format, v.Formats = f, nil
			alone[f] = renderOne(t, src, v)
		}
		want := "webp"
		if g, w := alone["gif"], alone["webp"]; g.Score >= 0.98 && (w.Score < 0.98 || len(g.Data) < len(w.Data)) {
			want = "gif"
		}
		r := renderOne(t, src, base)
		t.Logf("%s: %s %d bytes score %.4f (webp q%d %d bytes %.4f; gif %d bytes %.4f)", name, r.Format, len(r.Data), r.Score,
			alone["webp"].Quality, len(alone["webp"].Data), alone["webp"].Score, len(alone["gif"].Data), alone["gif"].Score)
		if r.Format != want || !bytes.Equal(r.Data, alone[want].Data) || r.Frames != 1 {
			t.Errorf("%s: wrote %s (%d bytes, %d frames); want %s's own output", name, r.Format, len(r.Data), r.Frames, want)
		}
	}
}
