package chaos

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// childMemoryLimit is the peak resident memory an array child may reach on
// hostile images: a fraction of the smallest job definition's memory. The
// guards (pixel budget from the header, byte cap, shrink-on-load) must keep
// every bomb below it; unguarded, libvips takes 0.9-1.3 GB on several of
// them (testdata/bad-images/MANIFEST.tsv).
const childMemoryLimit = 512 << 10 // KiB

// pngChunk appends one PNG chunk with its CRC.
func pngChunk(buf *bytes.Buffer, typ string, data []byte) {
	_ = binary.Write(buf, binary.BigEndian, uint32(len(data)))
	buf.WriteString(typ)
	buf.Write(data)
	c := crc32.NewIEEE()
	c.Write([]byte(typ))
	c.Write(data)
	_ = binary.Write(buf, binary.BigEndian, c.Sum32())
}

// pngZlibBomb is a valid w x h PNG (8-bit, colour type ct) of all-zero
// rows: IDAT inflates to h*(1+w*channels) bytes from a few hundred KB.
func pngZlibBomb(w, h int, ct byte, channels int) []byte {
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, ct
	pngChunk(&buf, "IHDR", ihdr)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	row := make([]byte, 1+w*channels)
	bw := bufio.NewWriterSize(zw, 1<<20)
	for y := 0; y < h; y++ {
		bw.Write(row)
	}
	bw.Flush()
	zw.Close()
	pngChunk(&buf, "IDAT", z.Bytes())
	pngChunk(&buf, "IEND", nil)
	return buf.Bytes()
}

// jpegWithSize is a small real JPEG whose SOF0 claims w x h: the entropy
// data runs out almost at once.
func jpegWithSize(w, h int) []byte {
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		panic(err)
	}
	b := buf.Bytes()
	for i := 2; i+9 < len(b); i++ {
		if b[i] == 0xFF && b[i+1] == 0xC0 { // SOF0: FF C0 len(2) precision(1) height(2) width(2)
			binary.BigEndian.PutUint16(b[i+5:], uint16(h))
			binary.BigEndian.PutUint16(b[i+7:], uint16(w))
			return b
		}
	}
	panic("no SOF0")
}

// manyFrameGIF is an animated GIF of n frames of w x h.
func manyFrameGIF(n, w, h int) []byte {
	g := &gif.GIF{}
	for i := 0; i < n; i++ {
		p := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9[:16])
		p.Set(i%w, (i/w)%h, color.White)
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 1)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// webpCanvas is a VP8X header claiming a w x h canvas, and nothing else.
func webpCanvas(w, h int) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(4+8+10))
	b.WriteString("WEBPVP8X")
	_ = binary.Write(&b, binary.LittleEndian, uint32(10))
	b.Write([]byte{0, 0, 0, 0})
	put24 := func(v int) { b.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16)}) }
	put24(w - 1)
	put24(h - 1)
	return b.Bytes()
}

// bombDataset is the whole testdata/bad-images corpus (each file's
// expectation from MANIFEST.tsv: ok must succeed, reject must fail,
// either is not pinned) and generated bombs.
func bombDataset(t *testing.T) (ds *dataset, rejects map[string]bool) {
	t.Helper()
	// Bounded boxes, as the corpus' expectations assume: a width-only WebP
	// variant cannot encode png-1x60000-gray.png (WebP stops at 16383 px).
	ds = &dataset{name: "bombs", objects: map[string][]byte{}, format: "keys", want: map[string]string{}, badLines: 0, dups: 0,
		variants: []string{"thumb:96x96:jpeg:80", "small:48x48:webp:70"}}
	rejects = map[string]bool{}
	for _, row := range testutil.BadImageRows(t) {
		key := "corpus/" + row["file"]
		ds.objects[key] = badImage(t, row["file"])
		switch row["expectation"] {
		case "ok":
			ds.want[key] = ""
		case "reject":
			rejects[key] = true
		}
	}
	gen := map[string][]byte{
		"gen/png-10000x10000-gray-zlib-bomb.png": pngZlibBomb(10000, 10000, 0, 1), // 100 MP exactly: inside the budget, 100 MB of zeros inflated
		"gen/jpeg-sof-9000x11000-tiny.jpg":       jpegWithSize(9000, 11000),       // 99 MP claimed by 600 bytes
		"gen/jpeg-sof-30000x30000-tiny.jpg":      jpegWithSize(30000, 30000),      // 900 MP: over the budget
		"gen/webp-vp8x-16383x16383.webp":         webpCanvas(16383, 16383),        // 268 MP canvas, no frame
		"gen/gif-3000-frames-64x64.gif":          manyFrameGIF(3000, 64, 64),
		"gen/png-1x1-with-8mb-idat.png":          pngTrailingBomb(),
	}
	if long {
		gen["gen/png-9999x9999-rgba-zlib-bomb.png"] = pngZlibBomb(9999, 9999, 6, 4) // 400 MB inflated
	}
	for k, b := range gen {
		ds.objects[k] = b
	}
	rejects["gen/jpeg-sof-30000x30000-tiny.jpg"] = true
	rejects["gen/webp-vp8x-16383x16383.webp"] = true
	for k := range ds.objects {
		ds.items = append(ds.items, k)
	}
	sortStrings(ds.items)
	ds.manifest = []byte(strings.Join(ds.items, "\n") + "\n")
	return ds, rejects
}

// pngTrailingBomb is a 1x1 PNG whose IDAT inflates to 8 MB: the decoder
// must stop after the one row it needs.
func pngTrailingBomb() []byte {
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 1)
	binary.BigEndian.PutUint32(ihdr[4:], 1)
	ihdr[8], ihdr[9] = 8, 0
	pngChunk(&buf, "IHDR", ihdr)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write(make([]byte, 8<<20))
	zw.Close()
	pngChunk(&buf, "IDAT", z.Bytes())
	pngChunk(&buf, "IEND", nil)
	return buf.Bytes()
}

// TestHostileImages runs the hostile-image corpus and generated bombs
// through the pipeline with two processors per child: every item gets its
// row (files the corpus says are fine succeed, files it says must be
// refused fail), no child dies or hangs past the item deadline, and no
// child's peak resident memory (VmHWM, polled) passes childMemoryLimit.
func TestHostileImages(t *testing.T) {
	ds, rejects := bombDataset(t)
	res := run(t, runSpec{backend: memS3, data: ds, width: 2, shardSize: 6, timeout: 6 * time.Minute,
		childEnv: []string{"IMGBATCH_PROCESSORS=2", "IMGBATCH_ITEM_TIMEOUT=20s"}})
	check(t, res, nil)
	for k := range rejects {
		if row := res.report[k]; row != nil && row[3] != "failed" {
			t.Errorf("%q: %s %q, want it refused", k, row[3], row[6])
		}
	}
	for _, a := range res.attempts {
		if a.maxRSS > childMemoryLimit {
			t.Errorf("child %s peaked at %d MiB resident, over the %d MiB limit", a.appID, a.maxRSS>>10, childMemoryLimit>>10)
		}
		if a.maxRSS == 0 {
			t.Errorf("child %s: no peak memory recorded", a.appID)
		}
	}
	var peak int64
	for _, a := range res.attempts {
		peak = max(peak, a.maxRSS)
	}
	codes := map[string]int{}
	for _, row := range res.report {
		codes[row[3]+" "+row[4]]++
	}
	t.Logf("peak child RSS %d MiB; outcomes %v", peak>>10, codes)
}
