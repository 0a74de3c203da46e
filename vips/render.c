/* render.c: the whole life of one source image in libvips, in one C call:
 * open it with the loader for its sniffed format (load.c), shrinking on
 * load where the format allows (shrink.c), make every variant with
 * vips_thumbnail_image (resize.c), pad, flatten (finish.c), encode
 * (search.c, encode.c). Doing it in one call keeps the Go buffer's use
 * inside the call (libvips never holds a Go pointer afterwards) and costs
 * one cgo crossing per image instead of dozens. This file is the loop over
 * the variants: from one shared decode, or each from a decode of its own.
 */
#include <math.h>

#include <vips/vips.h>

#include "render.h"
#include "internal.h"
#include "info.h"

/* shared_decode decodes buf once, with the least shrink any variant needs,
 * to the whole upright frame in 8-bit sRGB (in the source's own space with
 * its profile when keep_space), and keeps it in memory. */
static VipsImage *
shared_decode(const imgb_source *src, const imgb_header *h,
	const imgb_box *boxes, const imgb_variant *vs, int n, int keep_space)
{
	double ms = G_MAXDOUBLE;
	int upright_w = h->swap ? h->height : h->width;
	int jk = 8, policy = IMGB_SHRINK_FAST;
	imgb_box mb;
	VipsImage *in, *t, *mem;
	int i;

	/* The least shrink any variant needs, and the least JPEG factor any
	 * variant's policy allows. */
	for (i = 0; i < n; i++) {
		double s = imgb_common_shrink(h->width, h->height, h->swap, &boxes[i]);
		int p = imgb_policy_of(src->opt, &vs[i]);

		if (vs[i].out)
			continue; /* animated, made already */
		ms = VIPS_MIN(ms, s);
		jk = VIPS_MIN(jk, imgb_jpeg_shrink(s, p));
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
		in = imgb_open(src, jk, FALSE);
	else
		in = imgb_open_for(src, h, &mb, policy);
	if (!in)
		return NULL;
	if (imgb_thumb(in, &t, &mb, h,
			keep_space ? IMGB_ICC_KEEP : IMGB_ICC_SRGB)) {
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
needs_source_space(const imgb_header *h, const imgb_variant *vs, int n)
{
	int i;

	if (!h->has_icc || h->cmyk)
		return 0;
	for (i = 0; i < n; i++)
		if (vs[i].icc != IMGB_ICC_SRGB)
			return 1;
	return 0;
}

/* render_shared makes every variant not made yet from one decode, shared
 * and kept in memory, and the small copy from it. */
static int
render_shared(const imgb_source *src, const imgb_header *h,
	const imgb_box *boxes, imgb_variant *vs, int n)
{
	imgb_header upright = *h;
	int keep_space = needs_source_space(h, vs, n);
	VipsImage *shared;
	int err = 0;
	int i;

	if (!(shared = shared_decode(src, h, boxes, vs, n, keep_space)))
		return -1;
	if (src->opt->info)
		imgb_info_small(shared,
			keep_space ? IMGB_ICC_KEEP : IMGB_ICC_SRGB, src->opt->info);
	/* The shared image is upright, 8-bit sRGB (or in the source's
	 * space, with its profile) and smaller: the variants need no
	 * rotation, and colour management only from its profile. */
	upright.cmyk = upright.swap = 0;
	upright.has_icc = keep_space;
	for (i = 0; i < n && !err; i++) {
		VipsImage *t;

		if (vs[i].out)
			continue;
		if (imgb_thumb(shared, &t, &boxes[i], &upright, vs[i].icc)) {
			err = -1;
			break;
		}
		err = imgb_finish(t, &vs[i]);
		g_object_unref(t);
	}
	g_object_unref(shared);
	return err;
}

/* render_each makes every variant not made yet from a decode of its own,
 * shrunk on load for it, and the small copy from one of them or, when
 * none will do, from a decode of its own too. */
static int
render_each(const imgb_source *src, const imgb_header *h,
	const imgb_box *boxes, imgb_variant *vs, int n)
{
	const imgb_options *opt = src->opt;
	int i;

	for (i = 0; i < n; i++) {
		VipsImage *in, *t;
		int e;

		if (vs[i].out)
			continue;
		if (!(in = imgb_open_for(src, h, &boxes[i], imgb_policy_of(opt, &vs[i]))))
			return -1;
		e = imgb_thumb(in, &t, &boxes[i], h, vs[i].icc);
		g_object_unref(in);
		if (e)
			return -1;
		if (opt->info)
			e = imgb_small_from_variant(&t, &vs[i], opt->info);
		if (!e)
			e = imgb_finish(t, &vs[i]);
		g_object_unref(t);
		if (e)
			return -1;
	}
	if (opt->info && !opt->info->small)
		imgb_small_from_source(src, h, opt->info);
	return 0;
}

/* reset_outputs empties the out fields of vs and of opt's info. */
static void
reset_outputs(const imgb_options *opt, imgb_variant *vs, int n)
{
	int i;

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
}

/* drop_outputs frees what a failed render made. */
static void
drop_outputs(const imgb_options *opt, imgb_variant *vs, int n)
{
	int i;

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

int
imgb_render(int loader, const void *buf, size_t len, const imgb_options *opt,
	imgb_variant *vs, int n)
{
	imgb_source src = { loader, buf, len, opt };
	imgb_header h;
	imgb_box *boxes;
	int err = -1;
	int made, i;

	reset_outputs(opt, vs, n);
	/* Drop messages that earlier, recovered operations left behind. */
	vips_error_clear();
	if (n <= 0) {
		vips_error("imgbatch", "no variants");
		return -1;
	}
	if (imgb_read_header(&src, &h))
		return -1;

	boxes = g_new0(imgb_box, n);
	for (i = 0; i < n; i++)
		imgb_variant_box(&vs[i], &h, &boxes[i]);

	/* Variants that keep an animation's frames (anim.c); the others
	 * are made from the first frame below. */
	if ((made = imgb_animate(loader, buf, len, opt->fail_on, vs, n)) >= 0) {
		if (opt->strategy == IMGB_SHARED_DECODE &&
			(n - made > 1 || imgb_small_needs_shared(opt, vs)))
			err = render_shared(&src, &h, boxes, vs, n);
		else
			err = render_each(&src, &h, boxes, vs, n);
	}

	g_free(boxes);
	if (err)
		drop_outputs(opt, vs, n);
	return err;
}

void
imgb_free(void *p)
{
	g_free(p);
}
