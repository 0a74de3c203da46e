/* resize.c: the fit of each variant (its box), and the resize, crop,
 * rotation and colour conversion vips_thumbnail_image makes of it.
 */
#include <math.h>

#include <vips/vips.h>

#include "render.h"
#include "internal.h"

/* thumbnail_image is vips_thumbnail_image(in, out, b->width, ...) with
 * "import_profile" and "export_profile" set only when not NULL (an unset
 * profile and a NULL one are not the same to vips_thumbnail). */
static int
thumbnail_image(VipsImage *in, VipsImage **out, const imgb_box *b,
	const char *import, const char *export)
{
	VipsOperation *op;
	int err;

	if (!(op = vips_operation_new("thumbnail_image")))
		return -1;
	err = vips_object_set(VIPS_OBJECT(op),
		"in", in,
		"width", b->width,
		"height", b->height,
		"size", b->size,
		"crop", b->crop,
		NULL);
	if (!err && import)
		err = vips_object_set(VIPS_OBJECT(op), "import_profile", import, NULL);
	if (!err && export)
		err = vips_object_set(VIPS_OBJECT(op), "export_profile", export, NULL);
	/* Built as vips_call_split builds it: through the operation cache
	 * (off, see start.c). */
	if (err || vips_cache_operation_buildp(&op)) {
		vips_object_unref_outputs(VIPS_OBJECT(op));
		g_object_unref(op);
		return -1;
	}
	g_object_get(op, "out", out, NULL);
	vips_object_unref_outputs(VIPS_OBJECT(op));
	g_object_unref(op);
	return 0;
}

/* imgb_thumb resizes, crops, rotates upright and brings in to 8-bit sRGB (or
 * B_W): through the embedded ICC profile when there is one, through the
 * built-in CMYK profile for CMYK without one; or to the colour policy icc
 * asks for (colour.c). */
int
imgb_thumb(VipsImage *in, VipsImage **out, const imgb_box *b,
	const imgb_header *h, int icc)
{
	const char *import, *export;

	imgb_profiles(h->has_icc, h->cmyk, h->bands, icc, &import, &export);
	return thumbnail_image(in, out, b, import, export);
}

void
imgb_variant_box(const imgb_variant *v, const imgb_header *h, imgb_box *b)
{
	b->width = v->width > 0 ? v->width : VIPS_MAX_COORD;
	b->height = v->height > 0 ? v->height : VIPS_MAX_COORD;
	b->size = v->upscale ? VIPS_SIZE_BOTH : VIPS_SIZE_DOWN;
	b->crop = VIPS_INTERESTING_NONE;

	switch (v->fit) {
	case IMGB_FIT_COVER:
		b->crop = v->smartcrop ? VIPS_INTERESTING_ATTENTION : VIPS_INTERESTING_CENTRE;
		if (!v->upscale) {
			/* Covering the box would enlarge: crop the largest
			 * region of the box's shape from the unscaled image. */
			int uw = h->swap ? h->height : h->width;
			int uh = h->swap ? h->width : h->height;
			double f = VIPS_MAX((double) b->width / uw, (double) b->height / uh);

			if (f > 1) {
				b->width = VIPS_CLIP(1, (int) rint(b->width / f), uw);
				b->height = VIPS_CLIP(1, (int) rint(b->height / f), uh);
			}
		}
		break;
	case IMGB_FIT_FILL:
		/* Stretch; without upscale, no side grows past the source. */
		b->size = VIPS_SIZE_FORCE;
		if (!v->upscale) {
			int uw = h->swap ? h->height : h->width;
			int uh = h->swap ? h->width : h->height;

			b->width = VIPS_MIN(b->width, uw);
			b->height = VIPS_MIN(b->height, uh);
		}
		break;
	}
}
