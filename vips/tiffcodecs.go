package vips

// tiffCodecs are the TIFF compressions the libtiff inside the pinned
// libvips (npm's sharp-libvips 8.18) decodes, read from the build: its
// decoders are none, CCITT RLE/G3/G4, LZW, old- and new-style JPEG,
// Deflate, NeXT, PackBits and WebP. Old-style JPEG (6) is listed because
// libvips reports it as an error of its own (ErrUnsupported, "not
// configured"); the others that are missing (LZMA, ZSTD, JBIG, LERC,
// PixarLog, SGILog, JPEG XL, …) are worse: libvips reads their strips as
// nothing and renders a black image without an error.
var tiffCodecs = map[int]string{
	1: "none", 2: "CCITT RLE", 3: "CCITT G3", 4: "CCITT G4", 5: "LZW", 6: "old-style JPEG",
	7: "JPEG", 8: "Deflate", 32766: "NeXT", 32771: "CCITT RLE/W", 32773: "PackBits",
	32946: "Deflate", 50001: "WebP",
}

// tiffCodecNames names some compressions this build cannot decode, for
// the message.
var tiffCodecNames = map[int]string{
	32809: "ThunderScan", 32909: "PixarLog", 34661: "JBIG", 34676: "SGILog", 34677: "SGILog24",
	34712: "JPEG 2000", 34887: "LERC", 34925: "LZMA", 50000: "ZSTD", 50002: "JPEG XL",
}

// TIFFCodec reports whether this libvips decodes TIFF compression code,
// and its name.
func TIFFCodec(code int) (name string, ok bool) {
	if name, ok := tiffCodecs[code]; ok {
		return name, true
	}
	if name, ok := tiffCodecNames[code]; ok {
		return name, false
	}
	return "unknown", false
}
