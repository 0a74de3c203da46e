/* colour.c: which colour space an output is written in, and which ICC
 * profile goes with it (imgbatch.EncoderOptions.ICC).
 *
 * By default every output is 8-bit sRGB without a profile: an embedded
 * profile is applied (vips_thumbnail transforms through it after
 * resizing), CMYK without one goes through libvips' built-in CMYK profile,
 * and the profile is stripped. "keep" leaves an RGB or grey source with a
 * profile in its own space and embeds that profile (a wide-gamut photo
 * stays wide-gamut, bit for bit the source's colours); "p3" converts to
 * Display P3 with libvips' built-in "p3" profile and embeds it. */
#include <vips/vips.h>

#include "render.h"
#include "internal.h"

void
imgb_profiles(int has_icc, int cmyk, int bands, int icc,
	const char **import, const char **export)
{
	*import = NULL;
	*export = NULL;

	if (icc == IMGB_ICC_KEEP && has_icc && !cmyk)
		return;
	if (icc == IMGB_ICC_P3) {
		/* Untagged colour is sRGB; untagged grey stays grey. */
		if (cmyk)
			*import = "cmyk";
		else if (bands >= 3)
			*import = "srgb";
		if (*import || has_icc)
			*export = "p3";
		return;
	}
	if (!has_icc && !cmyk)
		return;
	if (cmyk)
		*import = "cmyk";
	else if (bands >= 3)
		*import = "srgb"; /* fallback for a broken embedded profile */
	*export = "srgb";
}

void
imgb_keep_profile(VipsImage *from, VipsImage *to)
{
	const void *data;
	size_t len;

	if (vips_image_get_typeof(from, VIPS_META_ICC_NAME) &&
		!vips_image_get_blob(from, VIPS_META_ICC_NAME, &data, &len))
		vips_image_set_blob_copy(to, VIPS_META_ICC_NAME, data, len);
}
