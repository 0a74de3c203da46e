package sniff

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ---- builders for synthetic files ----

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func be16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
func be32(v int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func le16(v int) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
func le32(v int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

// jpegSeg is a marker segment with a length.
func jpegSeg(m byte, payload []byte) []byte {
	return cat([]byte{0xff, m}, be16(len(payload)+2), payload)
}

func sofPayload(w, h, nc int) []byte {
	p := cat([]byte{8}, be16(h), be16(w), []byte{byte(nc)})
	for i := range nc {
		p = append(p, byte(i+1), 0x11, 0)
	}
	return p
}

var soi = []byte{0xff, 0xd8}

// tiffHeader is a classic TIFF header in byte order bo, its first IFD at
// offset 8.
func tiffHeader(bo binary.AppendByteOrder) []byte {
	b := []byte("MM")
	if bo == binary.LittleEndian {
		b = []byte("II")
	}
	b = bo.AppendUint16(b, 42)
	return bo.AppendUint32(b, 8)
}

// exifTIFF is a minimal TIFF-structured EXIF block with one Orientation entry.
func exifTIFF(bo binary.AppendByteOrder, orientation int) []byte {
	b := tiffHeader(bo)
	b = bo.AppendUint16(b, 1)
	b = bo.AppendUint16(b, 0x0112)
	b = bo.AppendUint16(b, 3)
	b = bo.AppendUint32(b, 1)
	b = bo.AppendUint16(b, uint16(orientation))
	b = bo.AppendUint16(b, 0)
	return bo.AppendUint32(b, 0)
}

func pngChunk(typ string, data []byte) []byte {
	crc := crc32.ChecksumIEEE(cat([]byte(typ), data))
	return cat(be32(len(data)), []byte(typ), data, be32(int(crc)))
}

func ihdr(w, h int, depth, ctype byte) []byte {
	return pngChunk("IHDR", cat(be32(w), be32(h), []byte{depth, ctype, 0, 0, 0}))
}

func pngFile(chunks ...[]byte) []byte {
	return cat(append([][]byte{pngSignature}, chunks...)...)
}

func gifHeader(w, h int, gct bool) []byte {
	flags := byte(0)
	var table []byte
	if gct {
		flags = 0x80 | 1 // 4 entries
		table = make([]byte, 12)
	}
	return cat([]byte("GIF89a"), le16(w), le16(h), []byte{flags, 0, 0}, table)
}

func gifFrame(left, top, w, h int, lct bool) []byte {
	flags := byte(0)
	var table []byte
	if lct {
		flags = 0x80 // 2 entries
		table = make([]byte, 6)
	}
	return cat([]byte{0x2c}, le16(left), le16(top), le16(w), le16(h), []byte{flags}, table,
		[]byte{2, 2, 0x4c, 0x01, 0})
}

var gifGCE = []byte{0x21, 0xf9, 4, 0, 10, 0, 0, 0}

func riffChunk(typ string, data []byte) []byte {
	c := cat([]byte(typ), le32(len(data)), data)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

func webpFile(chunks ...[]byte) []byte {
	body := cat(append([][]byte{[]byte("WEBP")}, chunks...)...)
	return cat([]byte("RIFF"), le32(len(body)), body)
}

func u24(v int) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16)} }

func vp8x(flags byte, w, h int) []byte {
	return riffChunk("VP8X", cat([]byte{flags, 0, 0, 0}, u24(w-1), u24(h-1)))
}

func anmf(x, y, w, h int) []byte {
	return riffChunk("ANMF", cat(u24(x/2), u24(y/2), u24(w-1), u24(h-1), u24(100), []byte{0}))
}

// tiffEntry is one classic-TIFF IFD entry with an inline value.
type tiffEntry struct {
	tag, typ int
	count    int
	value    uint32 // inline value (left-justified for SHORT), or offset
}

// tiffFile builds a classic TIFF whose IFDs are laid out one after another
// from offset 8; next pointers chain them unless overridden by nexts.
func tiffFile(bo binary.AppendByteOrder, ifds [][]tiffEntry, nexts map[int]int, tail []byte) []byte {
	b := tiffHeader(bo)
	off := 8
	for i, ifd := range ifds {
		size := 2 + 12*len(ifd) + 4
		b = bo.AppendUint16(b, uint16(len(ifd)))
		for _, e := range ifd {
			b = bo.AppendUint16(b, uint16(e.tag))
			b = bo.AppendUint16(b, uint16(e.typ))
			b = bo.AppendUint32(b, uint32(e.count))
			if e.typ == tiffShort && e.count <= 2 {
				b = bo.AppendUint16(b, uint16(e.value))
				b = bo.AppendUint16(b, 0)
			} else {
				b = bo.AppendUint32(b, e.value)
			}
		}
		next := 0
		if i+1 < len(ifds) {
			next = off + size
		}
		if n, ok := nexts[i]; ok {
			next = n
		}
		b = bo.AppendUint32(b, uint32(next))
		off += size
	}
	return append(b, tail...)
}

func dims(w, h int) []tiffEntry {
	return []tiffEntry{{tag: 256, typ: tiffLong, count: 1, value: uint32(w)}, {tag: 257, typ: tiffShort, count: 1, value: uint32(h)}}
}

func bmffBox(typ string, payload ...[]byte) []byte {
	p := cat(payload...)
	return cat(be32(8+len(p)), []byte(typ), p)
}

func fullBox(typ string, version byte, flags int, payload ...[]byte) []byte {
	return bmffBox(typ, append([][]byte{{version, byte(flags >> 16), byte(flags >> 8), byte(flags)}}, payload...)...)
}

func ftyp(major string, compat ...string) []byte {
	return bmffBox("ftyp", []byte(major), be32(0), []byte(strings.Join(compat, "")))
}

