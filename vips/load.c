/* load.c: opening the source with the loader named for its sniffed
 * format, never libvips' own format detection (vips_foreign_find_load_buffer
 * probes every loader's is_a, and libvips 8.14's SVG probe loops forever on
 * a gzip stream with trailing bytes), and reading its header.
 */
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

/* imgb_open builds loader on buf, lazily: only the header is read until
 * pixels are asked for. shrink is the JPEG shrink-on-load factor (1, 2, 4,
 * 8) or the WebP one (any >= 1); heif_thumbnail picks a HEIF's embedded
 * thumbnail. */
VipsImage *
imgb_open(const imgb_source *src, double shrink, int heif_thumbnail)
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

int
imgb_read_header(const imgb_source *src, imgb_header *h)
{
	VipsImage *im;

	memset(h, 0, sizeof(*h));
	if (!(im = imgb_open(src, 1, FALSE)))
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
		if ((im = imgb_open(src, 1, TRUE))) {
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
	imgb_source src = { loader, buf, len, &opt };
	VipsImage *im;
	double avg;
	int ok;

	if (!(im = imgb_open(&src, 1, FALSE))) {
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
	imgb_source src = { loader, buf, len, &opt };
	VipsImage *im, *st = NULL;
	double *row;
	int err;

	if (!(im = imgb_open(&src, 1, FALSE)))
		return -1;
	/* The stored values, without colour management: what the file holds,
	 * not what imgb_thumb makes of it. */
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
