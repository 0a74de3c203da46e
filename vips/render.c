/* render.c: the whole life of one source image in libvips, in one C call:
 * open it with the loader for its sniffed format (shrinking on load where
 * the format allows), make every variant with vips_thumbnail_image, pad,
 * flatten, encode. Doing it in one call keeps the Go buffer's use inside
 * the call (libvips never holds a Go pointer afterwards) and costs one cgo
 * crossing per image instead of dozens.
 *
 * The shrink-on-load arithmetic mirrors libvips' own vips_thumbnail_buffer
 * (libvips/resample/thumbnail.c); what differs is that the loader is named
 * by the caller instead of found by vips_foreign_find_load_buffer, which
 * probes every loader's is_a (libvips 8.14's SVG probe loops forever on a
 * gzip stream with trailing bytes).
 */
#include <math.h>
#include <string.h>

#include <vips/vips.h>

#include "render.h"
#include "internal.h"
#include "info.h"

static const char *loader_names[] = {
	[IMGB_LOAD_JPEG] = "jpegload_buffer",
	[IMGB_LOAD_PNG] = "pngload_buffer",
	[IMGB_LOAD_GIF] = "gifload_buffer",
	[IMGB_LOAD_WEBP] = "webpload_buffer",
	[IMGB_LOAD_TIFF] = "tiffload_buffer",
	[IMGB_LOAD_HEIF] = "heifload_buffer",
};

#define N_LOADERS ((int) (sizeof(loader_names) / sizeof(loader_names[0])))

/* What the header of the source says. */
typedef struct {
	int width, height; /* first page as stored */
	int swap;	   /* EXIF orientation 5..8: sides swap once upright */
	int bands;
	int has_icc;
	int cmyk;
	/* A HEIF's embedded thumbnail, when it is smaller than the image. */
	int heif_thumb_width, heif_thumb_height;
} header;

/* The encoded image and how to open it. */
typedef struct {
	int loader; /* IMGB_LOAD_* */
	const void *buf;
	size_t len;
	const imgb_options *opt;
} source;

/* Arguments of vips_thumbnail_image for one output. */
typedef struct {
	int width, height;
	VipsSize size;
	VipsInteresting crop;
} box;

/* open_image builds loader on buf, lazily: only the header is read until
 * pixels are asked for. shrink is the JPEG shrink-on-load factor (1, 2, 4,
 * 8) or the WebP one (any >= 1); heif_thumbnail picks a HEIF's embedded
 * thumbnail. */
static VipsImage *
open_image(const source *src, double shrink, int heif_thumbnail)
{
	int loader = src->loader;
	VipsOperation *op;
	VipsBlob *blob;
	int err;

	if (loader < 0 || loader >= N_LOADERS) {
		vips_error("imgbatch", "unknown loader %d", loader);
		return NULL;
	}
	if (!(op = vips_operation_new(loader_names[loader])))
		return NULL;

	/* The blob does not own or copy buf. */
	blob = vips_blob_new(NULL, src->buf, src->len);
	err = vips_object_set(VIPS_OBJECT(op),
		"buffer", blob,
		"access", VIPS_ACCESS_SEQUENTIAL,
		"fail_on", src->opt->fail_on,
		NULL);
	vips_area_unref(VIPS_AREA(blob));

	if (!err && loader == IMGB_LOAD_JPEG && shrink > 1)
		err = vips_object_set(VIPS_OBJECT(op), "shrink", (int) shrink, NULL);
	else if (!err && loader == IMGB_LOAD_WEBP && shrink > 1)
		err = vips_object_set(VIPS_OBJECT(op), "scale", 1.0 / shrink, NULL);
	else if (!err && loader == IMGB_LOAD_HEIF && heif_thumbnail)
		err = vips_object_set(VIPS_OBJECT(op), "thumbnail", TRUE, NULL);

	return imgb_build_load(op, err);
}

/* imgb_build_load builds a load operation and returns its "out" (a new
 * reference), or NULL if err is set or the build fails; op is unreffed
 * either way. Built without the operation cache: a cached load keyed on
 * a buffer address could hand back another image that once lived there. */
VipsImage *
imgb_build_load(VipsOperation *op, int err)
{
	VipsImage *out = NULL;

	if (err || vips_object_build(VIPS_OBJECT(op))) {
		vips_object_unref_outputs(VIPS_OBJECT(op));
		g_object_unref(op);
		return NULL;
	}
	g_object_get(op, "out", &out, NULL);
	vips_object_unref_outputs(VIPS_OBJECT(op));
	g_object_unref(op);
	return out;
}