func ispe(w, h int) []byte { return fullBox("ispe", 0, 0, be32(w), be32(h)) }

// ipmaV0 associates item ids (16-bit) with 1-based property indices (7-bit).
func ipmaV0(assoc map[int][]int, order ...int) []byte {
	p := be32(len(order))
	for _, id := range order {
		p = cat(p, be16(id), []byte{byte(len(assoc[id]))})
		for _, idx := range assoc[id] {
			p = append(p, byte(idx)|0x80)
		}
	}
	return fullBox("ipma", 0, 0, p)
}

func heifFile(brand []byte, primary int, props [][]byte, ipma []byte) []byte {
	meta := fullBox("meta", 0, 0,
		fullBox("hdlr", 0, 0, be32(0), []byte("pict"), make([]byte, 13)),
		fullBox("pitm", 0, 0, be16(primary)),
		bmffBox("iprp", bmffBox("ipco", props...), ipma))
	return cat(brand, meta, bmffBox("mdat", []byte{1, 2, 3}))
}

// ---- synthetic cases ----

type synthCase struct {
	name string
	data []byte
	want want
}

func runSynth(t *testing.T, cases []synthCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Inspect(c.data)
			checkResult(t, got, err, c.want)
		})
	}
}

func TestJPEG(t *testing.T) {
	app0 := jpegSeg(0xe0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))
	sof0 := jpegSeg(0xc0, sofPayload(640, 480, 3))
	sos := jpegSeg(0xda, []byte{1, 1, 0, 0, 63, 0})
	exifLE := jpegSeg(0xe1, cat([]byte("Exif\x00\x00"), exifTIFF(binary.LittleEndian, 8)))
	exifBE := jpegSeg(0xe1, cat([]byte("Exif\x00\x00"), exifTIFF(binary.BigEndian, 3)))
	runSynth(t, []synthCase{
		{"baseline", cat(soi, app0, sof0, sos, []byte{0x12, 0xff, 0x00, 0xff, 0xd9}),
			ok(Info{Format: JPEG, Width: 640, Height: 480, Pages: 1})},
		{"fill bytes, RST, junk before marker", cat(soi, []byte{0xff, 0xff, 0xff}, app0, []byte{0xff, 0xd0, 0x00, 0x13, 0x37}, []byte{0xff, 0xff}, sof0),
			ok(Info{Format: JPEG, Width: 640, Height: 480, Pages: 1})},
		{"no SOS needed, EOF after SOF", cat(soi, sof0),
			ok(Info{Format: JPEG, Width: 640, Height: 480, Pages: 1})},
		{"exif little-endian before SOF", cat(soi, exifLE, sof0, sos),
			ok(Info{Format: JPEG, Width: 640, Height: 480, Pages: 1, Orientation: 8})},
		{"exif big-endian after SOF, before SOS", cat(soi, sof0, exifBE, sos),
			ok(Info{Format: JPEG, Width: 640, Height: 480, Pages: 1, Orientation: 3})},
		{"exif after SOS ignored", cat(soi, sof0, sos, exifBE),
			ok(Info{Format: JPEG, Width: 640, Height: 480, Pages: 1})},
		{"exif orientation 9 ignored", cat(soi, jpegSeg(0xe1, cat([]byte("Exif\x00\x00"), exifTIFF(binary.BigEndian, 9))), sof0),
			ok(Info{Format: JPEG, Width: 640, Height: 480, Pages: 1})},
		{"exif truncated", cat(soi, jpegSeg(0xe1, cat([]byte("Exif\x00\x00"), exifTIFF(binary.BigEndian, 6)[:14])), sof0),
			ok(Info{Format: JPEG, Width: 640, Height: 480, Pages: 1})},
		{"DHT, DAC, JPG are not SOF", cat(soi, jpegSeg(0xc4, []byte{0, 1, 2}), jpegSeg(0xcc, []byte{0, 1}), jpegSeg(0xc8, nil), sof0),
			ok(Info{Format: JPEG, Width: 640, Height: 480, Pages: 1})},
		{"SOF10 arithmetic progressive", cat(soi, jpegSeg(0xca, sofPayload(3, 2, 1))),
			ok(Info{Format: JPEG, Width: 3, Height: 2, Pages: 1, Arithmetic: true})},
		{"SOF2 progressive is huffman", cat(soi, jpegSeg(0xc2, sofPayload(3, 2, 1))),
			ok(Info{Format: JPEG, Width: 3, Height: 2, Pages: 1})},
		{"SOI only", soi, fails(CodeCorrupt, JPEG, "no SOF")},
		{"EOI before SOF", cat(soi, app0, []byte{0xff, 0xd9}, sof0), fails(CodeCorrupt, JPEG, "no SOF")},
		{"SOS before SOF", cat(soi, app0, sos, sof0), fails(CodeCorrupt, JPEG, "SOS before SOF")},
		{"truncated inside SOF", cat(soi, app0, sof0[:8]), fails(CodeCorrupt, JPEG, "truncated in SOF")},
		{"truncated segment before SOF", cat(soi, app0[:10]), fails(CodeCorrupt, JPEG, "before SOF")},
		{"truncated in marker length", cat(soi, []byte{0xff, 0xe0, 0x00}), fails(CodeCorrupt, JPEG, "no SOF")},
		{"zero height", cat(soi, jpegSeg(0xc0, sofPayload(640, 0, 3))), fails(CodeCorrupt, JPEG, "SOF declares 640x0")},
		{"zero components", cat(soi, jpegSeg(0xc0, sofPayload(640, 480, 0))), fails(CodeCorrupt, JPEG, "0 components")},
		{"SOF length mismatch", cat(soi, jpegSeg(0xc0, sofPayload(640, 480, 3)[:10])), fails(CodeCorrupt, JPEG, "does not match")},
		{"two SOFs", cat(soi, sof0, sof0), fails(CodeCorrupt, JPEG, "second SOF")},
		{"segment length 1", cat(soi, []byte{0xff, 0xe0, 0x00, 0x01}, sof0), fails(CodeCorrupt, JPEG, "length 1")},
		{"JPEG-LS", cat(soi, jpegSeg(0xf7, sofPayload(8, 8, 1))), fails(CodeUnsupportedFormat, JPEGLS, "JPEG-LS")},
	})
}

