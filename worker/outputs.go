package worker

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// Object metadata of issue 16's outputs (x-amz-meta-*), beside the source
// and recipe metadata every output carries (incremental.go).
const (
	// MetaFormat is the format written: a FormatAuto variant's choice, or
	// the source's format for a copy.
	MetaFormat = "imgbatch-format"
	// MetaCopied is "true" on a keepSmallerSource output: the source's
	// own bytes, copied server-side.
	MetaCopied = "imgbatch-copied"
	// MetaQuality is the q the encoder used (a quality target's choice);
	// MetaSSIM the output's measured SSIM against the resized image, when
	// a target was searched.
	MetaQuality = "imgbatch-q"
	MetaSSIM    = "imgbatch-ssim"
)

// outputs turns the render's results into the item's outputs: each goes to
// the key of the format it was written in (a FormatAuto variant's
// choice), or, under keepSmallerSource, is the source itself when the
// encode came out bigger (or was capped to fit) and the source already
// fits (keepSource); an output left bigger is named in the message.
func (w *Worker) outputs(run *imgbatch.Run, j *job, info sniff.Info, rs []vips.Result) ([]rendered, error) {
	tmpl, err := run.KeyTemplate()
	if err != nil {
		return nil, itemErr(CodeInternal, http.StatusBadRequest, "%v", err)
	}
	// The source's metadata is walked only for a keepSmallerSource
	// variant that may copy it, once per item.
	extras := sync.OnceValues(func() (sniff.Extras, bool) { return sniff.InspectExtras(j.data) })
	outs := make([]rendered, 0, len(rs))
	for i, v := range run.Recipe.Variants {
		r := rs[i]
		o := rendered{variant: v, data: r.Data, width: r.Width, height: r.Height,
			format: cmp.Or(r.Format, v.Format), quality: r.Quality, score: r.Score, frames: r.Frames}
		// Capped: the encode at the variant's q was bigger than the
		// source, and q was lowered to fit (vips/search.c); a source
		// that can stand for the variant is better still.
		bigger := int64(len(r.Data)) > j.size
		j.noteSearchCut(v, r) // searchcut.go
		if v.KeepSmallerSource && (bigger || r.Capped) {
			e, known := extras()
			f, why := keepSource(v, info, e, known, r)
			if why == "" {
				o = rendered{variant: v, width: info.Width, height: info.Height, format: f, frames: r.Frames, copied: true, size: j.size}
			} else if bigger {
				// Never silently: the encoder's cap could not be met
				// (the lowest q, or no q: PNG, GIF, lossless) and
				// the source cannot stand for the variant.
				j.bigger = append(j.bigger, fmt.Sprintf("%s %s %d > %d bytes (%s)", v.Name, o.format, len(r.Data), j.size, why))
			}
		}
		key, err := tmpl.Key(run.OutputPrefix, v.Writing(o.format), j.task.Item.Bucket, j.task.Item.Key)
		if err != nil || !slices.Contains(j.keys[i], key) {
			// The plan checked the candidates' keys for collisions: a
			// format outside them would write where nobody looked.
			return nil, itemErr(CodeInternal, http.StatusInternalServerError,
				"variant %q wrote %s, not one of its formats %v", v.Name, o.format, v.OutputFormats())
		}
		o.key = key
		if msg, ok := j.foreignAt[key]; ok {
			j.foreign = msg
		}
		for _, k := range j.keys[i] {
			if k != key && j.own[k] {
				j.stale = append(j.stale, k)
			}
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// keepSource says whether the source may stand for variant v as it is:
// it is in a format v may write and its pixels are what v would make —
// the render neither resized, cropped nor padded it (the source fits the
// box without upscaling) and kept its animation — and it carries nothing
// v's policy would drop or change: upright (EXIF orientation 1 or none:
// a rotated source copied is not upright where the orientation is
// ignored), no EXIF, XMP, comments or text unless v keeps metadata, no
// colour profile unless v keeps the source's (encoder.icc "keep"), no CMYK
// JPEG, no 16-bit PNG. It returns the source's format, or why not.
// JPEG, PNG and WebP sources are inspected; others are always re-encoded.
func keepSource(v imgbatch.Variant, info sniff.Info, e sniff.Extras, known bool, r vips.Result) (format, why string) {
	f := string(info.Format)
	icc := ""
	if v.Encoder != nil {
		icc = v.Encoder.ICC
	}
	switch {
	case !known:
		return "", "a " + f + " source's metadata is not inspected"
	case !slices.Contains(v.OutputFormats(), f):
		return "", "the source is " + f + ", not a format of the variant"
	case info.Orientation > 1:
		return "", "the source is not upright (EXIF orientation)"
	case r.Width != info.Width || r.Height != info.Height:
		return "", "the variant resizes, crops or pads the source"
	case info.Animated != (r.Frames > 1):
		// Kept animated, the output may hold fewer frames than the
		// source: the encoders fold a frame equal to the one before
		// into it (vips/anim.c), the same animation.
		return "", "the variant changes the source's animation"
	case e.Components == 4 || e.BitDepth > 8:
		return "", "the variant converts the source's colours (CMYK JPEG, 16-bit PNG)"
	case !v.KeepMetadata && (e.EXIF || e.XMP || e.Other):
		return "", "the source carries metadata the variant drops"
	case e.ICC && icc != "keep":
		return "", "the source has a colour profile the variant converts"
	case icc != "" && icc != "srgb" && icc != "keep":
		return "", "the variant converts colours to " + icc
	}
	return f, ""
}

// byteCaps is the byte cap of each variant for the encoder
// (vips.RenderCapped): a KeepSmallerSource variant's is the source's
// size (vips/search.c lowers q to stay within it), the others' 0 (none).
func byteCaps(vs []imgbatch.Variant, size int64) []int64 {
	caps := make([]int64, len(vs))
	for i, v := range vs {
		if v.KeepSmallerSource {
			caps[i] = size
		}
	}
	return caps
}
