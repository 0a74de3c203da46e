/* anim.c: animated sources (a GIF of several frames, an animated WebP)
 * made into animated variants (GIF, WebP). libvips holds an animation as
 * one tall image, the frames stacked ("toilet roll"), with "page-height"
 * the height of one frame and "delay" (ms per frame) and "loop" beside it;
 * gifsave and webpsave write such an image as an animation.
 *
 * Every frame is resized alike: vips_thumbnail_image knows toilet rolls
 * and rounds the shrink so that no output row straddles two frames, but
 * its crop (vips_smartcrop on the whole roll) and our padding (vips_embed)
 * would treat the roll as one picture, so cover and contain cut or pad
 * each frame here (reframe), the same region of every frame.
 *
 * A variant with candidate formats (format auto, a list) is searched
 * among those that hold frames (GIF, WebP), and a quality target is
 * scored over a sample of the frames (search.c, frames.c). AVIF does not
 * animate here: libvips 8.18's heifsave writes each frame as a separate
 * still image (brand mif1, no AVIS sequence), which browsers show as its
 * first. An animated WebP's EXIF orientation is applied to every frame.
 *
 * Variants that do not animate (JPEG, PNG, AVIF, animated false, or
 * candidates none of which animates) are left to render.c, which decodes
 * the first frame only. */
#include <math.h>

#include <vips/vips.h>

#include "render.h"
#include "internal.h"

/* Metadata stripping removes, by name prefix (as render.c's list): never
 * "delay", "loop" or "page-height", which make the animation. */
static const char *anim_strip_prefixes[] = {
	"exif-", "xmp-", "iptc-", "icc-profile-", "orientation",
	"png-comment-", "gif-comment", "jpeg-thumbnail-",
};

/* The geometry of one animated variant, in source frame pixels. */
typedef struct {
	int tw, th;	  /* each frame resized to tw x th */
	int cw, ch;	  /* then cut to cw x ch (cover), or left as is */
	int pw, ph;	  /* then padded to pw x ph (contain), or left as is */
	double shrink;	  /* the least shrink of either axis, for WebP's load */
} anim_geom;

static int
animates(int format)
{
	return format == IMGB_GIF || format == IMGB_WEBP;
}

/* animated_as makes *one: v with its candidates narrowed to those that
 * hold frames, in v's order. It returns how many formats one may write
 * animated (a fixed format is one), 0 when v gets the first frame. */
static int
animated_as(const imgb_variant *v, imgb_variant *one)
{
	int i, n = 0;

	*one = *v;
	if (!v->animated)
		return 0;
	if (v->n_candidates == 0)
		return animates(v->format);
	for (i = 0; i < v->n_candidates; i++)
		if (animates(v->candidates[i])) {
			one->candidates[n] = v->candidates[i];
			one->candidate_effort[n++] = v->candidate_effort[i];
		}
	one->n_candidates = n;
	if (n > 0)
		one->format = one->candidates[0];
	return n;
}

static int
wants_frames(const imgb_variant *v)
{
	imgb_variant one;

	return animated_as(v, &one) > 0;
}

/* load_frames opens every frame of buf as one toilet roll. scale < 1 asks
 * libwebp for smaller frames (WebP's shrink-on-load). */
static VipsImage *
load_frames(int loader, const void *buf, size_t len, int fail_on, double scale)
{
	const char *name = loader == IMGB_LOAD_GIF ? "gifload_buffer" : "webpload_buffer";
	VipsOperation *op;
	VipsBlob *blob;
	int err;

	if (!(op = vips_operation_new(name)))
		return NULL;
	/* The blob does not own or copy buf. */
	blob = vips_blob_new(NULL, buf, len);
	err = vips_object_set(VIPS_OBJECT(op),
		"buffer", blob,
		"n", -1,
		"access", VIPS_ACCESS_SEQUENTIAL,
		"fail_on", fail_on,
		NULL);
	vips_area_unref(VIPS_AREA(blob));
	if (!err && loader == IMGB_LOAD_WEBP && scale < 1)
		err = vips_object_set(VIPS_OBJECT(op), "scale", scale, NULL);
	return imgb_build_load(op, err);
}