func TestPNG(t *testing.T) {
	idat := pngChunk("IDAT", []byte{0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1})
	iend := pngChunk("IEND", nil)
	badCRC := ihdr(20, 10, 8, 2)
	badCRC[len(badCRC)-1] ^= 0xff
	runSynth(t, []synthCase{
		{"rgb", pngFile(ihdr(20, 10, 8, 2), idat, iend), ok(Info{Format: PNG, Width: 20, Height: 10, Pages: 1})},
		{"header only", pngFile(ihdr(20, 10, 8, 2)), ok(Info{Format: PNG, Width: 20, Height: 10, Pages: 1})},
		{"bad IHDR CRC accepted", pngFile(badCRC, idat, iend), ok(Info{Format: PNG, Width: 20, Height: 10, Pages: 1})},
		{"max dimension", pngFile(ihdr(1<<31-1, 1, 1, 0)), ok(Info{Format: PNG, Width: 1<<31 - 1, Height: 1, Pages: 1})},
		{"eXIf orientation", pngFile(ihdr(20, 10, 8, 6), pngChunk("eXIf", exifTIFF(binary.BigEndian, 6)), idat, iend),
			ok(Info{Format: PNG, Width: 20, Height: 10, Pages: 1, Orientation: 6})},
		{"eXIf after IDAT ignored", pngFile(ihdr(20, 10, 8, 6), idat, pngChunk("eXIf", exifTIFF(binary.BigEndian, 6)), iend),
			ok(Info{Format: PNG, Width: 20, Height: 10, Pages: 1})},
		{"huge ancillary chunk length", pngFile(ihdr(20, 10, 8, 2), []byte{0xff, 0xff, 0xff, 0xf0, 't', 'E', 'X', 't'}),
			ok(Info{Format: PNG, Width: 20, Height: 10, Pages: 1})},
		{"signature CRLF to LF", cat([]byte{0x89, 'P', 'N', 'G', '\n', 0x1a, '\n'}, ihdr(20, 10, 8, 2)), fails(CodeCorrupt, PNG, "bad PNG signature")},
		{"signature lower case", cat([]byte{0x89, 'p', 'n', 'g', '\r', '\n', 0x1a, '\n'}, ihdr(20, 10, 8, 2)), fails(CodeCorrupt, PNG, "bad PNG signature")},
		{"signature byte 7 changed", cat([]byte{0x89, 'P', 'N', 'G', '\r', '\n', ' ', '\n'}, ihdr(20, 10, 8, 2)), fails(CodeCorrupt, PNG, "bad PNG signature")},
		{"signature only", pngSignature, fails(CodeCorrupt, PNG, "truncated before end of IHDR")},
		{"IHDR cut short", pngFile(ihdr(20, 10, 8, 2)[:20]), fails(CodeCorrupt, PNG, "truncated")},
		{"IDAT first", pngFile(idat, ihdr(20, 10, 8, 2)), fails(CodeCorrupt, PNG, "not IHDR")},
		{"IHDR length 14", pngFile(cat(be32(14), []byte("IHDR"), be32(20), be32(10), []byte{8, 2, 0, 0, 0, 0, 0, 0, 0, 0})), fails(CodeCorrupt, PNG, "IHDR length 14")},
		{"zero height", pngFile(ihdr(20, 0, 8, 2)), fails(CodeCorrupt, PNG, "IHDR declares 20x0")},
		{"width 2^31", pngFile(ihdr(1<<31, 1, 8, 2)), fails(CodeCorrupt, PNG, "IHDR declares 2147483648x1")},
		{"RGB at 4 bits", pngFile(ihdr(20, 10, 4, 2)), fails(CodeCorrupt, PNG, "colour type 2 with bit depth 4")},
		{"colour type 5", pngFile(ihdr(20, 10, 8, 5)), fails(CodeCorrupt, PNG, "colour type 5")},
		{"interlace 2", pngFile(pngChunk("IHDR", cat(be32(20), be32(10), []byte{8, 2, 0, 0, 2}))), fails(CodeCorrupt, PNG, "interlace 2")},
	})
}

