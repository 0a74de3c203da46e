/* info.h: what libvips saw of a source, for the catalog: its facts from
 * the header and, when asked for, a small upright sRGB copy made from the
 * shared decode (placeholders are computed from it in Go). */
#ifndef IMGB_INFO_H
#define IMGB_INFO_H

#include <stddef.h>

#include <vips/vips.h>

typedef struct imgb_info {
	/* In. */
	int small_side; /* longest side of the small copy; 0: none */

	/* Out: the source's header. */
	int orientation; /* EXIF 1..8; 0 when the image has none */
	int icc;	 /* an embedded ICC profile */
	int alpha;
	int pages;
	char space[16]; /* libvips' interpretation: srgb, cmyk, b-w, rgb16, ... */

	/* Out: the small copy, 8-bit sRGB, 3 or 4 bands, rows packed,
	 * g_malloc()ed (imgb_free); NULL when not asked for or not made. */
	void *small;
	size_t small_len;
	int small_width, small_height, small_bands;
} imgb_info;

/* imgb_info_reset empties the out fields. */
void imgb_info_reset(imgb_info *info);

/* imgb_info_header records the facts of im, the source as loaded. */
void imgb_info_header(VipsImage *im, imgb_info *info);

/* imgb_info_small makes the small copy of upright, the decoded image (whole
 * frame, upright, 8 bit), made under colour policy icc (IMGB_ICC_*): sRGB
 * or B_W, or with keep or p3 in another space with its profile, which the
 * copy is brought to sRGB through. A failure leaves small NULL and the
 * error buffer clear: placeholders are worth no item. */
void imgb_info_small(VipsImage *upright, int icc, imgb_info *info);

#endif /* IMGB_INFO_H */
