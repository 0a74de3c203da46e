/* internal.h: what render.c's parts share; not part of the Go API. */
#ifndef IMGB_INTERNAL_H
#define IMGB_INTERNAL_H

#include <vips/vips.h>

#include "render.h"

/* imgb_encode writes x (8 bit, flattened, padded, stripped as v asks) in
 * v's format and quality into a new g_malloc()ed buffer. */
int imgb_encode(VipsImage *x, const imgb_variant *v, void **out, size_t *out_len);

#endif /* IMGB_INTERNAL_H */
