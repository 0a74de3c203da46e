package vips

// #include <vips/vips.h>
// #include "render.h"
import "C"

import (
	"fmt"

	"github.com/imgbatch/imgbatch"
)

// encoderToC fills the encoder options of a normalized variant (see
// imgbatch.EncoderOptions and encode.c) into c, whose format (format) and
// default effort toC has set. Options the format has no use for are passed on and
// ignored by the encoder (a FormatAuto variant's candidates share them).
func encoderToC(e *imgbatch.EncoderOptions, format string, c *C.imgb_variant) error {
	if e == nil {
		return nil
	}
	c.progressive = cbool(e.Progressive)
	c.trellis = cbool(e.Trellis)
	c.lossless = cbool(e.Lossless)
	if e.QuantTable < 0 || e.QuantTable > imgbatch.MaxQuantTable {
		return fmt.Errorf("quantTable %d outside 0..%d", e.QuantTable, imgbatch.MaxQuantTable)
	}
	c.quant_table = C.int(e.QuantTable)
	switch e.Subsample {
	case "":
		c.subsample = C.VIPS_FOREIGN_SUBSAMPLE_AUTO
	case imgbatch.SubsampleOn:
		c.subsample = C.VIPS_FOREIGN_SUBSAMPLE_ON
	case imgbatch.SubsampleOff:
		c.subsample = C.VIPS_FOREIGN_SUBSAMPLE_OFF
	default:
		return fmt.Errorf("unknown subsample %q", e.Subsample)
	}
	switch e.ICC {
	case "", imgbatch.ICCSRGB:
		c.icc = C.IMGB_ICC_SRGB
	case imgbatch.ICCKeep:
		c.icc = C.IMGB_ICC_KEEP
	case imgbatch.ICCP3:
		c.icc = C.IMGB_ICC_P3
	default:
		return fmt.Errorf("unknown icc %q", e.ICC)
	}
	if e.Effort != nil {
		// libvips ignores an out-of-range property with a warning:
		// refuse it here instead of writing at the default effort.
		if lo, hi, ok := imgbatch.EffortRange(format); ok && (*e.Effort < lo || *e.Effort > hi) {
			return fmt.Errorf("effort %d outside %s's %d..%d", *e.Effort, format, lo, hi)
		}
		c.effort = C.int(*e.Effort)
	}
	return nil
}

// embedsICC reports whether variant v's output carries an ICC profile
// (its colour policy embeds one), so that the WebP clean-up keeps it.
func embedsICC(v imgbatch.Variant) bool {
	return v.Encoder != nil && (v.Encoder.ICC == imgbatch.ICCKeep || v.Encoder.ICC == imgbatch.ICCP3)
}
