/* shrink.c: shrink-on-load. How much a box shrinks the source, and the
 * loader's own shrink (JPEG's DCT factor, WebP's scale, HEIF's stored
 * thumbnail) that leaves the rest to vips_thumbnail_image. The arithmetic
 * mirrors libvips' own vips_thumbnail_buffer (libvips/resample/thumbnail.c).
 */
#include <vips/vips.h>

#include "render.h"
#include "internal.h"

/* calc_shrink is vips_thumbnail_calculate_shrink: how much each axis of
 * an in_w x in_h input must shrink to meet box b once upright. */
static void
calc_shrink(int in_w, int in_h, int swap, const imgb_box *b,
	double *hshrink, double *vshrink)
{
	int tw = swap ? b->height : b->width;
	int th = swap ? b->width : b->height;
	int horizontal;

	*hshrink = (double) in_w / tw;
	*vshrink = (double) in_h / th;
	if (b->crop != VIPS_INTERESTING_NONE)
		horizontal = *hshrink < *vshrink;
	else
		horizontal = !(*hshrink < *vshrink);
	if (b->size != VIPS_SIZE_FORCE) {
		if (horizontal)
			*vshrink = *hshrink;
		else
			*hshrink = *vshrink;
	}
	if (b->size == VIPS_SIZE_UP) {
		*hshrink = VIPS_MIN(1, *hshrink);
		*vshrink = VIPS_MIN(1, *vshrink);
	}
	else if (b->size == VIPS_SIZE_DOWN) {
		*hshrink = VIPS_MAX(1, *hshrink);
		*vshrink = VIPS_MAX(1, *vshrink);
	}
	*hshrink = VIPS_MIN(*hshrink, in_w);
	*vshrink = VIPS_MIN(*vshrink, in_h);
}

double
imgb_common_shrink(int in_w, int in_h, int swap, const imgb_box *b)
{
	double h, v;

	calc_shrink(in_w, in_h, swap, b, &h, &v);
	return VIPS_MIN(h, v);
}

/* jpeg_shrink picks libjpeg's shrink-on-load (1, 2, 4 or 8) for an
 * overall shrink. libjpeg shrinks in the DCT domain: the entropy decoding
 * of every coefficient costs the same at any factor, but the IDCT, colour
 * conversion and everything after scale with the pixels decoded, so the
 * factor sets most of the cost that is ours to choose.
 *
 * IMGB_SHRINK_FAST is sharp's fastShrinkOnLoad (its default): the largest
 * factor the shrink allows, halved when the shrink's integer part equals
 * it (libjpeg's rounding would leave the image a pixel short). 12 MP to
 * 512 wide decodes at 1/4 or 1/8. IMGB_SHRINK_FINE leaves at least 1.5x to
 * lanczos3 and IMGB_SHRINK_LIBVIPS at least 2x (vips_thumbnail's rule):
 * 2-3x the decoded pixels for about 0.1 dB PSNR at q80 (bench/results). */
static int
jpeg_shrink(double shrink, int policy)
{
	double margin;
	int k;

	switch (policy) {
	case IMGB_SHRINK_NONE:
		return 1;
	case IMGB_SHRINK_FAST:
		k = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
		if (k > 1 && (int) shrink == k)
			k /= 2;
		return k;
	case IMGB_SHRINK_FINE:
		margin = 1.5;
		break;
	default:
		margin = 2.0;
	}
	for (k = 8; k > 1; k /= 2)
		if (shrink >= margin * k)
			return k;
	return 1;
}

int
imgb_jpeg_shrink(double shrink, int policy)
{
	return jpeg_shrink(shrink, policy);
}

/* imgb_open_for opens the source with the shrink-on-load that box b allows
 * under policy (IMGB_SHRINK_*). */
VipsImage *
imgb_open_for(const imgb_source *src, const imgb_header *h, const imgb_box *b,
	int policy)
{
	double s = imgb_common_shrink(h->width, h->height, h->swap, b);

	if (policy == IMGB_SHRINK_NONE)
		return imgb_open(src, 1, FALSE);
	switch (src->loader) {
	case IMGB_LOAD_JPEG:
		return imgb_open(src, jpeg_shrink(s, policy), FALSE);
	case IMGB_LOAD_WEBP:
		return imgb_open(src, VIPS_MAX(1.0, s), FALSE);
	case IMGB_LOAD_HEIF:
		/* Use the stored thumbnail only if it needs no enlarging. */
		return imgb_open(src, 1,
			h->heif_thumb_width > 0 &&
				imgb_common_shrink(h->heif_thumb_width, h->heif_thumb_height,
					h->swap, b) > 1.0);
	default:
		return imgb_open(src, 1, FALSE);
	}
}

/* imgb_policy_of is the shrink-on-load policy of variant v under opt. */
int
imgb_policy_of(const imgb_options *opt, const imgb_variant *v)
{
	if (opt->shrink_on_load != IMGB_SHRINK_VARIANT)
		return opt->shrink_on_load;
	return v->shrink_on_load;
}
