/* render.h: imgbatch's libvips pipeline, one C call per source image. */
#ifndef IMGB_RENDER_H
#define IMGB_RENDER_H

#include <stddef.h>

struct imgb_info;

/* Fits (imgbatch.Fit*). */
enum { IMGB_FIT_INSIDE, IMGB_FIT_COVER, IMGB_FIT_CONTAIN, IMGB_FIT_FILL };

/* Output formats (imgbatch.Format*). */
enum { IMGB_JPEG, IMGB_PNG, IMGB_WEBP, IMGB_AVIF, IMGB_GIF };
#define IMGB_MAX_CANDIDATES 5 /* jpeg, png, webp, avif, gif */

/* Colour of an output (imgbatch.ICC*): sRGB without a profile, the
 * source's own space and profile, or Display P3 with its profile. */
enum { IMGB_ICC_SRGB, IMGB_ICC_KEEP, IMGB_ICC_P3 };

/* Input loaders, one per sniffed format. */
enum {
	IMGB_LOAD_JPEG,
	IMGB_LOAD_PNG,
	IMGB_LOAD_GIF,
	IMGB_LOAD_WEBP,
	IMGB_LOAD_TIFF,
	IMGB_LOAD_HEIF /* HEIC and AVIF: both are heifload */
};

/* How several variants of one image are made. */
enum {
	/* Every variant decodes the source itself, with its own
	 * shrink-on-load factor. */
	IMGB_PER_VARIANT,
	/* One shrink-on-load decode to the largest size any variant needs
	 * (the whole frame, upright, sRGB, 8 bit), kept in memory; every
	 * variant is resized from that. */
	IMGB_SHARED_DECODE
};

/* JPEG shrink-on-load policy. */
enum {
	IMGB_SHRINK_VARIANT = -1, /* imgb_options only: each variant's own */
	IMGB_SHRINK_NONE,	  /* decode at full size (a quality reference) */
	IMGB_SHRINK_LIBVIPS,	  /* as vips_thumbnail: leave >= 2x for lanczos3 */
	IMGB_SHRINK_FINE,	  /* leave >= 1.5x for lanczos3 */
	IMGB_SHRINK_FAST	  /* sharp's fastShrinkOnLoad rule */
};

typedef struct {
	int fail_on;	    /* VipsFailOn */
	int strategy;	    /* IMGB_PER_VARIANT, IMGB_SHARED_DECODE */
	int shrink_on_load; /* IMGB_SHRINK_*: one policy for every variant,
			     * or IMGB_SHRINK_VARIANT */
	/* Out, when not NULL: the source's facts and, if asked for, a small
	 * copy made from the shared decode (info.h). */
	struct imgb_info *info;
} imgb_options;

typedef struct {
	/* In. */
	int width, height; /* box; 0 leaves that side unconstrained */
	int fit;	   /* IMGB_FIT_* */
	int smartcrop;	   /* cover: attention instead of centre */
	int upscale;	   /* may enlarge */
	int format;	   /* IMGB_JPEG, ... */
	int quality;	   /* 1..100; 0 for the encoder's default */
	int keep_metadata;
	int effort; /* AVIF/WebP encoder effort, PNG compression; -1 for
		     * the default */
	int shrink_on_load; /* IMGB_SHRINK_NONE, _FINE or _FAST */
	int animated;	    /* keep an animated source's frames (GIF, WebP out) */
	/* Encoder options (imgbatch.EncoderOptions, encode.c); 0 is the
	 * default of each. */
	int progressive; /* JPEG progressive, PNG interlaced */
	int subsample;	 /* VipsForeignSubsample (JPEG, AVIF); WebP: OFF
			  * asks for smart_subsample */
	int trellis;	 /* JPEG trellis quantisation (mozjpeg) */
	int quant_table; /* JPEG: mozjpeg's quant table 0..8 */
	int lossless;	 /* WebP, AVIF */
	int icc;	 /* IMGB_ICC_* */

	/* Search (search.c): a quality target, candidate formats, or both.
	 * With neither, format at quality is encoded once. */
	double target_ssim; /* least SSIM of the output; 0: none */
	int q_min, q_max;   /* bounds of q under a target */
	int n_candidates;   /* 0: format alone */
	int candidates[IMGB_MAX_CANDIDATES];	      /* IMGB_JPEG, ...: search order */
	int candidate_effort[IMGB_MAX_CANDIDATES]; /* effort of each */
	int max_probes;	    /* encodes of one format at most */
	double work_budget; /* no new probe past this work under a target,
			     * but the first: reference ms (search.c,
			     * probe_work) */
	int wall_ms;	    /* safety net: no new probe after this, once one
			     * passed (sets out_time_cut) */
	size_t max_bytes;   /* byte cap of the output (keepSmallerSource: the
			     * source's size); 0: none. search.c */

	/* Out: out is g_malloc()ed, the caller frees it with imgb_free. */
	void *out;
	size_t out_len;
	int out_width, out_height;
	int out_format;	   /* IMGB_JPEG, ...: the format written */
	int out_quality;   /* the q used */
	double out_score;  /* measured SSIM to the resized image, 0: not measured */
	int out_capped;	   /* q was lowered to fit max_bytes (out_score then
			    * measured) */
	int out_frames;	   /* frames written (1 unless animated) */
	int out_probes;	   /* encodes the search made for this variant */
	double out_work;   /* their work (reference ms) */
	int out_time_cut;  /* the wall safety net stopped the search: the
			    * output depends on the machine's load */
	int out_budget_cut; /* the work budget stopped the search before any
			     * output met the target: the closest is written */
} imgb_variant;

/* imgb_render makes every variant of the encoded image buf with the loader
 * for its format (never libvips' own format detection). It returns 0, or
 * -1 with the libvips error buffer set; on error the out fields of vs are
 * empty. buf is only read during the call. */
int imgb_render(int loader, const void *buf, size_t len,
	const imgb_options *opt, imgb_variant *vs, int n);

/* imgb_jpeg_shrink is the JPEG shrink-on-load factor (1, 2, 4, 8) for an
 * overall shrink under policy (IMGB_SHRINK_*). */
int imgb_jpeg_shrink(double shrink, int policy);

/* imgb_free frees a variant's output. */
void imgb_free(void *p);

/* imgb_loader_available reports whether this libvips has the buffer loader
 * for a format (1) or not (0). */
int imgb_loader_available(int loader);

/* imgb_decodes reports whether the loader decodes buf to pixels (1) or
 * not (0); the libvips error buffer is cleared. */
int imgb_decodes(int loader, const void *buf, size_t len);

/* imgb_stats decodes buf with the loader (first page, no colour
 * management, fail_on none) and sets out to the min, max, mean and standard
 * deviation of all its samples. It returns 0, or -1 with the libvips error
 * buffer set. */
int imgb_stats(int loader, const void *buf, size_t len, double out[4]);

#endif /* IMGB_RENDER_H */
