/* info.c: the source's facts and its small copy for the catalog (info.h).
 * load.c calls imgb_info_header on the header it reads anyway and render.c
 * imgb_info_small on the shared decode, so neither costs another decode;
 * the imgb_small_* functions below pick where else the copy comes from. */
#include <string.h>

#include <vips/vips.h>

#include "render.h"
#include "internal.h"
#include "info.h"

void
imgb_info_reset(imgb_info *info)
{
	info->orientation = 0;
	info->icc = info->alpha = 0;
	info->pages = 0;
	info->space[0] = '\0';
	info->small = NULL;
	info->small_len = 0;
	info->small_width = info->small_height = info->small_bands = 0;
}

void
imgb_info_header(VipsImage *im, imgb_info *info)
{
	const char *nick;

	info->orientation = vips_image_get_typeof(im, VIPS_META_ORIENTATION) ?
		vips_image_get_orientation(im) : 0;
	info->icc = vips_image_get_typeof(im, VIPS_META_ICC_NAME) != 0;
	info->alpha = vips_image_hasalpha(im);
	info->pages = vips_image_get_n_pages(im);
	nick = vips_enum_nick(VIPS_TYPE_INTERPRETATION, im->Type);
	g_strlcpy(info->space, nick ? nick : "", sizeof(info->space));
}

/* small_srgb brings the small image to 8-bit sRGB with 3 or 4 bands. */
static int
small_srgb(VipsObject *scope, VipsImage **x)
{
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 3);

	if ((*x)->Bands < 3 || (*x)->Type != VIPS_INTERPRETATION_sRGB) {
		if (vips_colourspace(*x, &t[0], VIPS_INTERPRETATION_sRGB, NULL))
			return -1;
		*x = t[0];
	}
	if ((*x)->BandFmt != VIPS_FORMAT_UCHAR) {
		if (vips_cast(*x, &t[1], VIPS_FORMAT_UCHAR, "shift", TRUE, NULL))
			return -1;
		*x = t[1];
	}
	if ((*x)->Bands > 4) {
		if (vips_extract_band(*x, &t[2], 0, "n", 4, NULL))
			return -1;
		*x = t[2];
	}
	return 0;
}

/* small_from_profile brings a small copy made under colour policy icc
 * (IMGB_ICC_*) to sRGB through its embedded profile: under keep it is in
 * the source's space, under p3 in Display P3, and placeholders are for
 * browsers, which take untagged colour as sRGB. The default path's copy
 * is sRGB already and left alone. A profile that cannot be used leaves
 * the pixels as they are: the default path takes those as sRGB too. */
static int
small_from_profile(VipsObject *scope, VipsImage **x, int icc)
{
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 1);

	if (icc == IMGB_ICC_SRGB ||
		!vips_image_get_typeof(*x, VIPS_META_ICC_NAME))
		return 0;
	if (vips_icc_transform(*x, &t[0], "srgb", "embedded", TRUE, NULL)) {
		vips_error_clear();
		return 0;
	}
	*x = t[0];
	return 0;
}

void
imgb_info_small(VipsImage *upright, int icc, imgb_info *info)
{
	VipsObject *scope = VIPS_OBJECT(vips_image_new());
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 1);
	VipsImage *x;
	size_t len;
	void *buf;

	if (info->small_side <= 0)
		goto out;
	/* Transformed before the resize, as thumb transforms the default
	 * path's decode: the same pixels as the default's copy. */
	x = upright;
	if (small_from_profile(scope, &x, icc) ||
		vips_thumbnail_image(x, &t[0], info->small_side,
			"height", info->small_side,
			"size", VIPS_SIZE_DOWN,
			NULL))
		goto fail;
	x = t[0];
	if (small_srgb(scope, &x) ||
		!(buf = vips_image_write_to_memory(x, &len)))
		goto fail;
	info->small = buf;
	info->small_len = len;
	info->small_width = x->Xsize;
	info->small_height = x->Ysize;
	info->small_bands = x->Bands;
	goto out;

fail:
	vips_error_clear();
out:
	g_object_unref(scope);
}

/* imgb_small_from_variant makes the catalog's small copy from *t, a variant
 * that shows the whole frame (inside, contain) at least as large as the
 * copy, when none is made yet: *t is copied to memory first, as a
 * sequential pipeline can be read once, and the variant is finished from
 * that copy (the same pixels). */
int
imgb_small_from_variant(VipsImage **t, const imgb_variant *v, imgb_info *info)
{
	VipsImage *mem;

	if (info->small_side <= 0 || info->small ||
		(v->fit != IMGB_FIT_INSIDE && v->fit != IMGB_FIT_CONTAIN) ||
		VIPS_MAX((*t)->Xsize, (*t)->Ysize) < info->small_side)
		return 0;
	/* A failure here is the decode's (a truncated file): the caller
	 * still owns *t. */
	if (!(mem = vips_image_copy_memory(*t)))
		return -1;
	g_object_unref(*t);
	*t = mem;
	imgb_info_small(mem, v->icc, info);
	return 0;
}

/* imgb_small_needs_shared says whether a one-variant render takes the shared
 * decode for the catalog's small copy: a variant that crops or stretches
 * (cover, fill) does not show the whole frame, and a decode of its own
 * would cost as much as the render (progressive JPEGs gain little from
 * shrink-on-load); the shared decode costs a copy in memory and a resize.
 * Its output then comes from the shared image, as every variant of a
 * recipe of several does. */
int
imgb_small_needs_shared(const imgb_options *opt, const imgb_variant *vs)
{
	return opt->info && opt->info->small_side > 0 &&
		(vs[0].fit == IMGB_FIT_COVER || vs[0].fit == IMGB_FIT_FILL);
}

/* imgb_small_from_source makes the small copy by a decode of its own, shrunk
 * on load, when no variant gave one: a lone variant smaller than the copy,
 * or the per-variant strategy with only cover and fill variants. */
void
imgb_small_from_source(const imgb_source *src, const imgb_header *h,
	imgb_info *info)
{
	imgb_box b = { info->small_side, info->small_side, VIPS_SIZE_DOWN,
		VIPS_INTERESTING_NONE };
	VipsImage *in, *t;

	if (info->small_side <= 0)
		return;
	if (!(in = imgb_open_for(src, h, &b, IMGB_SHRINK_FAST))) {
		vips_error_clear();
		return;
	}
	if (imgb_thumb(in, &t, &b, h, IMGB_ICC_SRGB)) {
		vips_error_clear();
		g_object_unref(in);
		return;
	}
	g_object_unref(in);
	imgb_info_small(t, IMGB_ICC_SRGB, info);
	g_object_unref(t);
}