func TestGIF(t *testing.T) {
	trailer := []byte{0x3b}
	netscape := cat([]byte{0x21, 0xff, 11}, []byte("NETSCAPE2.0"), []byte{3, 1, 0, 0, 0})
	comment := cat([]byte{0x21, 0xfe, 5}, []byte("hello"), []byte{0})
	runSynth(t, []synthCase{
		{"still", cat(gifHeader(10, 8, true), gifGCE, gifFrame(0, 0, 10, 8, false), trailer),
			ok(Info{Format: GIF, Width: 10, Height: 8, Pages: 1, FrameExtentW: 10, FrameExtentH: 8})},
		{"GIF87a without colour table", cat([]byte("GIF87a"), le16(3), le16(4), []byte{0, 0, 0}, gifFrame(0, 0, 3, 4, true), trailer),
			ok(Info{Format: GIF, Width: 3, Height: 4, Pages: 1, FrameExtentW: 3, FrameExtentH: 4})},
		{"animated with extensions and local tables",
			cat(gifHeader(10, 8, true), netscape, comment, gifGCE, gifFrame(0, 0, 10, 8, true), gifGCE, gifFrame(2, 3, 4, 4, false), gifGCE, gifFrame(8, 6, 5, 5, true), trailer),
			ok(Info{Format: GIF, Width: 10, Height: 8, Pages: 3, Animated: true, FrameExtentW: 13, FrameExtentH: 11})},
		{"no trailer", cat(gifHeader(10, 8, true), gifFrame(0, 0, 10, 8, false)),
			ok(Info{Format: GIF, Width: 10, Height: 8, Pages: 1, FrameExtentW: 10, FrameExtentH: 8})},
		{"truncated second descriptor", cat(gifHeader(10, 8, true), gifFrame(0, 0, 10, 8, false), gifFrame(0, 0, 10, 8, false)[:6]),
			ok(Info{Format: GIF, Width: 10, Height: 8, Pages: 1, FrameExtentW: 10, FrameExtentH: 8})},
		{"junk block ends the stream", cat(gifHeader(10, 8, true), gifFrame(0, 0, 10, 8, false), []byte{0x99}, gifFrame(0, 0, 10, 8, false)),
			ok(Info{Format: GIF, Width: 10, Height: 8, Pages: 1, FrameExtentW: 10, FrameExtentH: 8})},
		{"header only", gifHeader(10, 8, true), fails(CodeCorrupt, GIF, "no image frames")},
		{"trailer only", cat(gifHeader(10, 8, true), trailer), fails(CodeCorrupt, GIF, "no image frames")},
		{"truncated screen descriptor", []byte("GIF89a\x0a\x00"), fails(CodeCorrupt, GIF, "truncated")},
		{"zero screen height", cat(gifHeader(10, 0, false), gifFrame(0, 0, 10, 8, false)), fails(CodeCorrupt, GIF, "logical screen is 10x0")},
		{"zero frame width", cat(gifHeader(10, 8, false), gifFrame(0, 0, 10, 8, false), gifFrame(0, 0, 0, 8, false)), fails(CodeCorrupt, GIF, "frame 2 at offset")},
		{"colour table past end", cat(gifHeader(10, 8, false)[:10], []byte{0x87, 0, 0}), fails(CodeCorrupt, GIF, "no image frames")},
	})
}

func TestWebP(t *testing.T) {
	vp8 := riffChunk("VP8 ", cat([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}, le16(100|1<<14), le16(50), make([]byte, 8)))
	vp8l := riffChunk("VP8L", cat([]byte{0x2f}, le32(99|49<<14|1<<28), make([]byte, 4)))
	exif := riffChunk("EXIF", exifTIFF(binary.LittleEndian, 3))
	runSynth(t, []synthCase{
		{"lossy", webpFile(vp8), ok(Info{Format: WebP, Width: 100, Height: 50, Pages: 1})},
		{"lossless", webpFile(vp8l), ok(Info{Format: WebP, Width: 100, Height: 50, Pages: 1})},
		{"extended still with exif", webpFile(vp8x(0x08, 100, 50), vp8, exif),
			ok(Info{Format: WebP, Width: 100, Height: 50, Pages: 1, Orientation: 3})},
		{"extended, prefixed exif", webpFile(vp8x(0x08, 100, 50), vp8, riffChunk("EXIF", cat([]byte("Exif\x00\x00"), exifTIFF(binary.BigEndian, 5)))),
			ok(Info{Format: WebP, Width: 100, Height: 50, Pages: 1, Orientation: 5})},
		{"max canvas", webpFile(vp8x(0, 1<<24, 1<<24)), ok(Info{Format: WebP, Width: 1 << 24, Height: 1 << 24, Pages: 1})},
		{"animated", webpFile(vp8x(0x02, 100, 50), riffChunk("ANIM", make([]byte, 6)), anmf(0, 0, 100, 50), anmf(10, 20, 30, 31)),
			ok(Info{Format: WebP, Width: 100, Height: 50, Pages: 2, Animated: true, FrameExtentW: 100, FrameExtentH: 51})},
		{"animated frame past canvas", webpFile(vp8x(0x02, 100, 50), anmf(16000, 0, 16383, 1)),
			ok(Info{Format: WebP, Width: 100, Height: 50, Pages: 1, Animated: true, FrameExtentW: 32383, FrameExtentH: 1})},
		{"RIFF size shorter than data: trailing frames ignored", func() []byte {
			f := webpFile(vp8x(0x02, 100, 50), anmf(0, 0, 100, 50))
			return cat(f, anmf(0, 0, 100, 50))
		}(), ok(Info{Format: WebP, Width: 100, Height: 50, Pages: 1, Animated: true, FrameExtentW: 100, FrameExtentH: 50})},
		{"RIFF size larger than data", func() []byte {
			f := webpFile(vp8)
			binary.LittleEndian.PutUint32(f[4:], 1<<31)
			return f
		}(), ok(Info{Format: WebP, Width: 100, Height: 50, Pages: 1})},
		{"animated without frames", webpFile(vp8x(0x02, 100, 50)), fails(CodeCorrupt, WebP, "without ANMF")},
		{"VP8 inter frame", webpFile(riffChunk("VP8 ", cat([]byte{0x11, 0x02, 0x00, 0x9d, 0x01, 0x2a}, le16(100), le16(50)))), fails(CodeCorrupt, WebP, "not a key frame")},
		{"VP8 bad start code", webpFile(riffChunk("VP8 ", cat([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2b}, le16(100), le16(50)))), fails(CodeCorrupt, WebP, "start code")},
		{"VP8 zero width", webpFile(riffChunk("VP8 ", cat([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}, le16(1<<14), le16(50)))), fails(CodeCorrupt, WebP, "declares 0x50")},
		{"VP8 truncated", webpFile(riffChunk("VP8 ", []byte{0x10, 0x02, 0x00, 0x9d})), fails(CodeCorrupt, WebP, "truncated VP8 frame")},
		{"VP8L version 1", webpFile(riffChunk("VP8L", cat([]byte{0x2f}, le32(99|49<<14|1<<29)))), fails(CodeCorrupt, WebP, "VP8L version 1")},
		{"VP8L bad signature", webpFile(riffChunk("VP8L", cat([]byte{0x2e}, le32(99|49<<14)))), fails(CodeCorrupt, WebP, "VP8L signature")},
		{"VP8X truncated", webpFile(riffChunk("VP8X", []byte{0, 0, 0, 0, 1})), fails(CodeCorrupt, WebP, "truncated VP8X")},
		{"unknown first chunk", webpFile(riffChunk("ICCP", make([]byte, 12))), fails(CodeCorrupt, WebP, `first chunk is "ICCP"`)},
		{"no chunks", []byte("RIFF\x04\x00\x00\x00WEBP"), fails(CodeCorrupt, WebP, "truncated before first chunk")},
		{"RIFF WAVE", cat([]byte("RIFF"), le32(4), []byte("WAVE")), fails(CodeUnsupportedFormat, RIFF, `"WAVE"`)},
	})
}

