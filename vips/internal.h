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

#endif /* IMGB_INTERNAL_H */
