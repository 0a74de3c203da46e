/* encode.c: the encoders, one libvips save call per output format, with
 * the variant's options. finish (render.c) calls imgb_encode once per
 * variant; a search for a quality target or the smallest format calls it
 * once per candidate. */
#include <vips/vips.h>

#include "render.h"
#include "internal.h"

/* imgb_encode writes x in v's format into a new buffer. */
int
imgb_encode(VipsImage *x, const imgb_variant *v, void **out, size_t *out_len)
{
	int strip = !v->keep_metadata;

	switch (v->format) {
	case IMGB_JPEG:
		return vips_jpegsave_buffer(x, out, out_len,
			"Q", v->quality,
			"strip", strip,
			"optimize_coding", TRUE,
			NULL);
	case IMGB_PNG:
		return vips_pngsave_buffer(x, out, out_len,
			"strip", strip,
			"compression", 6,
			NULL);
	case IMGB_WEBP:
		return vips_webpsave_buffer(x, out, out_len,
			"Q", v->quality,
			"strip", strip,
			"effort", v->effort,
			NULL);
	case IMGB_AVIF:
		return vips_heifsave_buffer(x, out, out_len,
			"Q", v->quality,
			"strip", strip,
			"compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1,
			"effort", v->effort,
			NULL);
	case IMGB_GIF:
		/* A palette of up to 256 colours per frame (libimagequant);
		 * no quality knob. An animation's frames, delays and loop
		 * come from page-height, delay and loop. */
		return vips_gifsave_buffer(x, out, out_len,
			"strip", strip,
			NULL);
	}
	vips_error("imgbatch", "unknown output format %d", v->format);
	return -1;
}
