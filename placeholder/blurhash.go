package placeholder

import (
	"fmt"
	"math"
	"strings"
)

// BlurHash is the image's BlurHash with xc x yc components (1..9 each;
// the catalog uses 4x3), by the reference algorithm (woltapp/blurhash,
// Algorithm.md): a DCT of the linear-light image, the DC as sRGB, the AC
// quantised against their maximum, all in base 83. Alpha is put on white.
func BlurHash(m Image, xc, yc int) (string, error) {
	if err := m.check(); err != nil {
		return "", err
	}
	if xc < 1 || xc > 9 || yc < 1 || yc > 9 {
		return "", fmt.Errorf("blurhash: %dx%d components, want 1..9 each", xc, yc)
	}
	lin := m.linear()
	factors := make([][3]float64, 0, xc*yc)
	for j := range yc {
		for i := range xc {
			factors = append(factors, basis(lin, m.Width, m.Height, i, j))
		}
	}
	var sb strings.Builder
	sb.WriteString(base83((xc-1)+(yc-1)*9, 1))
	ac := factors[1:]
	maxAC := 1.0
	if len(ac) > 0 {
		actual := 0.0
		for _, f := range ac {
			actual = max(actual, math.Abs(f[0]), math.Abs(f[1]), math.Abs(f[2]))
		}
		q := int(max(0, min(82, math.Floor(actual*166-0.5))))
		maxAC = float64(q+1) / 166
		sb.WriteString(base83(q, 1))
	} else {
		sb.WriteString(base83(0, 1))
	}
	dc := factors[0]
	sb.WriteString(base83(toSRGB(dc[0])<<16+toSRGB(dc[1])<<8+toSRGB(dc[2]), 4))
	for _, f := range ac {
		sb.WriteString(base83(quantAC(f[0], maxAC)*19*19+quantAC(f[1], maxAC)*19+quantAC(f[2], maxAC), 2))
	}
	return sb.String(), nil
}

// linear is the image on white in linear light, 3 floats a pixel.
func (m Image) linear() []float64 {
	n := m.Width * m.Height
	out := make([]float64, 3*n)
	for i := range n {
		r, g, b := m.onWhite(i)
		out[3*i], out[3*i+1], out[3*i+2] = srgbLUT[int(r+0.5)], srgbLUT[int(g+0.5)], srgbLUT[int(b+0.5)]
	}
	return out
}

// basis is the (i, j) cosine component of lin.
func basis(lin []float64, w, h, i, j int) [3]float64 {
	cx := make([]float64, w)
	for x := range w {
		cx[x] = math.Cos(math.Pi * float64(i*x) / float64(w))
	}
	var r, g, b float64
	for y := range h {
		cy := math.Cos(math.Pi * float64(j*y) / float64(h))
		row := lin[3*y*w:]
		for x := range w {
			f := cx[x] * cy
			r += f * row[3*x]
			g += f * row[3*x+1]
			b += f * row[3*x+2]
		}
	}
	norm := 2.0
	if i == 0 && j == 0 {
		norm = 1
	}
	s := norm / float64(w*h)
	return [3]float64{r * s, g * s, b * s}
}

// srgbLUT maps an sRGB byte to linear light.
var srgbLUT = func() (t [256]float64) {
	for i := range t {
		v := float64(i) / 255
		if v <= 0.04045 {
			t[i] = v / 12.92
		} else {
			t[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return t
}()

// toSRGB maps linear light back to an sRGB byte.
func toSRGB(v float64) int {
	v = max(0, min(1, v))
	if v <= 0.0031308 {
		return int(v*12.92*255 + 0.5)
	}
	return int((1.055*math.Pow(v, 1/2.4)-0.055)*255 + 0.5)
}

func quantAC(v, maxAC float64) int {
	x := v / maxAC
	sp := math.Copysign(math.Sqrt(math.Abs(x)), x)
	return int(max(0, min(18, math.Floor(sp*9+9.5))))
}

const digits83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

// base83 writes v in n base-83 digits, most significant first.
func base83(v, n int) string {
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = digits83[v%83]
		v /= 83
	}
	return string(b)
}
