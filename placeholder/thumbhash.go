package placeholder

import (
	"fmt"
	"math"
)

// ThumbHash is the image's ThumbHash, by Evan Wallace's reference encoder
// (evanw/thumbhash, js/thumbhash.js rgbaToThumbHash), ported line for line
// in float64 as the JavaScript computes: the image in an LPQA colour
// space (composited on its own average colour), a DCT per channel, the
// aspect ratio in the header. Sides must be at most 100 pixels.
func ThumbHash(m Image) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	w, h := m.Width, m.Height
	if w > MaxSide || h > MaxSide {
		return nil, fmt.Errorf("thumbhash: %dx%d does not fit in %dx%d", w, h, MaxSide, MaxSide)
	}
	n := w * h
	var avgR, avgG, avgB, avgA float64
	for i := range n {
		r, g, b, a := m.rgba(i)
		avgR += a / 255 * float64(r)
		avgG += a / 255 * float64(g)
		avgB += a / 255 * float64(b)
		avgA += a
	}
	if avgA > 0 {
		avgR, avgG, avgB = avgR/avgA, avgG/avgA, avgB/avgA
	}
	hasAlpha := avgA < float64(n)
	limit := 7.0
	if hasAlpha {
		limit = 5 // fewer luminance bits when there is alpha
	}
	lx := max(1, int(jsRound(limit*float64(w)/float64(max(w, h)))))
	ly := max(1, int(jsRound(limit*float64(h)/float64(max(w, h)))))
	l, p, q, al := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		pr, pg, pb, a := m.rgba(i)
		r := avgR*(1-a) + a/255*float64(pr)
		g := avgG*(1-a) + a/255*float64(pg)
		b := avgB*(1-a) + a/255*float64(pb)
		l[i], p[i], q[i], al[i] = (r+g+b)/3, (r+g)/2-b, r-g, a
	}
	lc := dctChannel(l, w, h, max(3, lx), max(3, ly))
	pc := dctChannel(p, w, h, 3, 3)
	qc := dctChannel(q, w, h, 3, 3)
	return thumbHashBytes(w > h, hasAlpha, lx, ly, lc, pc, qc, func() channel { return dctChannel(al, w, h, 5, 5) }), nil
}

// channel is one channel's DCT: the constant term, the varying terms
// normalised to 0..1, and their scale.
type channel struct {
	dc    float64
	ac    []float64
	scale float64
}

func dctChannel(c []float64, w, h, nx, ny int) channel {
	var ch channel
	fx := make([]float64, w)
	for cy := range ny {
		for cx := 0; cx*ny < nx*(ny-cy); cx++ {
			f := 0.0
			for x := range w {
				fx[x] = math.Cos(math.Pi / float64(w) * float64(cx) * (float64(x) + 0.5))
			}
			for y := range h {
				fy := math.Cos(math.Pi / float64(h) * float64(cy) * (float64(y) + 0.5))
				for x := range w {
					f += c[x+y*w] * fx[x] * fy
				}
			}
			f /= float64(w * h)
			if cx > 0 || cy > 0 {
				ch.ac = append(ch.ac, f)
				ch.scale = max(ch.scale, math.Abs(f))
			} else {
				ch.dc = f
			}
		}
	}
	if ch.scale > 0 {
		for i := range ch.ac {
			ch.ac[i] = 0.5 + 0.5/ch.scale*ch.ac[i]
		}
	}
	return ch
}

// thumbHashBytes writes the header and the varying terms; alpha is only
// computed when the image has some.
func thumbHashBytes(landscape, hasAlpha bool, lx, ly int, l, p, q channel, alpha func() channel) []byte {
	h24 := int(jsRound(63*l.dc)) | int(jsRound(31.5+31.5*p.dc))<<6 | int(jsRound(31.5+31.5*q.dc))<<12 |
		int(jsRound(31*l.scale))<<18 | b2i(hasAlpha)<<23
	side := lx
	if landscape {
		side = ly
	}
	h16 := side | int(jsRound(63*p.scale))<<3 | int(jsRound(63*q.scale))<<9 | b2i(landscape)<<15
	hash := []byte{byte(h24), byte(h24 >> 8), byte(h24 >> 16), byte(h16), byte(h16 >> 8)}
	chans := []channel{l, p, q}
	if hasAlpha {
		a := alpha()
		hash = append(hash, byte(int(jsRound(15*a.dc))|int(jsRound(15*a.scale))<<4))
		chans = append(chans, a)
	}
	start, k := len(hash), 0
	for _, c := range chans {
		for _, f := range c.ac {
			if start+k>>1 >= len(hash) {
				hash = append(hash, 0)
			}
			hash[start+k>>1] |= byte(int(jsRound(15*f)) << ((k & 1) << 2))
			k++
		}
	}
	return hash
}

// jsRound is JavaScript's Math.round: halves go up.
func jsRound(x float64) float64 { return math.Floor(x + 0.5) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
