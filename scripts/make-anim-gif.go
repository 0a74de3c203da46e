//go:build ignore

// make-anim-gif writes testdata/anim/gif-animated-6-frames.gif, the small
// valid animated GIF of the animation tests: 96x64, six frames in which a
// red square walks left to right over a blue-green gradient, each frame
// with its own delay (10..60 centiseconds: 100..600 ms) and a loop count
// of 3. Run from the repository's root:
//
//	go run scripts/make-anim-gif.go
package main

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"log"
	"os"
)

func main() {
	pal := color.Palette{}
	for i := 0; i < 15; i++ {
		pal = append(pal, color.RGBA{uint8(20 + 12*i), uint8(120 + 8*i), 200, 255})
	}
	pal = append(pal, color.RGBA{230, 20, 20, 255})
	g := &gif.GIF{LoopCount: 3}
	for f := 0; f < 6; f++ {
		p := image.NewPaletted(image.Rect(0, 0, 96, 64), pal)
		for y := 0; y < 64; y++ {
			for x := 0; x < 96; x++ {
				i := uint8(x * 15 / 96)
				if x >= 8+f*14 && x < 24+f*14 && y >= 24 && y < 40 {
					i = 15
				}
				p.SetColorIndex(x, y, i)
			}
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10*(f+1))
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("testdata/anim/gif-animated-6-frames.gif", buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