func TestTIFF(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	orient := tiffEntry{tag: 274, typ: tiffShort, count: 1, value: 6}
	three := [][]tiffEntry{append(dims(300, 200), orient), dims(150, 100), dims(75, 50)}
	// A 20,000-IFD chain, to check the cap.
	long := make([][]tiffEntry, 20000)
	long[0] = dims(10, 10)
	for i := 1; i < len(long); i++ {
		long[i] = []tiffEntry{{tag: 254, typ: tiffLong, count: 1, value: 1}}
	}
	bigTIFF := func(w uint64) []byte {
		b := cat([]byte("II+\x00"), le16(8), le16(0), binary.LittleEndian.AppendUint64(nil, 16))
		b = binary.LittleEndian.AppendUint64(b, 2)
		for _, e := range []struct {
			tag, typ int
			v        uint64
		}{{256, tiffLong8, w}, {257, tiffShort, 70}} {
			b = cat(b, le16(e.tag), le16(e.typ), binary.LittleEndian.AppendUint64(nil, 1), binary.LittleEndian.AppendUint64(nil, e.v))
		}
		return binary.LittleEndian.AppendUint64(b, 0)
	}
	// BitsPerSample 8,8,8 stored outside the entry, at the end of the file.
	bpsOff := 8 + 2 + 12*4 + 4
	rgb := tiffFile(le, [][]tiffEntry{append(dims(30, 20),
		tiffEntry{tag: 258, typ: tiffShort, count: 3, value: uint32(bpsOff)},
		tiffEntry{tag: 277, typ: tiffShort, count: 1, value: 3})}, nil, cat(le16(8), le16(8), le16(8)))
	rgb16 := bytes.Clone(rgb)
	binary.LittleEndian.PutUint16(rgb16[bpsOff:], 100)

	runSynth(t, []synthCase{
		{"big-endian, 3 pages, orientation", tiffFile(be, three, nil, nil),
			ok(Info{Format: TIFF, Width: 300, Height: 200, Pages: 3, Orientation: 6})},
		{"little-endian", tiffFile(le, three, nil, nil),
			ok(Info{Format: TIFF, Width: 300, Height: 200, Pages: 3, Orientation: 6})},
		{"loop back to first IFD", tiffFile(le, three, map[int]int{2: 8}, nil),
			ok(Info{Format: TIFF, Width: 300, Height: 200, Pages: 3, Orientation: 6})},
		{"self loop", tiffFile(le, three[:1], map[int]int{0: 8}, nil),
			ok(Info{Format: TIFF, Width: 300, Height: 200, Pages: 1, Orientation: 6})},
		{"next IFD outside file", tiffFile(le, three[:1], map[int]int{0: 1 << 30}, nil),
			ok(Info{Format: TIFF, Width: 300, Height: 200, Pages: 1, Orientation: 6})},
		{"page cap", tiffFile(le, long, nil, nil), ok(Info{Format: TIFF, Width: 10, Height: 10, Pages: MaxTIFFPages})},
		{"bits per sample out of line", rgb, ok(Info{Format: TIFF, Width: 30, Height: 20, Pages: 1})},
		{"bigtiff", bigTIFF(90), ok(Info{Format: TIFF, Width: 90, Height: 70, Pages: 1})},
		{"bigtiff huge width", bigTIFF(1 << 40), fails(CodeCorrupt, TIFF, "first IFD declares 1099511627776x70")},
		{"bits per sample 100", rgb16, fails(CodeCorrupt, TIFF, "BitsPerSample 100")},
		{"no height", tiffFile(le, [][]tiffEntry{dims(10, 10)[:1]}, nil, nil), fails(CodeCorrupt, TIFF, "no ImageWidth/ImageLength")},
		{"zero width", tiffFile(le, [][]tiffEntry{dims(0, 10)}, nil, nil), fails(CodeCorrupt, TIFF, "declares 0x10")},
		{"width 2^32-1", tiffFile(le, [][]tiffEntry{dims(-1, 10)}, nil, nil), fails(CodeCorrupt, TIFF, "declares 4294967295x10")},
		{"no entries", tiffFile(le, [][]tiffEntry{{}}, nil, nil), fails(CodeCorrupt, TIFF, "no entries")},
		{"first IFD outside file", cat([]byte("II*\x00"), le32(1000)), fails(CodeCorrupt, TIFF, "first IFD offset 1000")},
		{"first IFD inside header", cat([]byte("MM\x00*"), be32(2), be16(0)), fails(CodeCorrupt, TIFF, "first IFD offset 2")},
		{"header only", []byte("II*\x00"), fails(CodeCorrupt, TIFF, "bad TIFF header")},
		{"bigtiff bad offset size", cat([]byte("II+\x00"), le16(4), le16(0), le32(8), le32(0)), fails(CodeCorrupt, TIFF, "bad TIFF header")},
		{"samples per pixel 0", tiffFile(le, [][]tiffEntry{append(dims(5, 5), tiffEntry{tag: 277, typ: tiffShort, count: 1, value: 0})}, nil, nil),
			fails(CodeCorrupt, TIFF, "SamplesPerPixel 0")},
		{"entries truncated", tiffFile(le, [][]tiffEntry{dims(5, 5)}, nil, nil)[:8+2+12], fails(CodeCorrupt, TIFF, "no ImageWidth/ImageLength")},
		{"olympus raw", []byte("IIRO\x08\x00\x00\x00"), fails(CodeUnsupportedFormat, RAW, "camera raw")},
	})
}

