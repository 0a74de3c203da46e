/* internal.h: what render.c's parts share; not part of the Go API. */
#ifndef IMGB_INTERNAL_H
#define IMGB_INTERNAL_H

#include <vips/vips.h>

#include "render.h"

/* imgb_encode writes x (8 bit, flattened, padded, stripped as v asks) in
 * v's format and quality into a new g_malloc()ed buffer. */
int imgb_encode(VipsImage *x, const imgb_variant *v, void **out, size_t *out_len);

/* imgb_profiles picks vips_thumbnail's import and export profiles (NULL:
 * unset) for a source with (has_icc) or without an embedded profile, CMYK
 * or not, of bands bands, under colour policy icc (IMGB_ICC_*). */
void imgb_profiles(int has_icc, int cmyk, int bands, int icc,
	const char **import, const char **export);

/* imgb_keep_profile copies from's ICC profile, if any, onto to (a copy of
 * from that stripping took it from). */
void imgb_keep_profile(VipsImage *from, VipsImage *to);

#endif /* IMGB_INTERNAL_H */
