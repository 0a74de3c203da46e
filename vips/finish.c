/* finish.c: what a resized variant goes through before its encoder: 8
 * bits, flattened for JPEG, padded for contain, stripped of metadata.
 */
#include <vips/vips.h>

#include "render.h"
#include "internal.h"

static VipsArrayDouble *
ink(int n, double value)
{
	double v[16];
	int i;

	n = VIPS_CLIP(1, n, 16);
	for (i = 0; i < n; i++)
		v[i] = value;
	return vips_array_double_new(v, n);
}

/* Metadata that stripping removes, by name prefix. */
static const char *metadata_prefixes[] = {
	"exif-", "xmp-", "iptc-", "icc-profile-", "orientation",
	"png-comment-", "gif-comment", "jpeg-thumbnail-",
};

/* strip_metadata removes EXIF, XMP, IPTC, ICC and comments from a copy of
 * in. Encoders' own "strip" is not enough: libvips 8.14.1's webpsave
 * ignores it. */
static int
strip_metadata(VipsImage *in, VipsImage **out)
{
	gchar **names;
	int i, j;

	if (vips_copy(in, out, NULL))
		return -1;
	names = vips_image_get_fields(*out);
	for (i = 0; names[i]; i++)
		for (j = 0; j < (int) G_N_ELEMENTS(metadata_prefixes); j++)
			if (vips_isprefix(metadata_prefixes[j], names[i])) {
				vips_image_remove(*out, names[i]);
				break;
			}
	g_strfreev(names);
	return 0;
}

/* The steps of imgb_finish. Each replaces *x by its result when it changes the
 * image; the intermediates belong to scope and go with it. */

/* to_uchar: vips_thumbnail_image leaves 8 bits; this is a safety net for
 * paths (ICC transforms in libvips 8.14) that may keep 16. */
static int
to_uchar(VipsObject *scope, VipsImage **x)
{
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 2);

	if ((*x)->BandFmt == VIPS_FORMAT_UCHAR)
		return 0;
	if (vips_colourspace(*x, &t[0],
			(*x)->Bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W,
			NULL))
		return -1;
	*x = t[0];
	if ((*x)->BandFmt == VIPS_FORMAT_UCHAR)
		return 0;
	if (vips_cast(*x, &t[1], VIPS_FORMAT_UCHAR, "shift", TRUE, NULL))
		return -1;
	*x = t[1];
	return 0;
}

/* flatten_for_jpeg puts an image with alpha on white for JPEG, which has
 * none. */
static int
flatten_for_jpeg(VipsObject *scope, VipsImage **x, const imgb_variant *v)
{
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 1);
	VipsArrayDouble *bg;
	int err;

	if (v->format != IMGB_JPEG || !vips_image_hasalpha(*x))
		return 0;
	bg = ink((*x)->Bands - 1, 255);
	err = vips_flatten(*x, &t[0], "background", bg, NULL);
	vips_area_unref(VIPS_AREA(bg));
	if (err)
		return -1;
	*x = t[0];
	return 0;
}

/* pad_contain centres a contain variant in its box: white for JPEG,
 * transparent (an alpha band added if need be) for the other formats. */
static int
pad_contain(VipsObject *scope, VipsImage **x, const imgb_variant *v)
{
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 2);
	VipsArrayDouble *bg;
	double value = 255; /* white, for JPEG */
	int err;

	if (v->fit != IMGB_FIT_CONTAIN ||
		((*x)->Xsize == v->width && (*x)->Ysize == v->height))
		return 0;
	if (v->format != IMGB_JPEG) {
		if (!vips_image_hasalpha(*x)) {
			if (vips_bandjoin_const1(*x, &t[0], 255, NULL))
				return -1;
			*x = t[0];
		}
		value = 0; /* transparent */
	}
	bg = ink((*x)->Bands, value);
	err = vips_embed(*x, &t[1],
		(v->width - (*x)->Xsize) / 2, (v->height - (*x)->Ysize) / 2,
		v->width, v->height,
		"extend", VIPS_EXTEND_BACKGROUND,
		"background", bg,
		NULL);
	vips_area_unref(VIPS_AREA(bg));
	if (err)
		return -1;
	*x = t[1];
	return 0;
}

/* drop_metadata strips a variant that does not keep its metadata; one
 * whose colour policy embeds a profile keeps that. */
static int
drop_metadata(VipsObject *scope, VipsImage **x, const imgb_variant *v)
{
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 1);

	if (v->keep_metadata)
		return 0;
	if (strip_metadata(*x, &t[0]))
		return -1;
	if (v->icc != IMGB_ICC_SRGB)
		imgb_keep_profile(*x, t[0]);
	*x = t[0];
	return 0;
}

/* imgb_finish makes in into variant v: 8 bits, flattened for JPEG, padded for
 * contain, stripped unless it keeps metadata, encoded (searched, under a
 * quality target or candidate formats: search.c). */
int
imgb_finish(VipsImage *in, imgb_variant *v)
{
	VipsObject *scope = VIPS_OBJECT(vips_image_new());
	VipsImage *x = in;
	void *out = NULL;
	size_t out_len = 0;
	int err;

	err = to_uchar(scope, &x) ||
		flatten_for_jpeg(scope, &x, v) ||
		pad_contain(scope, &x, v) ||
		drop_metadata(scope, &x, v) ||
		imgb_search(x, v, &out, &out_len);
	if (!err) {
		v->out = out;
		v->out_len = out_len;
		v->out_width = x->Xsize;
		v->out_height = x->Ysize;
		v->out_frames = 1;
	}
	g_object_unref(scope);
	return err ? -1 : 0;
}
