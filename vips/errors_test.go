package vips

import (
	"errors"
	"image"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// TestErrorKinds: libvips failures come back as *Error of the kind the
// worker maps to a result code, with libvips' message.
func TestErrorKinds(t *testing.T) {
	jpg := []imgbatch.Variant{{Name: "j", Width: 64, Height: 64, Format: imgbatch.FormatJPEG}}
	webp := []imgbatch.Variant{{Name: "w", Width: 60000, Height: 60000, Format: imgbatch.FormatWebP}}
	tall := encodePNG(t, image.NewGray(image.Rect(0, 0, 1, 20000)))
	for _, c := range []struct {
		name   string
		src    []byte
		format sniff.Format
		vs     []imgbatch.Variant
		want   Kind
	}{
		{"truncated JPEG", readCorpus(t, "jpeg-truncated-50pct.jpg"), sniff.JPEG, jpg, ErrLoad},
		{"PNG through the JPEG loader", tall, sniff.JPEG, jpg, ErrLoad},
		{"WebP over 16383 px", tall, sniff.PNG, webp, ErrEncode},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Render(c.src, c.format, c.vs)
			var e *Error
			if !errors.As(err, &e) || e.Kind != c.want || !errors.Is(err, c.want) || e.Msg == "" || err.Error() != e.Msg {
				t.Fatalf("%v (%#v), want an *Error of kind %v", err, err, c.want)
			}
			for _, k := range []Kind{ErrLoad, ErrUnsupported, ErrEncode} {
				if k != c.want && errors.Is(err, k) {
					t.Errorf("errors.Is(%v, %v)", err, k)
				}
			}
			t.Logf("%v", err)
		})
	}
	// Bad arguments are not libvips failures.
	if _, err := Render(tall, sniff.BMP, jpg); err == nil || errors.As(err, new(*Error)) {
		t.Errorf("BMP: %v, want a plain error", err)
	}
}

// TestKindOf: the messages libvips and libheif give for each kind.
func TestKindOf(t *testing.T) {
	for _, c := range []struct {
		f    sniff.Format
		msg  string
		want Kind
	}{
		{sniff.JPEG, "VipsJpeg: Premature end of input file", ErrLoad},
		{sniff.PNG, "pngload_buffer: libspng read error", ErrLoad},
		{sniff.TIFF, `VipsForeignLoad: "FILE" is not a known file format`, ErrUnsupported},
		{sniff.GIF, "magickload: operation is blocked", ErrUnsupported},
		{sniff.HEIF, "heifload: Unsupported feature: Unsupported codec", ErrUnsupported},
		{sniff.AVIF, "heifload: No decoding plugin installed for this compression format", ErrUnsupported},
		{sniff.TIFF, "heifload: Unsupported feature: Unsupported codec", ErrLoad}, // libheif's words only count for HEIF/AVIF
		{sniff.TIFF, "tiff2vips: Old-style JPEG compression support is not configured", ErrUnsupported},
		{sniff.TIFF, "tiff2vips: Sorry, requested compression method is not configured", ErrUnsupported},
		{sniff.PNG, "webpsave: image too large", ErrEncode},
		{sniff.JPEG, "vips_foreign_save_buffer: no saver", ErrEncode},
	} {
		if got := kindOf(c.f, c.msg); got != c.want {
			t.Errorf("%s %q: %v, want %v", c.f, c.msg, got, c.want)
		}
	}
}