/* geometry works out variant v for w x h frames, with render.c's rules
 * (variant_box): without upscale nothing grows, and cover then cuts the
 * largest region of the box's shape from the unscaled frame. */
static void
geometry(const imgb_variant *v, int w, int h, anim_geom *g)
{
	double bw = v->width > 0 ? v->width : (double) VIPS_MAX_COORD;
	double bh = v->height > 0 ? v->height : (double) VIPS_MAX_COORD;
	double s;

	g->cw = g->pw = 0;
	switch (v->fit) {
	case IMGB_FIT_FILL:
		g->tw = v->upscale ? bw : VIPS_MIN(bw, w);
		g->th = v->upscale ? bh : VIPS_MIN(bh, h);
		break;
	case IMGB_FIT_COVER:
		s = VIPS_MAX(bw / w, bh / h);
		if (!v->upscale && s > 1) {
			bw = VIPS_CLIP(1, rint(bw / s), w);
			bh = VIPS_CLIP(1, rint(bh / s), h);
			s = 1;
		}
		g->tw = VIPS_MAX(bw, rint(w * s));
		g->th = VIPS_MAX(bh, rint(h * s));
		g->cw = bw;
		g->ch = bh;
		break;
	default: /* inside, contain */
		s = VIPS_MIN(bw / w, bh / h);
		if (!v->upscale)
			s = VIPS_MIN(s, 1);
		g->tw = VIPS_MAX(1, rint(w * s));
		g->th = VIPS_MAX(1, rint(h * s));
		if (v->fit == IMGB_FIT_CONTAIN) {
			g->pw = v->width;
			g->ph = v->height;
		}
	}
	g->shrink = VIPS_MIN((double) w / g->tw, (double) h / g->th);
}

/* resize_frames resizes every frame of in to tw x th, in sRGB (through
 * an embedded profile, as render.c's thumb), without EXIF rotation (one
 * would turn the roll, not the frames: upright_frames turns them). */
static int
resize_frames(VipsImage *in, VipsImage **out, int tw, int th)
{
	if (vips_image_get_typeof(in, VIPS_META_ICC_NAME))
		return vips_thumbnail_image(in, out, tw,
			"height", th,
			"size", VIPS_SIZE_FORCE,
			"no_rotate", TRUE,
			"import_profile", "srgb",
			"export_profile", "srgb",
			NULL);
	return vips_thumbnail_image(in, out, tw,
		"height", th,
		"size", VIPS_SIZE_FORCE,
		"no_rotate", TRUE,
		NULL);
}

/* upright_frames turns every frame of *x upright by EXIF orientation o
 * (2..8), each frame on its own, as render.c turns a still. The result
 * says orientation 1, so that a variant keeping metadata is not turned
 * twice by a viewer. */
static int
upright_frames(VipsObject *scope, VipsImage **x, int o)
{
	int page = vips_image_get_page_height(*x);
	int n = (*x)->Ysize / page;
	VipsImage **f = (VipsImage **) vips_object_local_array(scope, 3 * n + 2);
	int i, err = 0;

	for (i = 0; i < n && !err; i++) {
		err = vips_extract_area(*x, &f[i], 0, i * page, (*x)->Xsize, page,
			NULL) || vips_copy(f[i], &f[n + i], NULL);
		if (!err) {
			vips_image_set_int(f[n + i], VIPS_META_ORIENTATION, o);
			err = vips_autorot(f[n + i], &f[2 * n + i], NULL);
		}
	}
	if (err ||
		vips_arrayjoin(f + 2 * n, &f[3 * n], n, "across", 1, NULL) ||
		vips_copy(f[3 * n], &f[3 * n + 1], NULL))
		return -1;
	*x = f[3 * n + 1];
	vips_image_set_int(*x, VIPS_META_PAGE_HEIGHT, (*x)->Ysize / n);
	vips_image_set_int(*x, VIPS_META_ORIENTATION, 1);
	return 0;
}