func TestHEIF(t *testing.T) {
	thumbAndPrimary := [][]byte{ispe(160, 120), ispe(4032, 3024), bmffBox("irot", []byte{1})}
	runSynth(t, []synthCase{
		{"heic primary ispe", heifFile(ftyp("heic", "mif1", "heic"), 1, [][]byte{ispe(4032, 3024)}, ipmaV0(map[int][]int{1: {1}}, 1)),
			ok(Info{Format: HEIF, Width: 4032, Height: 3024, Pages: 1})},
		{"primary is item 2, rotated 90", heifFile(ftyp("heic"), 2, thumbAndPrimary, ipmaV0(map[int][]int{1: {1}, 2: {2, 3}}, 1, 2)),
			ok(Info{Format: HEIF, Width: 3024, Height: 4032, Pages: 1})},
		{"primary is the small item", heifFile(ftyp("heic"), 1, thumbAndPrimary, ipmaV0(map[int][]int{1: {1}, 2: {2, 3}}, 1, 2)),
			ok(Info{Format: HEIF, Width: 160, Height: 120, Pages: 1})},
		{"no ipma: largest ispe", heifFile(ftyp("heic"), 1, thumbAndPrimary, nil),
			ok(Info{Format: HEIF, Width: 4032, Height: 3024, Pages: 1})},
		{"mif1 with avif compatible brand", heifFile(ftyp("mif1", "mif1", "avif"), 1, [][]byte{ispe(64, 48)}, ipmaV0(map[int][]int{1: {1}}, 1)),
			ok(Info{Format: AVIF, Width: 64, Height: 48, Pages: 1})},
		{"mif1 only", heifFile(ftyp("mif1", "mif1"), 1, [][]byte{ispe(64, 48)}, nil),
			ok(Info{Format: HEIF, Width: 64, Height: 48, Pages: 1})},
		{"avis sequence", heifFile(ftyp("avis", "avif", "msf1"), 1, [][]byte{ispe(64, 48)}, nil),
			ok(Info{Format: AVIF, Width: 64, Height: 48, Pages: 1, Animated: true})},
		{"ipma version 1, 16-bit associations", heifFile(ftyp("heic"), 7, thumbAndPrimary,
			fullBox("ipma", 1, 1, be32(2), be32(1), []byte{1}, be16(1|0x8000), be32(7), []byte{1}, be16(2))),
			ok(Info{Format: HEIF, Width: 4032, Height: 3024, Pages: 1})},
		{"meta with size 0 box, pitm version 1", cat(ftyp("heic"), cat(be32(0), []byte("meta"), make([]byte, 4),
			fullBox("pitm", 1, 0, be32(3)), bmffBox("iprp", bmffBox("ipco", ispe(1, 1), ispe(8, 9)), ipmaV0(map[int][]int{3: {2}}, 3)))),
			ok(Info{Format: HEIF, Width: 8, Height: 9, Pages: 1})},
		{"64-bit box size", cat(ftyp("heic"), cat(be32(1), []byte("free"), binary.BigEndian.AppendUint64(nil, 16)),
			heifFile(nil, 1, [][]byte{ispe(5, 6)}, nil)),
			ok(Info{Format: HEIF, Width: 5, Height: 6, Pages: 1})},
		{"no ispe", heifFile(ftyp("heic"), 1, [][]byte{bmffBox("colr", []byte("nclx"))}, nil), fails(CodeCorrupt, HEIF, "no image size")},
		{"zero ispe", heifFile(ftyp("avif"), 1, [][]byte{ispe(0, 5)}, nil), fails(CodeCorrupt, AVIF, "ispe declares 0x5")},
		{"no meta", cat(ftyp("avif"), bmffBox("mdat", nil)), fails(CodeCorrupt, AVIF, "no meta box")},
		{"ftyp only", ftyp("heic"), fails(CodeCorrupt, HEIF, "no meta box")},
		{"box size smaller than header", cat(ftyp("heic"), be32(4), []byte("meta")), fails(CodeCorrupt, HEIF, "no meta box")},
		{"mp4 video", cat(ftyp("isom", "isom", "mp42"), bmffBox("moov", nil)), fails(CodeUnsupportedFormat, ISOBMFF, `brand "isom"`)},
		{"canon cr3", ftyp("crx ", "crx "), fails(CodeUnsupportedFormat, RAW, "Canon CR3")},
	})
}

