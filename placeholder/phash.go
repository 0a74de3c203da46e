package placeholder

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
)

// PHash is the image's 64-bit perceptual hash, the DCT hash of pHash and
// Python's imagehash.phash: the luma (Rec. 601, alpha on white) reduced to
// 32x32 by area averaging, a 2-D DCT-II, the 8x8 lowest frequencies (the
// DC included), one bit per coefficient set when it is above their
// median, row by row from the most significant bit. Resizing or
// recompressing a photo moves few bits; another photo differs in about
// half of them (compare with Hamming).
func PHash(m Image) (uint64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	const n, k = 32, 8
	luma := make([]float64, m.Width*m.Height)
	for i := range luma {
		r, g, b := m.onWhite(i)
		luma[i] = 0.299*r + 0.587*g + 0.114*b
	}
	small := resizeArea(luma, m.Width, m.Height, n, n)
	coef := dct2(small, n, k)
	med := median(coef)
	var h uint64
	for i, c := range coef {
		if c > med {
			h |= 1 << (63 - i)
		}
	}
	return h, nil
}

// PHashHex is the hash as 16 lower-case hex digits (the catalog's form).
func PHashHex(h uint64) string { return fmt.Sprintf("%016x", h) }

// ParsePHash reads PHashHex's form back.
func ParsePHash(s string) (uint64, error) { return strconv.ParseUint(s, 16, 64) }

// Hamming is the number of bits in which two hashes differ: about 0-8
// for the same picture resized or recompressed, about 32 for unrelated
// ones.
func Hamming(a, b uint64) int { return bits.OnesCount64(a ^ b) }

// resizeArea resamples a w x h plane to nw x nh, each output the mean of
// the input area it covers (fractional edges weighed by their overlap).
func resizeArea(src []float64, w, h, nw, nh int) []float64 {
	tmp := make([]float64, nw*h)
	for y := range h {
		resample1D(src[y*w:(y+1)*w], 1, tmp[y*nw:], 1, w, nw)
	}
	out := make([]float64, nw*nh)
	for x := range nw {
		resample1D(tmp[x:], nw, out[x:], nw, h, nh)
	}
	return out
}

// resample1D averages n inputs (stride is) into nn outputs (stride os).
func resample1D(in []float64, is int, out []float64, os, n, nn int) {
	scale := float64(n) / float64(nn)
	for o := range nn {
		lo, hi := float64(o)*scale, float64(o+1)*scale
		sum, wsum := 0.0, 0.0
		for i := int(lo); i < n && float64(i) < hi; i++ {
			wt := min(hi, float64(i+1)) - max(lo, float64(i))
			sum += wt * in[i*is]
			wsum += wt
		}
		out[o*os] = sum / wsum
	}
}

// dct2 is the k x k lowest-frequency block of the 2-D DCT-II of an n x n
// plane, row-major.
func dct2(p []float64, n, k int) []float64 {
	cos := make([]float64, k*n)
	for u := range k {
		for x := range n {
			cos[u*n+x] = math.Cos(math.Pi * float64(u) * (2*float64(x) + 1) / float64(2*n))
		}
	}
	rows := make([]float64, n*k) // rows[y*k+u]: DCT along x of row y
	for y := range n {
		for u := range k {
			s := 0.0
			for x := range n {
				s += p[y*n+x] * cos[u*n+x]
			}
			rows[y*k+u] = s
		}
	}
	out := make([]float64, k*k)
	for v := range k {
		for u := range k {
			s := 0.0
			for y := range n {
				s += rows[y*k+u] * cos[v*n+y]
			}
			out[v*k+u] = s
		}
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
