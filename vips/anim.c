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
 * Variants that do not animate (JPEG, PNG, AVIF, animated false) are left
 * to render.c, which decodes the first frame only. */
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
wants_frames(const imgb_variant *v)
{
	return v->animated && (v->format == IMGB_GIF || v->format == IMGB_WEBP);
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

/* resize_frames resizes every frame of in to g's tw x th, in sRGB (through
 * an embedded profile, as render.c's thumb), without EXIF rotation (one
 * would turn the roll, not the frames). */
static int
resize_frames(VipsImage *in, VipsImage **out, const anim_geom *g)
{
	if (vips_image_get_typeof(in, VIPS_META_ICC_NAME))
		return vips_thumbnail_image(in, out, g->tw,
			"height", g->th,
			"size", VIPS_SIZE_FORCE,
			"no_rotate", TRUE,
			"import_profile", "srgb",
			"export_profile", "srgb",
			NULL);
	return vips_thumbnail_image(in, out, g->tw,
		"height", g->th,
		"size", VIPS_SIZE_FORCE,
		"no_rotate", TRUE,
		NULL);
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

/* animate_one makes variant v from the animation in buf, whose frames are
 * w x h. */
static int
animate_one(int loader, const void *buf, size_t len, int fail_on,
	int w, int h, imgb_variant *v)
{
	VipsObject *scope = VIPS_OBJECT(vips_image_new());
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 4);
	VipsImage *x;
	anim_geom g;
	void *out = NULL;
	size_t out_len = 0;
	int err;

	geometry(v, w, h, &g);
	err = !(t[0] = load_frames(loader, buf, len, fail_on,
		1.0 / VIPS_MAX(1.0, g.shrink))) ||
		resize_frames(t[0], &t[1], &g);
	x = t[1];
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
		err = imgb_encode(x, v, &out, &out_len);
	}
	if (!err) {
		v->out = out;
		v->out_len = out_len;
		v->out_width = x->Xsize;
		v->out_height = vips_image_get_page_height(x);
		v->out_format = v->format;
		v->out_quality = v->format == IMGB_GIF ? 0 : v->quality;
		v->out_frames = x->Ysize / v->out_height;
	}
	g_object_unref(scope);
	return err ? -1 : 0;
}

/* frames_of reads the frame size and count of an animation without
 * decoding it; *n is 1 for a still image. */
static int
frames_of(int loader, const void *buf, size_t len, int fail_on,
	int *w, int *h, int *n)
{
	VipsImage *im;

	if (!(im = load_frames(loader, buf, len, fail_on, 1)))
		return -1;
	*w = im->Xsize;
	*h = vips_image_get_page_height(im);
	*n = im->Ysize / *h;
	g_object_unref(im);
	return 0;
}

int
imgb_animate(int loader, const void *buf, size_t len, int fail_on,
	imgb_variant *vs, int n)
{
	int w, h, frames, i, made = 0, want = 0;

	if (loader != IMGB_LOAD_GIF && loader != IMGB_LOAD_WEBP)
		return 0;
	for (i = 0; i < n; i++)
		want |= wants_frames(&vs[i]);
	if (!want)
		return 0;
	if (frames_of(loader, buf, len, fail_on, &w, &h, &frames))
		return -1;
	if (frames < 2)
		return 0;
	for (i = 0; i < n; i++) {
		if (!wants_frames(&vs[i]))
			continue;
		if (animate_one(loader, buf, len, fail_on, w, h, &vs[i]))
			return -1;
		made++;
	}
	return made;
}