func TestRefused(t *testing.T) {
	bmpBadDIB := cat([]byte("BM"), make([]byte, 12), le32(7), make([]byte, 8))
	runSynth(t, []synthCase{
		{"JPEG XL codestream", []byte{0xff, 0x0a, 0xfa, 0x7f}, fails(CodeUnsupportedFormat, JXL, "JPEG XL")},
		{"JPEG XL container", []byte("\x00\x00\x00\x0cJXL \r\n\x87\n\x00\x00"), fails(CodeUnsupportedFormat, JXL, "JPEG XL")},
		{"JPEG 2000", []byte("\x00\x00\x00\x0cjP  \r\n\x87\n"), fails(CodeUnsupportedFormat, JPEG2000, "JPEG 2000")},
		{"J2K codestream", []byte{0xff, 0x4f, 0xff, 0x51, 0, 0}, fails(CodeUnsupportedFormat, JPEG2000, "JPEG 2000")},
		{"cursor", []byte{0, 0, 2, 0, 1, 0, 16, 16}, fails(CodeUnsupportedFormat, ICO, "ICO/CUR")},
		{"BMP with bad DIB size is unknown", bmpBadDIB, fails(CodeUnsupportedFormat, Unknown, "unrecognised bytes (26 bytes, starts 0x42 0x4d")},
		{"PostScript", []byte("%!PS-Adobe-3.0\n"), fails(CodeUnsupportedFormat, PostScript, "PostScript")},
		{"EPS binary", []byte{0xc5, 0xd0, 0xd3, 0xc6, 0, 0}, fails(CodeUnsupportedFormat, PostScript, "PostScript")},
		{"PDF after junk", []byte("garbage line\n%PDF-1.7\n"), fails(CodeUnsupportedFormat, PDF, "PDF document")},
		{"PSD", []byte("8BPS\x00\x01"), fails(CodeUnsupportedFormat, PSD, "Photoshop")},
		{"zip", []byte("PK\x03\x04\x14\x00"), fails(CodeUnsupportedFormat, Archive, "archive")},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0}, fails(CodeUnsupportedFormat, Archive, "archive")},
		{"OpenEXR", []byte{0x76, 0x2f, 0x31, 0x01, 2, 0}, fails(CodeUnsupportedFormat, EXR, "OpenEXR")},
		{"Radiance", []byte("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n"), fails(CodeUnsupportedFormat, Radiance, "Radiance")},
		{"FITS", []byte("SIMPLE  =                    T"), fails(CodeUnsupportedFormat, FITS, "FITS")},
		{"vips", []byte{0x08, 0xf2, 0xa6, 0xb6, 0, 0}, fails(CodeUnsupportedFormat, VIPS, "libvips native")},
		{"QOI", []byte("qoif\x00\x00\x00\x01"), fails(CodeUnsupportedFormat, QOI, "QOI")},
		{"DICOM", cat(make([]byte, 128), []byte("DICM")), fails(CodeUnsupportedFormat, DICOM, "DICOM")},
		{"PPM", []byte("P6\n2 2\n255\n"), fails(CodeUnsupportedFormat, PNM, "PNM")},
		{"PFM", []byte("PF\n2 2\n-1.0\n"), fails(CodeUnsupportedFormat, PNM, "PNM")},
		{"matrix with scale and offset", []byte("3 1 1.5 0\n1 2 3\n"), fails(CodeUnsupportedFormat, Matrix, "matrix")},
		{"SVG after BOM and comment", []byte("\xef\xbb\xbf\n<!-- x -->\n<svg width='1'/>"), fails(CodeUnsupportedFormat, SVG, "SVG/XML text")},
		{"HTML in upper case", []byte("  <HTML><BODY>oops</BODY></HTML>"), fails(CodeUnsupportedFormat, HTML, "HTML document")},
		{"HTML with inline svg", []byte("<!doctype html><svg></svg>"), fails(CodeUnsupportedFormat, HTML, "HTML document")},
		{"XML", []byte("<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>"), fails(CodeUnsupportedFormat, XML, "XML")},
		{"JSON text", []byte(`{"error": "not found"}`), fails(CodeUnsupportedFormat, Text, `text ("{\"error\": \"not found\"}")`)},
		{"long text", []byte(strings.Repeat("lorem ipsum ", 100)), fails(CodeUnsupportedFormat, Text, `(starts "lorem ipsum lorem ipsum " …)`)},
		{"UTF-8 text", []byte("héllo wörld"), fails(CodeUnsupportedFormat, Text, "text")},
		{"UTF-16 text", []byte{0xff, 0xfe, 'h', 0, 'i', 0}, fails(CodeUnsupportedFormat, Text, "UTF-16")},
		{"one byte", []byte{0x00}, fails(CodeUnsupportedFormat, Unknown, "unrecognised bytes (1 bytes, starts 0x00)")},
		{"invalid UTF-8", []byte("abc\xc3\x28def"), fails(CodeUnsupportedFormat, Unknown, "unrecognised bytes")},
		{"empty", []byte{}, fails(CodeEmpty, Unknown, "empty file")},
		{"nil", nil, fails(CodeEmpty, Unknown, "empty file")},
	})
}

