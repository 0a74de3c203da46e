package bench

import (
	"fmt"
	"strings"

	"github.com/imgbatch/imgbatch"
)

// encoderSaveOptions are a variant's encoder options as libvips save
// options for vipsthumbnail's output suffix ("interlace,trellis_quant"),
// the same savers' options encode.c passes; "" without any. A colour
// policy that embeds a profile keeps it (keep=icc in place of strip).
func encoderSaveOptions(v imgbatch.Variant) []string {
	e := v.Encoder
	if e == nil {
		return nil
	}
	var o []string
	add := func(on bool, s string) {
		if on {
			o = append(o, s)
		}
	}
	sub := map[string]string{imgbatch.SubsampleOn: "on", imgbatch.SubsampleOff: "off"}[e.Subsample]
	switch v.Format {
	case imgbatch.FormatJPEG:
		add(e.Progressive, "interlace")
		add(sub != "", "subsample_mode="+sub)
		add(e.Trellis, "trellis_quant")
		add(e.QuantTable > 0, fmt.Sprintf("quant_table=%d", e.QuantTable))
	case imgbatch.FormatWebP:
		add(e.Lossless, "lossless")
		add(e.Subsample == imgbatch.SubsampleOff, "smart_subsample")
		add(e.Effort != nil, fmt.Sprintf("effort=%d", deref(e.Effort)))
	case imgbatch.FormatAVIF:
		add(e.Lossless, "lossless")
		add(sub != "", "subsample_mode="+sub)
		add(e.Effort != nil, fmt.Sprintf("effort=%d", deref(e.Effort)))
	case imgbatch.FormatPNG:
		add(e.Progressive, "interlace")
		add(e.Effort != nil, fmt.Sprintf("compression=%d", deref(e.Effort)))
	}
	return o
}

// keepsICC reports whether v's output embeds an ICC profile.
func keepsICC(v imgbatch.Variant) bool {
	return v.Encoder != nil && (v.Encoder.ICC == imgbatch.ICCKeep || v.Encoder.ICC == imgbatch.ICCP3)
}

// vipsthumbnailProfile is vipsthumbnail's export-profile argument for v's
// colour policy: p3, or none (vipsthumbnail then leaves a tagged image in
// its own space, which is what "keep" asks).
func vipsthumbnailProfile(v imgbatch.Variant) []string {
	if v.Encoder != nil && v.Encoder.ICC == imgbatch.ICCP3 {
		return []string{"--export-profile", "p3"}
	}
	return nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// describeEncoder is a variant's encoder options for describeRecipe:
// " progressive trellis icc=p3", or "".
func describeEncoder(v imgbatch.Variant) string {
	var parts []string
	if v.Encoder != nil && v.Encoder.ICC != "" {
		parts = append(parts, "icc="+v.Encoder.ICC)
	}
	parts = append(encoderSaveOptions(v), parts...)
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}