/* reframe replaces each frame of *x by its region (left, top, w, h),
 * centred in a pw x ph transparent box when pw > 0: the same cut and the
 * same padding for every frame. */
static int
reframe(VipsObject *scope, VipsImage **x, int left, int top, int w, int h,
	int pw, int ph)
{
	int page = vips_image_get_page_height(*x);
	int n = (*x)->Ysize / page;
	VipsImage **f = (VipsImage **) vips_object_local_array(scope, 2 * n);
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 3);
	VipsArrayDouble *bg = NULL;
	double zero[4] = { 0, 0, 0, 0 };
	int i, err = 0;

	if (pw > 0 && !vips_image_hasalpha(*x)) {
		if (vips_bandjoin_const1(*x, &t[0], 255, NULL))
			return -1;
		*x = t[0];
	}
	if (pw > 0)
		bg = vips_array_double_new(zero, VIPS_MIN((*x)->Bands, 4));
	for (i = 0; i < n && !err; i++) {
		err = vips_extract_area(*x, &f[i], left, i * page + top, w, h, NULL);
		if (!err && pw > 0)
			err = vips_embed(f[i], &f[n + i], (pw - w) / 2, (ph - h) / 2, pw, ph,
				"extend", VIPS_EXTEND_BACKGROUND,
				"background", bg,
				NULL);
	}
	if (bg)
		vips_area_unref(VIPS_AREA(bg));
	if (err ||
		vips_arrayjoin(pw > 0 ? f + n : f, &t[1], n, "across", 1, NULL) ||
		vips_copy(t[1], &t[2], NULL))
		return -1;
	vips_image_set_int(t[2], VIPS_META_PAGE_HEIGHT, pw > 0 ? ph : h);
	*x = t[2];
	return 0;
}

/* cut_frames cuts every frame of *x to g's cw x ch: the centre, or where
 * libvips' attention finds the first frame most interesting. */
static int
cut_frames(VipsObject *scope, VipsImage **x, const anim_geom *g, int smart)
{
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 3);
	int page = vips_image_get_page_height(*x);
	int w = VIPS_MIN(g->cw, (*x)->Xsize);
	int h = VIPS_MIN(g->ch, page);
	int left = ((*x)->Xsize - w) / 2, top = (page - h) / 2;

	if (w == (*x)->Xsize && h == page)
		return 0; /* the frames fit the box already */
	if (smart) {
		/* smartcrop reads its input more than once: keep the
		 * resized roll in memory (output-sized frames). */
		if (!(t[0] = vips_image_copy_memory(*x)) ||
			vips_extract_area(t[0], &t[1], 0, 0, t[0]->Xsize, page, NULL) ||
			vips_smartcrop(t[1], &t[2], w, h,
				"interesting", VIPS_INTERESTING_ATTENTION,
				NULL))
			return -1;
		*x = t[0];
		left = -vips_image_get_xoffset(t[2]);
		top = -vips_image_get_yoffset(t[2]);
	}
	return reframe(scope, x, left, top, w, h, 0, 0);
}

static void
strip_frames_metadata(VipsImage *x)
{
	gchar **names = vips_image_get_fields(x);
	int i, j;

	for (i = 0; names[i]; i++)
		for (j = 0; j < (int) G_N_ELEMENTS(anim_strip_prefixes); j++)
			if (vips_isprefix(anim_strip_prefixes[j], names[i])) {
				vips_image_remove(x, names[i]);
				break;
			}
	g_strfreev(names);
}

/* frames_written counts the frames of an output of ours, from its header:
 * fewer than the roll's when the encoder folded a frame equal to the one
 * before into it (GIF and WebP both do, adding its delay). */
static int
frames_written(int format, void *buf, size_t len, int *n)
{
	VipsImage *im;
	int err = format == IMGB_GIF ?
		vips_gifload_buffer(buf, len, &im, "n", -1, NULL) :
		vips_webpload_buffer(buf, len, &im, "n", -1, NULL);

	if (err)
		return -1;
	*n = im->Ysize / vips_image_get_page_height(im);
	g_object_unref(im);
	return 0;
}

