package vips

// #include "render.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/imgbatch/imgbatch/sniff"
)

// Stats are the sample statistics of an image's first page, over all its
// bands, in its stored values (no colour management; 0-65535 for 16-bit).
type Stats struct {
	Min, Max, Mean, StdDev float64
}

// FlatBlack reports whether every sample is 0: an image with nothing in it.
func (s Stats) FlatBlack() bool { return s.Max <= 0 }

// Flat reports whether every sample has the same value.
func (s Stats) Flat() bool { return s.Max == s.Min }

// ImageStats decodes data, an image of format f (a source or a variant),
// and returns its statistics: the corpus tests compare a variant's with its
// source's, so that a black output from a source with something in it is
// never counted a success.
func ImageStats(data []byte, f sniff.Format) (Stats, error) {
	loader, ok := loaderFor(f)
	if !ok {
		return Stats{}, fmt.Errorf("vips: no loader for format %q", f)
	}
	if len(data) == 0 {
		return Stats{}, fmt.Errorf("vips: empty %s", f)
	}
	var out [4]C.double
	if C.imgb_stats(loader, unsafe.Pointer(&data[0]), C.size_t(len(data)), &out[0]) != 0 {
		return Stats{}, lastError(f)
	}
	return Stats{Min: float64(out[0]), Max: float64(out[1]), Mean: float64(out[2]), StdDev: float64(out[3])}, nil
}
