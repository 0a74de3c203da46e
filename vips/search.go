package vips

// #cgo LDFLAGS: -lm
// #include "render.h"
// #include "search.h"
import "C"

import (
	"fmt"

	"github.com/imgbatch/imgbatch"
)

// searchProbes is the search's bound on the encodes of one format.
const searchProbes = 6

// The search's other bounds (search.c), vars for tests. Under a target,
// no probe but the first starts that would take the search's work past
// searchWork, whether or not an output met the target yet (if none did,
// the closest is written: Result.BudgetCut). Work is counted (pixels
// encoded, weighted per format and effort; search.c probe_work), in ms of
// one quiet core of this project's 2-core Xeon, so the output does not
// depend on the machine's load.
// searchWallMs is only a safety net, 3x the budget: a search it stops
// says so (Result.TimeCut), since that output depends on the load. It
// fires before the worker's item deadline (30 s + 30 s per searching
// variant).
var (
	searchWork   = 15000.0
	searchWallMs = 45000
)

// preparedAs is the format a FormatAuto variant is finished as before the
// search (flattened and padded as for it): the first candidate that can
// hold alpha, so an image with alpha keeps it (and skips JPEG).
func preparedAs(formats []string) string {
	for _, f := range formats {
		if f != imgbatch.FormatJPEG {
			return f
		}
	}
	return imgbatch.FormatJPEG
}

// searchToC fills the search fields of a (normalized) variant: its quality
// target and candidate formats.
func searchToC(v imgbatch.Variant, c *C.imgb_variant) error {
	c.max_probes = searchProbes
	c.work_budget = C.double(searchWork)
	c.wall_ms = C.int(searchWallMs)
	if t := v.Target; t != nil {
		if !(t.SSIM > 0.5 && t.SSIM < 1) || t.MinQuality < 1 || t.MaxQuality > 100 || t.MinQuality > t.MaxQuality {
			return fmt.Errorf("quality target %+v: not normalized", *t)
		}
		c.target_ssim = C.double(t.SSIM)
		c.q_min, c.q_max = C.int(t.MinQuality), C.int(t.MaxQuality)
	}
	if v.Format != imgbatch.FormatAuto {
		return nil
	}
	if len(v.Formats) == 0 || len(v.Formats) > C.IMGB_MAX_CANDIDATES {
		return fmt.Errorf("format auto with %d candidates", len(v.Formats))
	}
	for i, f := range v.Formats {
		format, effort, err := candidateC(f)
		if err != nil {
			return err
		}
		if e := v.Encoder; e != nil && e.Effort != nil {
			// The recipe's effort applies to the candidates whose range
			// holds it (normalizeEncoder checked one does).
			if lo, hi, ok := imgbatch.EffortRange(f); ok && *e.Effort >= lo && *e.Effort <= hi {
				effort = C.int(*e.Effort)
			}
		}
		c.candidates[i], c.candidate_effort[i] = format, effort
	}
	c.n_candidates = C.int(len(v.Formats))
	return nil
}

// candidateC is the IMGB_* format of a candidate and its encoder effort,
// as toC sets them for a variant of that format.
func candidateC(f string) (format, effort C.int, err error) {
	switch f {
	case imgbatch.FormatJPEG:
		return C.IMGB_JPEG, -1, nil
	case imgbatch.FormatPNG:
		return C.IMGB_PNG, -1, nil
	case imgbatch.FormatWebP:
		return C.IMGB_WEBP, webpEffort, nil
	case imgbatch.FormatAVIF:
		return C.IMGB_AVIF, avifEffort, nil
	case imgbatch.FormatGIF:
		return C.IMGB_GIF, -1, nil
	}
	return 0, 0, fmt.Errorf("unknown candidate format %q", f)
}

// searchProbesMade is how many encodes searches have made in this process.
func searchProbesMade() int { return int(C.imgb_search_probes()) }

// capsToC sets each variant's byte cap (maxBytes[i]; 0 or none: no cap):
// a render option per item, never part of the recipe's variants (the
// worker caps a keepSmallerSource variant at its source's size).
func capsToC(maxBytes []int64, cvs []C.imgb_variant) error {
	if len(maxBytes) == 0 {
		return nil
	}
	if len(maxBytes) != len(cvs) {
		return fmt.Errorf("%d byte caps for %d variants", len(maxBytes), len(cvs))
	}
	for i, b := range maxBytes {
		if b < 0 {
			return fmt.Errorf("variant %d: byte cap %d", i, b)
		}
		cvs[i].max_bytes = C.size_t(b)
	}
	return nil
}