/* encode_frames encodes the finished animation x for v: at v's format,
 * or searched among v's candidates that animate, with a quality target
 * scored over its frames and v's byte cap (search.c). */
static int
encode_frames(VipsImage *x, imgb_variant *v)
{
	imgb_variant one;
	void *out = NULL;
	size_t out_len = 0;

	animated_as(v, &one);
	if (imgb_search_frames(x, &one, &out, &out_len))
		return -1;
	if (frames_written(one.out_format, out, out_len, &v->out_frames)) {
		g_free(out);
		return -1;
	}
	v->out = out;
	v->out_len = out_len;
	v->out_width = x->Xsize;
	v->out_height = vips_image_get_page_height(x);
	v->out_format = one.out_format;
	v->out_quality = one.out_format == IMGB_GIF ? 0 : one.out_quality;
	v->out_score = one.out_score;
	v->out_capped = one.out_capped;
	return 0;
}

/* animate_one makes variant v from the animation in buf, whose frames are
 * w x h as stored, with EXIF orientation o. */
static int
animate_one(int loader, const void *buf, size_t len, int fail_on,
	int w, int h, int o, imgb_variant *v)
{
	VipsObject *scope = VIPS_OBJECT(vips_image_new());
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 4);
	VipsImage *x;
	anim_geom g;
	int swap = o >= 5; /* a quarter turn: the upright frame is h x w */
	int err;

	geometry(v, swap ? h : w, swap ? w : h, &g);
	err = !(t[0] = load_frames(loader, buf, len, fail_on,
		1.0 / VIPS_MAX(1.0, g.shrink))) ||
		resize_frames(t[0], &t[1], swap ? g.th : g.tw, swap ? g.tw : g.th);
	x = t[1];
	if (!err && o > 1)
		err = upright_frames(scope, &x, o);
	if (!err && g.cw > 0)
		err = cut_frames(scope, &x, &g, v->smartcrop);
	if (!err && g.pw > 0 &&
		(x->Xsize != g.pw || vips_image_get_page_height(x) != g.ph))
		err = reframe(scope, &x, 0, 0, x->Xsize, vips_image_get_page_height(x),
			g.pw, g.ph);
	if (!err && !(err = vips_copy(x, &t[2], NULL))) {
		x = t[2];
		if (!v->keep_metadata)
			strip_frames_metadata(x);
		err = encode_frames(x, v);
	}
	g_object_unref(scope);
	return err ? -1 : 0;
}

/* frames_of reads the frame size and count of an animation, and its EXIF
 * orientation (an animated WebP may carry an EXIF chunk; 1 if none),
 * without decoding it; *n is 1 for a still image. */
static int
frames_of(int loader, const void *buf, size_t len, int fail_on,
	int *w, int *h, int *n, int *o)
{
	VipsImage *im;

	if (!(im = load_frames(loader, buf, len, fail_on, 1)))
		return -1;
	*w = im->Xsize;
	*h = vips_image_get_page_height(im);
	*n = im->Ysize / *h;
	*o = VIPS_CLIP(1, vips_image_get_orientation(im), 8);
	g_object_unref(im);
	return 0;
}

int
imgb_animate(int loader, const void *buf, size_t len, int fail_on,
	imgb_variant *vs, int n)
{
	int w, h, frames, o, i, made = 0, want = 0;

	if (loader != IMGB_LOAD_GIF && loader != IMGB_LOAD_WEBP)
		return 0;
	for (i = 0; i < n; i++)
		want |= wants_frames(&vs[i]);
	if (!want)
		return 0;
	if (frames_of(loader, buf, len, fail_on, &w, &h, &frames, &o))
		return -1;
	if (frames < 2)
		return 0;
	for (i = 0; i < n; i++) {
		if (!wants_frames(&vs[i]))
			continue;
		if (animate_one(loader, buf, len, fail_on, w, h, o, &vs[i]))
			return -1;
		made++;
	}
	return made;
}