static int
read_header(const source *src, header *h)
{
	VipsImage *im;

	memset(h, 0, sizeof(*h));
	if (!(im = open_image(src, 1, FALSE)))
		return -1;
	h->width = im->Xsize;
	h->height = vips_image_get_page_height(im);
	h->swap = vips_image_get_orientation_swap(im);
	h->bands = im->Bands;
	h->has_icc = vips_image_get_typeof(im, VIPS_META_ICC_NAME) != 0;
	h->cmyk = im->Type == VIPS_INTERPRETATION_CMYK;
	if (src->opt->info)
		imgb_info_header(im, src->opt->info);
	g_object_unref(im);

	if (src->loader == IMGB_LOAD_HEIF) {
		/* Without a stored thumbnail, heifload gives the main image. */
		if ((im = open_image(src, 1, TRUE))) {
			if (im->Xsize < h->width) {
				h->heif_thumb_width = im->Xsize;
				h->heif_thumb_height = im->Ysize;
			}
			g_object_unref(im);
		}
		else
			vips_error_clear();
	}
	return 0;
}

/* calc_shrink is vips_thumbnail_calculate_shrink: how much each axis of
 * an in_w x in_h input must shrink to meet box b once upright. */
static void
calc_shrink(int in_w, int in_h, int swap, const box *b,
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

static double
common_shrink(int in_w, int in_h, int swap, const box *b)
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

/* open_for opens the source with the shrink-on-load that box b allows
 * under policy (IMGB_SHRINK_*). */
static VipsImage *
open_for(const source *src, const header *h, const box *b, int policy)
{
	double s = common_shrink(h->width, h->height, h->swap, b);

	if (policy == IMGB_SHRINK_NONE)
		return open_image(src, 1, FALSE);
	switch (src->loader) {
	case IMGB_LOAD_JPEG:
		return open_image(src, jpeg_shrink(s, policy), FALSE);
	case IMGB_LOAD_WEBP:
		return open_image(src, VIPS_MAX(1.0, s), FALSE);
	case IMGB_LOAD_HEIF:
		/* Use the stored thumbnail only if it needs no enlarging. */
		return open_image(src, 1,
			h->heif_thumb_width > 0 &&
				common_shrink(h->heif_thumb_width, h->heif_thumb_height,
					h->swap, b) > 1.0);
	default:
		return open_image(src, 1, FALSE);
	}
}

/* policy_of is the shrink-on-load policy of variant v under opt. */
static int
policy_of(const imgb_options *opt, const imgb_variant *v)
{
	if (opt->shrink_on_load != IMGB_SHRINK_VARIANT)
		return opt->shrink_on_load;
	return v->shrink_on_load;
}

/* thumbnail_image is vips_thumbnail_image(in, out, b->width, ...) with
 * "import_profile" and "export_profile" set only when not NULL (an unset
 * profile and a NULL one are not the same to vips_thumbnail). */
static int
thumbnail_image(VipsImage *in, VipsImage **out, const box *b,
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

/* thumb resizes, crops, rotates upright and brings in to 8-bit sRGB (or
 * B_W): through the embedded ICC profile when there is one, through the
 * built-in CMYK profile for CMYK without one; or to the colour policy icc
 * asks for (colour.c). */
static int
thumb(VipsImage *in, VipsImage **out, const box *b, const header *h, int icc)
{
	const char *import, *export;

	imgb_profiles(h->has_icc, h->cmyk, h->bands, icc, &import, &export);
	return thumbnail_image(in, out, b, import, export);
}

static void
variant_box(const imgb_variant *v, const header *h, box *b)
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

/* The steps of finish. Each replaces *x by its result when it changes the
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

/* finish makes in into variant v: 8 bits, flattened for JPEG, padded for
 * contain, stripped unless it keeps metadata, encoded (searched, under a
 * quality target or candidate formats: search.c). */
static int
finish(VipsImage *in, imgb_variant *v)
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

/* small_from_variant makes the catalog's small copy from *t, a variant
 * that shows the whole frame (inside, contain) at least as large as the
 * copy, when none is made yet: *t is copied to memory first, as a
 * sequential pipeline can be read once, and the variant is finished from
 * that copy (the same pixels). */
static int
small_from_variant(VipsImage **t, const imgb_variant *v, imgb_info *info)
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

/* small_needs_shared says whether a one-variant render takes the shared
 * decode for the catalog's small copy: a variant that crops or stretches
 * (cover, fill) does not show the whole frame, and a decode of its own
 * would cost as much as the render (progressive JPEGs gain little from
 * shrink-on-load); the shared decode costs a copy in memory and a resize.
 * Its output then comes from the shared image, as every variant of a
 * recipe of several does. */
static int
small_needs_shared(const imgb_options *opt, const imgb_variant *vs)
{
	return opt->info && opt->info->small_side > 0 &&
		(vs[0].fit == IMGB_FIT_COVER || vs[0].fit == IMGB_FIT_FILL);
}

/* small_from_source makes the small copy by a decode of its own, shrunk
 * on load, when no variant gave one: a lone variant smaller than the copy,
 * or the per-variant strategy with only cover and fill variants. */
static void
small_from_source(const source *src, const header *h, imgb_info *info)
{
	box b = { info->small_side, info->small_side, VIPS_SIZE_DOWN, VIPS_INTERESTING_NONE };
	VipsImage *in, *t;

	if (info->small_side <= 0)
		return;
	if (!(in = open_for(src, h, &b, IMGB_SHRINK_FAST))) {
		vips_error_clear();
		return;
	}
	if (thumb(in, &t, &b, h, IMGB_ICC_SRGB)) {
		vips_error_clear();
		g_object_unref(in);
		return;
	}
	g_object_unref(in);
	imgb_info_small(t, IMGB_ICC_SRGB, info);
	g_object_unref(t);
}

/* shared_decode decodes buf once, with the least shrink any variant needs,
 * to the whole upright frame in 8-bit sRGB (in the source's own space with
 * its profile when keep_space), and keeps it in memory. */
static VipsImage *
shared_decode(const source *src, const header *h, const box *boxes,
	const imgb_variant *vs, int n, int keep_space)
{
	double ms = G_MAXDOUBLE;
	int upright_w = h->swap ? h->height : h->width;
	int jk = 8, policy = IMGB_SHRINK_FAST;
	box mb;
	VipsImage *in, *t, *mem;
	int i;

	/* The least shrink any variant needs, and the least JPEG factor any
	 * variant's policy allows. */
	for (i = 0; i < n; i++) {
		double s = common_shrink(h->width, h->height, h->swap, &boxes[i]);
		int p = policy_of(src->opt, &vs[i]);

		if (vs[i].out)
			continue; /* animated, made already */
		ms = VIPS_MIN(ms, s);
		jk = VIPS_MIN(jk, jpeg_shrink(s, p));
		if (p == IMGB_SHRINK_NONE)
			policy = p;
	}
	ms = VIPS_MAX(1.0, ms);

	/* Round the width up so no variant has to enlarge it. */
	mb.width = VIPS_MAX(1, (int) ceil(upright_w / ms - 1e-6));
	mb.height = VIPS_MAX_COORD;
	mb.size = VIPS_SIZE_DOWN;
	mb.crop = VIPS_INTERESTING_NONE;

	if (src->loader == IMGB_LOAD_JPEG)
		in = open_image(src, jk, FALSE);
	else
		in = open_for(src, h, &mb, policy);
	if (!in)
		return NULL;
	if (thumb(in, &t, &mb, h, keep_space ? IMGB_ICC_KEEP : IMGB_ICC_SRGB)) {
		g_object_unref(in);
		return NULL;
	}
	g_object_unref(in);
	mem = vips_image_copy_memory(t);
	g_object_unref(t);
	return mem;
}

/* needs_source_space: a variant that keeps the source's colours or wants
 * P3 needs the shared image before its conversion to sRGB (of an RGB or
 * grey source with a profile; the others have nothing to lose). */
static int
needs_source_space(const header *h, const imgb_variant *vs, int n)
{
	int i;

	if (!h->has_icc || h->cmyk)
		return 0;
	for (i = 0; i < n; i++)
		if (vs[i].icc != IMGB_ICC_SRGB)
			return 1;
	return 0;
}

int
imgb_render(int loader, const void *buf, size_t len, const imgb_options *opt,
	imgb_variant *vs, int n)
{
	source src = { loader, buf, len, opt };
	header h;
	box *boxes;
	VipsImage *shared = NULL;
	int err = -1;
	int made, i;

	for (i = 0; i < n; i++) {
		vs[i].out = NULL;
		vs[i].out_len = 0;
		vs[i].out_width = vs[i].out_height = 0;
		vs[i].out_format = vs[i].format;
		vs[i].out_quality = 0;
		vs[i].out_score = 0;
		vs[i].out_frames = 0;
	}
	if (opt->info)
		imgb_info_reset(opt->info);
	/* Drop messages that earlier, recovered operations left behind. */
	vips_error_clear();
	if (n <= 0) {
		vips_error("imgbatch", "no variants");
		return -1;
	}
	if (read_header(&src, &h))
		return -1;

	boxes = g_new0(box, n);
	for (i = 0; i < n; i++)
		variant_box(&vs[i], &h, &boxes[i]);

	/* Variants that keep an animation's frames (anim.c); the others
	 * are made from the first frame below. */
	if ((made = imgb_animate(loader, buf, len, opt->fail_on, vs, n)) < 0)
		goto done;
	if (opt->strategy == IMGB_SHARED_DECODE && (n - made > 1 || small_needs_shared(opt, vs))) {
		header upright = h;
		int keep_space = needs_source_space(&h, vs, n);

		if (!(shared = shared_decode(&src, &h, boxes, vs, n, keep_space)))
			goto done;
		if (opt->info)
			imgb_info_small(shared,
				keep_space ? IMGB_ICC_KEEP : IMGB_ICC_SRGB, opt->info);
		/* The shared image is upright, 8-bit sRGB (or in the source's
		 * space, with its profile) and smaller: the variants need no
		 * rotation, and colour management only from its profile. */
		upright.cmyk = upright.swap = 0;
		upright.has_icc = keep_space;
		for (i = 0; i < n; i++) {
			VipsImage *t;
			int e;

			if (vs[i].out)
				continue;
			if (thumb(shared, &t, &boxes[i], &upright, vs[i].icc))
				goto done;
			e = finish(t, &vs[i]);
			g_object_unref(t);
			if (e)
				goto done;
		}
	}
	else {
		for (i = 0; i < n; i++) {
			VipsImage *in, *t;
			int e;

			if (vs[i].out)
				continue;
			if (!(in = open_for(&src, &h, &boxes[i], policy_of(opt, &vs[i]))))
				goto done;
			e = thumb(in, &t, &boxes[i], &h, vs[i].icc);
			g_object_unref(in);
			if (e)
				goto done;
			if (opt->info)
				e = small_from_variant(&t, &vs[i], opt->info);
			if (!e)
				e = finish(t, &vs[i]);
			g_object_unref(t);
			if (e)
				goto done;
		}
		if (opt->info && !opt->info->small)
			small_from_source(&src, &h, opt->info);
	}
	err = 0;

done:
	if (shared)
		g_object_unref(shared);
	g_free(boxes);
	if (err) {
		for (i = 0; i < n; i++) {
			g_free(vs[i].out);
			vs[i].out = NULL;
			vs[i].out_len = 0;
		}
		if (opt->info) {
			g_free(opt->info->small);
			opt->info->small = NULL;
		}
	}
	return err;
}

void
imgb_free(void *p)
{
	g_free(p);
}

int
imgb_loader_available(int loader)
{
	if (loader < 0 || loader >= N_LOADERS)
		return 0;
	return vips_type_find("VipsOperation", loader_names[loader]) != 0;
}

int
imgb_decodes(int loader, const void *buf, size_t len)
{
	imgb_options opt = { VIPS_FAIL_ON_ERROR, IMGB_PER_VARIANT, IMGB_SHRINK_NONE };
	source src = { loader, buf, len, &opt };
	VipsImage *im;
	double avg;
	int ok;

	if (!(im = open_image(&src, 1, FALSE))) {
		vips_error_clear();
		return 0;
	}
	ok = vips_avg(im, &avg, NULL) == 0;
	g_object_unref(im);
	vips_error_clear();
	return ok;
}

int
imgb_stats(int loader, const void *buf, size_t len, double out[4])
{
	imgb_options opt = { VIPS_FAIL_ON_NONE, IMGB_PER_VARIANT, IMGB_SHRINK_NONE };
	source src = { loader, buf, len, &opt };
	VipsImage *im, *st = NULL;
	double *row;
	int err;

	if (!(im = open_image(&src, 1, FALSE)))
		return -1;
	/* The stored values, without colour management: what the file holds,
	 * not what thumb makes of it. */
	err = vips_stats(im, &st, NULL);
	g_object_unref(im);
	if (err)
		return -1;
	if (vips_image_wio_input(st)) {
		g_object_unref(st);
		return -1;
	}
	/* Row 0 is all bands together: min, max, sum, sum², mean, sd, … */
	row = (double *) VIPS_IMAGE_ADDR(st, 0, 0);
	out[0] = row[0];
	out[1] = row[1];
	out[2] = row[4];
	out[3] = row[5];
	g_object_unref(st);
	return 0;
}
