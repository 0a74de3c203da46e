package placeholder

import (
	"image"
	"image/draw"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"testing"
)

// load decodes a test image to RGBA (straight alpha, as vips hands over).
func load(t testing.TB, path string) Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return fromImage(img)
}

func fromImage(img image.Image) Image {
	b := img.Bounds()
	n, ok := img.(*image.NRGBA)
	if !ok || n.Stride != 4*b.Dx() {
		n = image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(n, n.Bounds(), img, b.Min, draw.Src)
	}
	return Image{Width: b.Dx(), Height: b.Dy(), Bands: 4, Pix: n.Pix}
}