func TestPixels(t *testing.T) {
	cases := []struct {
		info           Info
		canvas, pixels int64
	}{
		{Info{Width: 640, Height: 480, Pages: 1}, 307200, 307200},
		{Info{Width: 640, Height: 480}, 307200, 307200}, // Pages 0 counts as 1
		{Info{Width: 10, Height: 10, Pages: 7}, 100, 700},
		{Info{Width: 32, Height: 32, Pages: 1, FrameExtentW: 65535, FrameExtentH: 66601}, 65535 * 66601, 65535 * 66601},
		{Info{Width: 100, Height: 100, Pages: 2, FrameExtentW: 50, FrameExtentH: 150}, 15000, 30000},
		{Info{Width: math.MaxInt, Height: math.MaxInt, Pages: math.MaxInt}, math.MaxInt64, math.MaxInt64},
		{Info{Width: 1 << 24, Height: 1 << 24, Pages: 1 << 20}, 1 << 48, math.MaxInt64},
		{Info{Width: -5, Height: 10, Pages: 1}, 0, 0},
		{Info{}, 0, 0},
	}
	for _, c := range cases {
		if got := c.info.CanvasPixels(); got != c.canvas {
			t.Errorf("%+v.CanvasPixels() = %d, want %d", c.info, got, c.canvas)
		}
		if got := c.info.Pixels(); got != c.pixels {
			t.Errorf("%+v.Pixels() = %d, want %d", c.info, got, c.pixels)
		}
	}
}

func TestAllowedAndErrorText(t *testing.T) {
	for _, f := range []Format{JPEG, PNG, GIF, WebP, TIFF, HEIF, AVIF} {
		if !f.Allowed() {
			t.Errorf("%s not allowed", f)
		}
	}
	for _, f := range []Format{BMP, SVG, PDF, Gzip, Matrix, Text, Unknown, ""} {
		if f.Allowed() {
			t.Errorf("%q allowed", f)
		}
	}
	for _, c := range []struct {
		err  Error
		want string
	}{
		{Error{Code: CodeCorrupt, Format: PNG, Msg: "x"}, "corrupt png: x"},
		{Error{Code: CodeUnsupportedFormat, Format: BMP, Msg: "y"}, "unsupported format: y"},
		{Error{Code: CodeEmpty, Format: Unknown, Msg: "0 bytes"}, "empty file: 0 bytes"},
		{Error{Code: "Other", Msg: "z"}, "Other: z"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}

// A GIF of many frames must be counted quickly and without allocating.
func TestGIFManyFramesLinear(t *testing.T) {
	frame := gifFrame(0, 0, 1, 1, false)
	data := cat(gifHeader(1, 1, true), bytes.Repeat(cat(gifGCE, frame), 100000), []byte{0x3b})
	var info Info
	allocs := testing.AllocsPerRun(3, func() { info, _ = Inspect(data) })
	if info.Pages != 100000 {
		t.Fatalf("Pages = %d", info.Pages)
	}
	if allocs > 0 {
		t.Errorf("%v allocations", allocs)
	}
}

// Hostile inputs of a few MiB built to maximise the number of steps each
// walk takes. Every walk must stay linear: each of these must take well under
// a second even on a loaded machine, and allocate next to nothing.
func TestWorstCaseInputs(t *testing.T) {
	const size = 4 << 20
	fill := func(prefix, unit []byte) []byte {
		return cat(prefix, bytes.Repeat(unit, (size-len(prefix))/len(unit)))
	}
	ispeBox := ispe(1, 1)
	manyAssoc := cat(be32(1), be16(1), []byte{255}, bytes.Repeat([]byte{0x81}, 255))
	cases := []struct {
		name string
		data []byte
	}{
		{"jpeg fill bytes", fill(soi, []byte{0xff})},
		{"jpeg RST markers", fill(soi, []byte{0xff, 0xd0})},
		{"jpeg junk between markers", fill(soi, []byte{0x00})},
		{"jpeg empty segments", fill(soi, []byte{0xff, 0xe0, 0x00, 0x02})},
		{"jpeg exif segments", fill(soi, jpegSeg(0xe1, cat([]byte("Exif\x00\x00"), exifTIFF(binary.BigEndian, 6))))},
		{"png tiny chunks", fill(pngFile(ihdr(1, 1, 8, 0)), pngChunk("tEXt", nil))},
		{"png eXIf chunks", fill(pngFile(ihdr(1, 1, 8, 0)), pngChunk("eXIf", exifTIFF(binary.LittleEndian, 2)))},
		{"gif empty extensions", fill(gifHeader(1, 1, false), []byte{0x21, 0xfe, 0x00})},
		{"gif one-byte sub-blocks", fill(cat(gifHeader(1, 1, false), []byte{0x21, 0xfe}), []byte{0x01, 0x00})},
		{"gif minimal frames", fill(gifHeader(1, 1, false), gifFrame(0, 0, 1, 1, false))},
		{"webp empty chunks", fill(cat(webpFile(vp8x(0x02, 10, 10)), anmf(0, 0, 10, 10)), riffChunk("XXXX", nil))},
		{"webp frames", fill(webpFile(vp8x(0x02, 10, 10)), anmf(0, 0, 10, 10))},
		{"heif many properties", fill(cat(ftyp("heic"), be32(0), []byte("meta"), be32(0), be32(0), []byte("iprp"), be32(0), []byte("ipco")), ispeBox)},
		{"heif many associations", fill(cat(ftyp("heic"), be32(0), []byte("meta"), be32(0), fullBox("pitm", 0, 0, be16(1)),
			be32(0), []byte("iprp"), bmffBox("ipco", ispeBox), be32(0), []byte("ipma"), be32(0), be32(1<<30)),
			manyAssoc[4:])},
		{"heif empty boxes", fill(ftyp("heic"), bmffBox("free", nil))},
		{"tiff many entries", fill(cat([]byte("II*\x00"), le32(8), le16(0xffff)), cat(le16(256), le16(3), le32(1), le32(5)))},
		{"text", fill(nil, []byte("lorem ipsum "))},
		{"markup", fill([]byte("<?xml version='1.0'?>"), []byte("<a>"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			info, err := Inspect(c.data)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if elapsed > time.Second {
				t.Errorf("took %v on %d bytes (%+v, %v)", elapsed, len(c.data), info, err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256*1024 {
				t.Errorf("allocated %d bytes", alloc)
			}
		})
	}
}
