/* encode.c: the encoders, one libvips save call per output format, with
 * the variant's options. imgb_finish (finish.c) calls imgb_encode once per
 * variant; a search for a quality target or the smallest format calls it
 * once per candidate.
 *
 * Every option is passed on every call: at its zero value (the
 * imgb_variant default) it is libvips' own default, so a variant without
 * options writes the bytes it wrote before there were any. "keep" replaces
 * the deprecated "strip" (strip TRUE is keep NONE, FALSE keep ALL). */
#include <vips/vips.h>

#include "render.h"
#include "internal.h"

/* keep is the metadata the saver writes: all of it for a variant that
 * keeps its metadata, the profile alone for one whose colour policy embeds
 * it, none otherwise. */
static VipsForeignKeep
keep(const imgb_variant *v)
{
	if (v->keep_metadata)
		return VIPS_FOREIGN_KEEP_ALL;
	if (v->icc != IMGB_ICC_SRGB)
		return VIPS_FOREIGN_KEEP_ICC;
	return VIPS_FOREIGN_KEEP_NONE;
}

/* jpeg: trellis and the quant tables are mozjpeg's (sharp's libvips has
 * it); subsample AUTO is 4:2:0 below Q 90, 4:4:4 from it. */
static int
jpeg(VipsImage *x, const imgb_variant *v, void **out, size_t *out_len)
{
	return vips_jpegsave_buffer(x, out, out_len,
		"Q", v->quality,
		"keep", keep(v),
		"optimize_coding", TRUE,
		"interlace", v->progressive,
		"subsample_mode", v->subsample,
		"trellis_quant", v->trellis,
		"quant_table", v->quant_table,
		NULL);
}

/* webp: lossy VP8 is always 4:2:0; "off" asks for libwebp's sharp RGB to
 * YUV conversion (smart_subsample), which keeps colour edges crisp. */
static int
webp(VipsImage *x, const imgb_variant *v, void **out, size_t *out_len)
{
	return vips_webpsave_buffer(x, out, out_len,
		"Q", v->quality,
		"keep", keep(v),
		"effort", v->effort,
		"lossless", v->lossless,
		"smart_subsample", v->subsample == VIPS_FOREIGN_SUBSAMPLE_OFF,
		NULL);
}

/* avif: lossless implies 4:4:4 (heifsave). */
static int
avif(VipsImage *x, const imgb_variant *v, void **out, size_t *out_len)
{
	return vips_heifsave_buffer(x, out, out_len,
		"Q", v->quality,
		"keep", keep(v),
		"compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1,
		"effort", v->effort,
		"lossless", v->lossless,
		"subsample_mode", v->subsample,
		NULL);
}

/* png: effort is zlib's compression level (6 unless set). */
static int
png(VipsImage *x, const imgb_variant *v, void **out, size_t *out_len)
{
	return vips_pngsave_buffer(x, out, out_len,
		"keep", keep(v),
		"compression", v->effort >= 0 ? v->effort : 6,
		"interlace", v->progressive,
		NULL);
}

/* gif: a palette of up to 256 colours per frame (libimagequant); no
 * quality knob. An animation's frames, delays and loop come from
 * page-height, delay and loop. */
static int
gif(VipsImage *x, const imgb_variant *v, void **out, size_t *out_len)
{
	return vips_gifsave_buffer(x, out, out_len,
		"keep", keep(v),
		NULL);
}

/* imgb_encode writes x in v's format into a new buffer. */
int
imgb_encode(VipsImage *x, const imgb_variant *v, void **out, size_t *out_len)
{
	switch (v->format) {
	case IMGB_JPEG:
		return jpeg(x, v, out, out_len);
	case IMGB_PNG:
		return png(x, v, out, out_len);
	case IMGB_WEBP:
		return webp(x, v, out, out_len);
	case IMGB_AVIF:
		return avif(x, v, out, out_len);
	case IMGB_GIF:
		return gif(x, v, out, out_len);
	}
	vips_error("imgbatch", "unknown output format %d", v->format);
	return -1;
}
