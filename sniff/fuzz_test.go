package sniff

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// corpusSeeds returns the corpus files, or nothing when the corpus is absent
// (the fuzz target then runs on the synthetic seeds only).
func corpusSeeds() [][]byte {
	dir := os.Getenv("IMGBATCH_BAD_IMAGES")
	if dir == "" {
		dir = "/work/shared/testdata/bad-images"
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*"))
	var seeds [][]byte
	for _, p := range paths {
		if ext := filepath.Ext(p); ext == ".md" || ext == ".tsv" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			seeds = append(seeds, b)
		}
	}
	return seeds
}

func syntheticSeeds() [][]byte {
	sof := jpegSeg(0xc0, sofPayload(64, 48, 3))
	return [][]byte{
		cat(soi, jpegSeg(0xe1, cat([]byte("Exif\x00\x00"), exifTIFF(binary.LittleEndian, 6))), sof, jpegSeg(0xda, []byte{1, 1, 0, 0, 63, 0})),
		pngFile(ihdr(20, 10, 8, 6), pngChunk("eXIf", exifTIFF(binary.BigEndian, 6)), pngChunk("IEND", nil)),
		cat(gifHeader(10, 8, true), gifGCE, gifFrame(0, 0, 10, 8, true), gifFrame(5, 5, 10, 8, false), []byte{0x3b}),
		webpFile(vp8x(0x0a, 100, 50), anmf(0, 0, 100, 50), riffChunk("EXIF", exifTIFF(binary.LittleEndian, 3))),
		tiffFile(binary.BigEndian, [][]tiffEntry{dims(30, 20), dims(15, 10)}, map[int]int{1: 8}, nil),
		heifFile(ftyp("heic", "mif1"), 2, [][]byte{ispe(160, 120), ispe(4032, 3024), bmffBox("irot", []byte{1})},
			ipmaV0(map[int][]int{1: {1}, 2: {2, 3}}, 1, 2)),
		[]byte("2 2\n0 255\n255 0\n"),
		[]byte("<svg xmlns='http://www.w3.org/2000/svg'/>"),
	}
}

// FuzzInspect checks that Inspect never panics or hangs and that what it
// returns is self-consistent. Its seeds (the corpus files and synthetic
// files) run in plain `go test`.
func FuzzInspect(f *testing.F) {
	for _, s := range corpusSeeds() {
		f.Add(s)
	}
	for _, s := range syntheticSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		info, err := Inspect(data)
		if !bytes.Equal(orig, data) {
			t.Fatal("Inspect modified its input")
		}
		info2, err2 := Inspect(data)
		if info != info2 || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("not deterministic: %+v %v / %+v %v", info, err, info2, err2)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not *Error", err, err)
			}
			switch e.Code {
			case CodeEmpty:
				if len(data) != 0 {
					t.Fatalf("Empty for %d bytes", len(data))
				}
			case CodeCorrupt:
				if !e.Format.Allowed() {
					t.Fatalf("Corrupt for refused format %q: %v", e.Format, err)
				}
			case CodeUnsupportedFormat:
				if e.Format.Allowed() || e.Format == "" {
					t.Fatalf("UnsupportedFormat with format %q: %v", e.Format, err)
				}
			default:
				t.Fatalf("unknown code %q", e.Code)
			}
			if info != (Info{Format: e.Format}) {
				t.Fatalf("Info on error has more than Format: %+v", info)
			}
			if n := len(err.Error()); n == 0 || n > 512 {
				t.Fatalf("error message of %d bytes: %q", n, err)
			}
			return
		}
		if !info.Format.Allowed() {
			t.Fatalf("success with format %q", info.Format)
		}
		if info.Width < 1 || info.Height < 1 || info.Pages < 1 {
			t.Fatalf("bad dimensions or pages: %+v", info)
		}
		if info.Pages > max(MaxTIFFPages, len(data)) {
			t.Fatalf("%d pages from %d bytes", info.Pages, len(data))
		}
		if info.Orientation < 0 || info.Orientation > 8 {
			t.Fatalf("orientation %d", info.Orientation)
		}
		if info.FrameExtentW < 0 || info.FrameExtentH < 0 {
			t.Fatalf("negative frame extent: %+v", info)
		}
		if info.Arithmetic && info.Format != JPEG {
			t.Fatalf("Arithmetic on %s", info.Format)
		}
		if info.Pages > 1 && info.Format != TIFF && !info.Animated {
			t.Fatalf("%d pages but not animated: %+v", info.Pages, info)
		}
		if c, p := info.CanvasPixels(), info.Pixels(); c < 1 || p < c {
			t.Fatalf("CanvasPixels %d, Pixels %d: %+v", c, p, info)
		}
	})
}

// BenchmarkInspect measures the per-image cost the worker pays before
// libvips: a real camera JPEG (EXIF, ICC) from the corpus, a synthetic
// 12 MP (4032x3024) camera-style JPEG with a 60 KiB EXIF block (thumbnail)
// and 4 MiB of scan data, and the 10,000-frame GIF.
func BenchmarkInspect(b *testing.B) {
	exif := cat([]byte("Exif\x00\x00"), exifTIFF(binary.BigEndian, 6), bytes.Repeat([]byte{0xab}, 60*1024))
	camera := cat(soi,
		jpegSeg(0xe1, exif),
		jpegSeg(0xe2, cat([]byte("ICC_PROFILE\x00\x01\x01"), bytes.Repeat([]byte{0x11}, 3000))),
		jpegSeg(0xdb, bytes.Repeat([]byte{1}, 130)),
		jpegSeg(0xc0, sofPayload(4032, 3024, 3)),
		jpegSeg(0xc4, bytes.Repeat([]byte{2}, 400)),
		jpegSeg(0xda, []byte{3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0}),
		bytes.Repeat([]byte{0x5a}, 4<<20), []byte{0xff, 0xd9})
	cases := []struct {
		name string
		data []byte
	}{{"jpeg-12mp-synthetic", camera}}
	dir := os.Getenv("IMGBATCH_BAD_IMAGES")
	if dir == "" {
		dir = "/work/shared/testdata/bad-images"
	}
	for _, name := range []string{"jpeg-exif-orientation-6.jpg", "gif-10000-frames-1x1.gif"} {
		if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			cases = append(cases, struct {
				name string
				data []byte
			}{name, data})
		}
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Inspect(c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
