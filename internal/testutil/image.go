package testutil

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// Gradient draws w×h with red rising from left to right, green from top
// to bottom, and blue from texture.
func Gradient(w, h int, texture func(x, y int) uint8) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), texture(x, y), 255})
		}
	}
	return img
}

// Photo draws a photo-like picture of w×h: smooth gradients and some
// texture, so that encoders and resamplers do real work. Pictures of
// different seeds differ.
func Photo(w, h int, seed int) *image.RGBA {
	return Gradient(w, h, func(x, y int) uint8 { return uint8((x*7 + y*(13+seed)) ^ (x * y >> 5)) })
}

// JPEG encodes img as a JPEG of the given quality.
func JPEG(t testing.TB, img image.Image, quality int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// PNG encodes img as a PNG.
func PNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// PhotoFile is Photo(w, h, 0) encoded as a PNG, or as a JPEG of quality 88.
func PhotoFile(t testing.TB, w, h int, asPNG bool) []byte {
	t.Helper()
	if asPNG {
		return PNG(t, Photo(w, h, 0))
	}
	return JPEG(t, Photo(w, h, 0), 88)
}
