package batch

import (
	"testing"

	"github.com/imgbatch/imgbatch"
)

// TestPictureOf: <source>s by type, smallest formats first, each srcset by
// width; the <img> is the widest JPEG/PNG/GIF (else the widest output);
// keys are escaped for a srcset (spaces, commas, quotes).
func TestPictureOf(t *testing.T) {
	res := imgbatch.Result{Status: imgbatch.StatusSucceeded, Item: imgbatch.Item{Bucket: "src", Key: "a, b.jpg"}, BytesIn: 9000,
		Outputs: []imgbatch.Output{
			{Variant: "web", Key: `o/web/a, b".jpg`, Format: "jpeg", Width: 1280, Height: 960, Bytes: 900},
			{Variant: "big", Key: "o/big/a b.avif", Format: "avif", Width: 2048, Height: 1536, Bytes: 800},
			{Variant: "thumb", Key: "o/thumb/a b.webp", Format: "webp", Width: 256, Height: 192, Bytes: 100},
			{Variant: "small", Key: "o/small/a b.avif", Format: "avif", Width: 640, Height: 480, Bytes: 300, Copied: true},
		}}
	p, ok := pictureOf(res)
	if !ok || len(p.Variants) != 4 || p.Variants[3].Type != "image/avif" || !p.Variants[3].Copied {
		t.Fatalf("%+v %v", p, ok)
	}
	want := "<picture>\n" +
		`  <source type="image/avif" srcset="o/small/a%20b.avif 640w, o/big/a%20b.avif 2048w">` + "\n" +
		`  <source type="image/webp" srcset="o/thumb/a%20b.webp 256w">` + "\n" +
		`  <source type="image/jpeg" srcset="o/web/a%2C%20b%22.jpg 1280w">` + "\n" +
		`  <img src="o/web/a%2C%20b%22.jpg" width="1280" height="960" alt="">` + "\n</picture>"
	if got := p.Markup(); got != want {
		t.Errorf("markup:\n%s\nwant:\n%s", got, want)
	}
	// No JPEG, PNG or GIF: the widest output.
	res.Outputs = res.Outputs[1:]
	if p, _ := pictureOf(res); p.Img.Key != "o/big/a b.avif" {
		t.Errorf("img %+v", p.Img)
	}
	if _, ok := pictureOf(imgbatch.Result{Status: imgbatch.StatusSkipped}); ok {
		t.Error("a skipped item has a picture")
	}
}
