/* internal.h: what render.c's parts share; not part of the Go API. */
#ifndef IMGB_INTERNAL_H
#define IMGB_INTERNAL_H

#include <vips/vips.h>

#include "render.h"

/* imgb_encode writes x (8 bit, flattened, padded, stripped as v asks) in
 * v's format and quality into a new g_malloc()ed buffer. */
int imgb_encode(VipsImage *x, const imgb_variant *v, void **out, size_t *out_len);

/* imgb_search encodes x for v: at v's format and quality, or, with a
 * quality target or candidate formats, the smallest output that meets the
 * target (search.c). It sets v's out_format, out_quality and out_score. */
int imgb_search(VipsImage *x, imgb_variant *v, void **out, size_t *out_len);
/* imgb_search_frames is imgb_search for an animation x (a toilet roll of
 * page-height frames, anim.c): a target is scored on a sample of its
 * frames (frames.c), the lowest score counting. */
int imgb_search_frames(VipsImage *x, imgb_variant *v, void **out,
	size_t *out_len);

/* The frames of an animation a target is scored on, at most (frames.c). */
#define IMGB_SCORED_FRAMES 8
/* imgb_frames_scored fills idx with the frames of n that are scored
 * (first and last among them) and returns how many. */
int imgb_frames_scored(int n, int *idx);
/* imgb_stack_frames stacks frames idx[0..k) of the roll in (frames page
 * rows high) into a new roll *out. */
int imgb_stack_frames(VipsImage *in, int page, const int *idx, int k,
	VipsImage **out);
/* imgb_match_frames sets at[i] to the frame of dec (an encode of the roll
 * ref, decoded) that shows when frame idx[i] of ref starts: the same
 * frame unless the encoder merged equal frames (by their delays). */
int imgb_match_frames(VipsImage *ref, VipsImage *dec, const int *idx, int k,
	int *at);
/* imgb_animate makes the variants of vs that keep frames (animated, GIF or
 * WebP out) from an animated GIF or WebP source (anim.c). It returns how
 * many it made (0 for a still source, or none to make: render.c makes the
 * rest, from the first frame), or -1 with the libvips error buffer set. */
int imgb_animate(int loader, const void *buf, size_t len, int fail_on,
	imgb_variant *vs, int n);
/* imgb_profiles picks vips_thumbnail's import and export profiles (NULL:
 * unset) for a source with (has_icc) or without an embedded profile, CMYK
 * or not, of bands bands, under colour policy icc (IMGB_ICC_*). */
void imgb_profiles(int has_icc, int cmyk, int bands, int icc,
	const char **import, const char **export);

/* imgb_keep_profile copies from's ICC profile, if any, onto to (a copy of
 * from that stripping took it from). */
void imgb_keep_profile(VipsImage *from, VipsImage *to);

/* imgb_build_load builds a load operation outside the operation cache
 * and returns its "out", or NULL (err set, or the build failed); op is
 * unreffed either way (load.c). */
VipsImage *imgb_build_load(VipsOperation *op, int err);

/* What the header of the source says. */
typedef struct {
	int width, height; /* first page as stored */
	int swap;	   /* EXIF orientation 5..8: sides swap once upright */
	int bands;
	int has_icc;
	int cmyk;
	/* A HEIF's embedded thumbnail, when it is smaller than the image. */
	int heif_thumb_width, heif_thumb_height;
} imgb_header;

/* The encoded image and how to open it. */
typedef struct {
	int loader; /* IMGB_LOAD_* */
	const void *buf;
	size_t len;
	const imgb_options *opt;
} imgb_source;

/* Arguments of vips_thumbnail_image for one output. */
typedef struct {
	int width, height;
	VipsSize size;
	VipsInteresting crop;
} imgb_box;

/* load.c: imgb_open opens src with its loader, shrunk on load by shrink
 * (JPEG, WebP) or as a HEIF's stored thumbnail; imgb_read_header reads
 * what h holds (and the facts into src's info). */
VipsImage *imgb_open(const imgb_source *src, double shrink, int heif_thumbnail);
int imgb_read_header(const imgb_source *src, imgb_header *h);

/* shrink.c: how much box b shrinks an in_w x in_h input (swap: EXIF
 * orientation 5..8), src opened with the shrink-on-load b allows under
 * policy (IMGB_SHRINK_*), and the policy of variant v under opt. */
double imgb_common_shrink(int in_w, int in_h, int swap, const imgb_box *b);
VipsImage *imgb_open_for(const imgb_source *src, const imgb_header *h,
	const imgb_box *b, int policy);
int imgb_policy_of(const imgb_options *opt, const imgb_variant *v);

/* resize.c: the box of variant v, and in resized into it, upright, in the
 * colour policy icc asks for (IMGB_ICC_*). */
void imgb_variant_box(const imgb_variant *v, const imgb_header *h, imgb_box *b);
int imgb_thumb(VipsImage *in, VipsImage **out, const imgb_box *b,
	const imgb_header *h, int icc);

/* finish.c: in made into variant v and encoded into v's out fields. */
int imgb_finish(VipsImage *in, imgb_variant *v);

/* info.c: the catalog's small copy from a variant, whether a lone
 * variant takes the shared decode for it, or from a decode of its own. */
int imgb_small_from_variant(VipsImage **t, const imgb_variant *v,
	struct imgb_info *info);
int imgb_small_needs_shared(const imgb_options *opt, const imgb_variant *vs);
void imgb_small_from_source(const imgb_source *src, const imgb_header *h,
	struct imgb_info *info);

#endif /* IMGB_INTERNAL_H */
