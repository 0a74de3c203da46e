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
 * unreffed either way (render.c). */
VipsImage *imgb_build_load(VipsOperation *op, int err);

#endif /* IMGB_INTERNAL_H */
