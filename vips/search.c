/* search.c: quality targets and the smallest format (issue 16).
 *
 * A variant may ask for an SSIM instead of a q, and/or for several
 * candidate formats. The finished image (8 bit, flattened or padded,
 * stripped: what would be encoded) is the reference. For each candidate,
 * q is searched: encode, decode with that format's loader, score, and move
 * q until the smallest q whose output meets the target is bracketed to one
 * step, in at most max_probes encodes. The smallest passing output of any
 * candidate wins; its bytes are the probe's own, never encoded again.
 *
 * The score is SSIM (Wang et al. 2004) of luma (BT.601, over white where
 * there is alpha; the alpha band scored apart, the lesser counts) with
 * 11x11 gaussian windows of sigma 1.5 at every position where the window
 * fits: the definition the bench's quality pass uses (bench/quality.go),
 * so the bench measures what the search aims at. It is computed here in
 * plain C over two rows of sums at a time (libvips has no SSIM).
 *
 * The q search works on d = -ln(1 - SSIM), close to linear in q for all
 * three lossy encoders: the first probe is at a start q per format, the
 * next follow the secant of the last two (a prior slope after one) until
 * the target is bracketed, then interpolate in the bracket. When no q in
 * bounds reaches the target, the output that came closest is written and
 * its score says so. IMGB_SEARCH_DEBUG in the environment prints every
 * probe on stderr.
 *
 * An animation (imgb_search_frames, from anim.c) is encoded whole by
 * every probe and scored on a sample of its frames, the lowest score
 * counting (frames.c). PNG and GIF have no q: one encode each, GIF scored
 * like any other (its palette loses).
 *
 * Pruning: the cheapest candidate goes first and calibrates the start of
 * the others, which go in the order given (the likely winner, AVIF, first
 * by default). Once some output passed, a probe of another format
 * that fails the target and is already no smaller ends that format: every
 * q that could pass it is higher, hence bigger.
 *
 * Bounds: under a target, no probe starts that would take the search's
 * work past work_budget, whether or not an output passed yet; only the
 * first probe always runs (a search always writes something), even if it
 * alone is over the budget. Work is counted, not timed (probe_work:
 * pixels encoded times a cost per format and effort), so the same image
 * and variant make the same probes and the same output on any machine,
 * however loaded. When the budget stops a search before any output
 * passed, the closest output is written, as for an unreachable target,
 * and out_budget_cut says so. A wall clock (wall_ms) stays only as a
 * safety net far above what the budget takes, once an output passed;
 * when it stops a search, out_time_cut says that this output depends on
 * the machine's load.
 * Without a target (auto alone) each candidate is encoded once, unbounded.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "render.h"
#include "internal.h"
#include "search.h"

/* The largest output a quality target is searched for (6000x4000). */
#define IMGB_SEARCH_MAX_PIXELS 24000000

/* Prior slope of d = -ln(1 - SSIM) per q step, for the steps before the
 * target is bracketed; and the one that moves the first probe with the
 * target (steeper: q95 to q85 spans more d than q85 to q75). */
#define D_SLOPE 0.035
#define START_SLOPE 0.06

/* Encodes made by searches, for imgb_search_probes. */
static gint probes;

int
imgb_search_probes(void)
{
	return g_atomic_int_get(&probes);
}

/* One plane of samples, 0..255. */
typedef struct {
	int w, h;
	float *y; /* luma, over white where there is alpha, less 128 */
	float *a; /* alpha, less 128, or NULL */
} planes;

/* One encode. */
typedef struct {
	void *buf;
	size_t len;
	int format, quality;
	double score; /* -1: not measured */
} probe;

/* The search of one variant. */
typedef struct {
	imgb_variant *v;
	VipsImage *x;	/* the reference, in memory */
	planes ref;	/* its samples, when there is a target */
	double target;	/* SSIM; 0: none */
	gint64 deadline; /* monotonic µs: the wall safety net */
	double work;	/* work of the probes made (probe_work) */
	int n_probes;	/* encodes made */
	int time_cut;	/* the wall safety net stopped a probe */
	int budget_cut;	/* the work budget stopped a probe */
	int unmet;	/* it stopped the q search before any output passed */
	probe best;	/* the smallest passing output, or the best failing one */
	int passed;	/* best passed the target */
	int shift;	/* q the first format's search moved from its start */
	int shift_format; /* that format; -1: none yet */
	int capped;	/* best was searched down to fit v->max_bytes */
	int page;	/* frame height: x->Ysize for a still */
	int frames;	/* frames of x, 1 for a still */
	int idx[IMGB_SCORED_FRAMES]; /* the frames scored (frames.c) */
	int n_idx;
} search;

/* What a q search knows: q lo failed, q hi passed (q_min - 1 and
 * q_max + 1 before a probe says so), and their d (NAN: not probed). */
typedef struct {
	int lo;
	double dlo;
	int hi;
	double dhi;
} bracket;

static void
planes_free(planes *p)
{
	g_free(p->y);
	g_free(p->a);
	p->y = p->a = NULL;
}

/* planes_of reads an 8-bit image of 1 to 4 bands into luma (and alpha). */
static int
planes_of(VipsImage *in, planes *p)
{
	VipsImage *t = NULL;
	VipsPel *pix;
	size_t len, i, n;
	int bands = in->Bands, alpha;

	memset(p, 0, sizeof(*p));
	if (in->BandFmt != VIPS_FORMAT_UCHAR) {
		if (vips_cast(in, &t, VIPS_FORMAT_UCHAR, "shift", TRUE, NULL))
			return -1;
		in = t;
	}
	pix = vips_image_write_to_memory(in, &len);
	if (t)
		g_object_unref(t);
	if (!pix)
		return -1;
	if (bands < 1 || bands > 4) {
		g_free(pix);
		vips_error("search", "%d bands", bands);
		return -1;
	}
	alpha = bands == 2 || bands == 4;
	p->w = in->Xsize;
	p->h = in->Ysize;
	n = (size_t) p->w * p->h;
	p->y = g_new(float, n);
	p->a = alpha ? g_new(float, n) : NULL;
	for (i = 0; i < n; i++) {
		const VipsPel *s = pix + i * bands;
		double y = bands >= 3 ?
			0.299 * s[0] + 0.587 * s[1] + 0.114 * s[2] : s[0];

		if (alpha) {
			double a = s[bands - 1];

			p->a[i] = a - 128;
			y = (y * a + 255.0 * (255.0 - a)) / 255.0;
		}
		/* Centred: the squares stay small enough for floats. */
		p->y[i] = y - 128;
	}
	g_free(pix);
	return 0;
}

/* frame_planes reads frames idx (s->n_idx of them) of img, a still or
 * an animation of s's frame size, into p: stacked, s->page rows each. */
static int
frame_planes(const search *s, VipsImage *img, const int *idx, planes *p)
{
	int page = s->frames > 1 ? vips_image_get_page_height(img) : img->Ysize;
	VipsImage *t;
	int err;

	if (img->Xsize != s->x->Xsize || page != s->page) {
		vips_error("search", "decoded %dx%d, encoded %dx%d",
			img->Xsize, page, s->x->Xsize, s->page);
		return -1;
	}
	if (imgb_stack_frames(img, page, idx, s->n_idx, &t))
		return -1;
	err = planes_of(t, p);
	g_object_unref(t);
	return err;
}

static double
ssim_of(double mx, double my, double sxx, double syy, double sxy)
{
	const double c1 = (0.01 * 255) * (0.01 * 255);
	const double c2 = (0.03 * 255) * (0.03 * 255);
	double vx = sxx - mx * mx, vy = syy - my * my, cxy = sxy - mx * my;

	/* The sums are of samples less 128 (see planes_of): the luminance
	 * term needs the means back; the others do not change. */
	mx += 128;
	my += 128;
	return ((2 * mx * my + c1) * (2 * cxy + c2)) /
		((mx * mx + my * my + c1) * (vx + vy + c2));
}

/* ssim_small is one window of uniform weights over a whole image smaller
 * than a gaussian window. */
static double
ssim_small(const float *x, const float *y, size_t n)
{
	double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
		sxx += x[i] * x[i];
		syy += y[i] * y[i];
		sxy += x[i] * y[i];
	}
	return ssim_of(mx / n, my / n, sxx / n, syy / n, sxy / n);
}

#define K 11

/* The filter loops are most of a probe's scoring: let GCC vectorize them
 * (2x at -O3 on x86-64) whatever the package's CFLAGS. */
#if defined(__GNUC__) && !defined(__clang__)
#define VECTORIZE __attribute__((optimize("O3")))
#else
#define VECTORIZE
#endif

/* The gaussian of Wang et al.: 11 taps, sigma 1.5, normalized. */
static void
gaussian(float k[K])
{
	double g[K], sum = 0;
	int t;

	for (t = 0; t < K; t++) {
		g[t] = exp(-(t - 5) * (t - 5) / (2 * 1.5 * 1.5));
		sum += g[t];
	}
	for (t = 0; t < K; t++)
		k[t] = g[t] / sum;
}

/* hpass filters one row of the five signals (x, y, x², y², xy) into out
 * (5 arrays of ow). The loops run along the row so the compiler can
 * vectorize them. */
static void VECTORIZE
hpass(const float *x, const float *y, float *prod, int w, const float k[K],
	float *out)
{
	int ow = w - K + 1;
	float *xx = prod, *yy = prod + w, *xy = prod + 2 * w;
	const float *in[5] = { x, y, xx, yy, xy };
	int c, t, q;

	for (c = 0; c < w; c++) {
		xx[c] = x[c] * x[c];
		yy[c] = y[c] * y[c];
		xy[c] = x[c] * y[c];
	}
	for (q = 0; q < 5; q++) {
		float *o = out + (size_t) q * ow;
		const float *s = in[q];

		memset(o, 0, ow * sizeof(float));
		for (t = 0; t < K; t++) {
			float kt = k[t];

			for (c = 0; c < ow; c++)
				o[c] += kt * s[c + t];
		}
	}
}

/* ssim_plane is the mean SSIM of two w x h planes: a horizontal pass of
 * the five sums per row into a ring of K rows, a vertical pass per output
 * row. */
static double VECTORIZE
ssim_plane(const float *x, const float *y, int w, int h)
{
	int ow = w - K + 1, oh = h - K + 1;
	float k[K];
	float *ring, *prod, *v;
	double total = 0;
	int r, c, t, q;

	if (w < K || h < K)
		return ssim_small(x, y, (size_t) w * h);
	gaussian(k);
	ring = g_new(float, (size_t) K * 5 * ow);
	prod = g_new(float, (size_t) 3 * w);
	v = g_new(float, (size_t) 5 * ow);
	for (r = 0; r < h; r++) {
		hpass(x + (size_t) r * w, y + (size_t) r * w, prod, w, k,
			ring + (size_t) (r % K) * 5 * ow);
		if (r < K - 1)
			continue;
		memset(v, 0, (size_t) 5 * ow * sizeof(float));
		for (t = 0; t < K; t++) {
			const float *st = ring + (size_t) ((r - K + 1 + t) % K) * 5 * ow;
			float kt = k[t];

			for (c = 0; c < 5 * ow; c++)
				v[c] += kt * st[c];
		}
		for (c = 0; c < ow; c++) {
			double sv[5];

			for (q = 0; q < 5; q++)
				sv[q] = v[q * ow + c];
			total += ssim_of(sv[0], sv[1], sv[2], sv[3], sv[4]);
		}
	}
	g_free(ring);
	g_free(prod);
	g_free(v);
	return total / ((double) ow * oh);
}

/* score_frame is the SSIM of one frame (page rows from row top) of the
 * reference and a decoded output: of luma, and of alpha when either has
 * it (a missing alpha is opaque). */
static double
score_frame(const planes *ref, const planes *p, int top, int page)
{
	size_t off = (size_t) top * p->w, i, n = (size_t) p->w * page;
	double s = ssim_plane(ref->y + off, p->y + off, p->w, page);
	float *opaque = NULL;

	if (!ref->a && !p->a)
		return s;
	if (!ref->a || !p->a) {
		opaque = g_new(float, n);
		for (i = 0; i < n; i++)
			opaque[i] = 255 - 128;
	}
	s = VIPS_MIN(s, ssim_plane(ref->a ? ref->a + off : opaque,
				p->a ? p->a + off : opaque, p->w, page));
	g_free(opaque);
	return s;
}

/* score compares a decoded output with the reference, frame by scored
 * frame (one for a still): the lowest score counts. */
static int
score(const search *s, VipsImage *dec, double *out)
{
	int at[IMGB_SCORED_FRAMES];
	planes p;
	double low = 1;
	int k;

	if (s->frames == 1)
		at[0] = 0;
	else if (imgb_match_frames(s->x, dec, s->idx, s->n_idx, at))
		return -1;
	if (frame_planes(s, dec, at, &p))
		return -1;
	for (k = 0; k < s->n_idx; k++)
		low = VIPS_MIN(low, score_frame(&s->ref, &p, k * s->page, s->page));
	planes_free(&p);
	*out = low;
	return 0;
}

/* decode opens an output of ours with the loader of its format, every
 * frame of an animation (n frames). */
static int
decode(int format, void *buf, size_t len, int n, VipsImage **out)
{
	switch (format) {
	case IMGB_JPEG:
		return vips_jpegload_buffer(buf, len, out, NULL);
	case IMGB_PNG:
		return vips_pngload_buffer(buf, len, out, NULL);
	case IMGB_WEBP:
		return vips_webpload_buffer(buf, len, out, "n", n, NULL);
	case IMGB_GIF:
		return vips_gifload_buffer(buf, len, out, "n", n, NULL);
	case IMGB_AVIF:
		return vips_heifload_buffer(buf, len, out, NULL);
	}
	vips_error("search", "no loader for format %d", format);
	return -1;
}

/* has_q says whether format has a quality to search: PNG is lossless,
 * GIF quantises to a palette whatever q (one encode each). */
static int
has_q(int format)
{
	return format != IMGB_PNG && format != IMGB_GIF;
}

/* Work of a probe, in reference ms per megapixel encoded: the CPU of one
 * probe per output megapixel on a quiet core of the 2-core Xeon the
 * project is built on. Decoding and scoring take ~80 whatever the
 * format; encoding (1280 px photos, effort 2 and 4, fixed q) JPEG ~20,
 * WebP ~150 (q40-100: 120-200), AVIF ~300 up to q60, then ~10 more a q
 * step to q95 (q80 420, q90 590, q95 660) and ~80 a step above (q100
 * 1050). BenchmarkProbeCost checks the sum
 * under the default target: JPEG 86-119, WebP 212-275, AVIF 434-464.
 * AVIF encodes ~10x slower from effort 2 to 4 (render.go): 3x a step
 * above 2; WebP ~40% a step above 4. PNG and GIF (one encode each, never
 * searched) are weighted as WebP and AVIF: unmeasured, on the safe side. */
static double
probe_cost(int format, int effort, int q)
{
	switch (format) {
	case IMGB_JPEG:
		return 80 + 20;
	case IMGB_WEBP:
		return 80 + 150 * (effort > 4 ? 1 + 0.4 * (effort - 4) : 1);
	case IMGB_AVIF:
		return 80 + (300 + 10 * VIPS_CLIP(0, q - 60, 35) +
			80 * VIPS_MAX(0, q - 95)) *
			(effort > 2 ? pow(3, effort - 2) :
			effort >= 0 && effort < 2 ? 0.5 : 1);
	case IMGB_PNG:
		return 250;
	}
	return 450;
}

/* probe_work is the work of one probe of s's reference as format at q:
 * every frame is encoded. A pure function of the image and the probe. */
static double
probe_work(const search *s, int format, int effort, int q)
{
	return (double) s->x->Xsize * s->x->Ysize / 1e6 *
		probe_cost(format, effort, q);
}

/* may_start says whether a probe of format at q may start once an output
 * is in hand (done): the work budget decides, and the wall clock only as
 * a safety net (noted in time_cut). Before that, every probe may. */
static int
may_start(search *s, int done, int format, int effort, int q)
{
	const imgb_variant *v = s->v;

	if (!done)
		return 1;
	if (v->work_budget > 0 &&
		s->work + probe_work(s, format, effort, q) > v->work_budget)
		return 0;
	if (v->wall_ms > 0 && g_get_monotonic_time() > s->deadline) {
		s->time_cut = 1;
		return 0;
	}
	return 1;
}

/* encode_probe encodes the reference as format at q. */
static int
encode_probe(search *s, int format, int effort, int q, probe *p)
{
	imgb_variant cv = *s->v;

	cv.format = format;
	cv.quality = q;
	cv.effort = effort;
	memset(p, 0, sizeof(*p));
	p->format = format;
	p->quality = has_q(format) ? q : 0;
	p->score = -1;
	g_atomic_int_inc(&probes);
	s->n_probes += 1;
	s->work += probe_work(s, format, effort, q);
	return imgb_encode(s->x, &cv, &p->buf, &p->len);
}

/* measure scores probe p against the reference (PNG is lossless: 1),
 * making the reference's planes if no target made them. */
static int
measure(search *s, probe *p)
{
	VipsImage *dec;
	int err;

	if (p->format == IMGB_PNG) {
		p->score = 1;
		return 0;
	}
	if (!s->ref.y && frame_planes(s, s->x, s->idx, &s->ref))
		return -1;
	if (decode(p->format, p->buf, p->len, s->frames > 1 ? -1 : 1, &dec)) {
		vips_error("search", "cannot read back the output it wrote "
			"(format %d, q %d)", p->format, p->quality);
		return -1;
	}
	err = score(s, dec, &p->score);
	g_object_unref(dec);
	if (getenv("IMGB_SEARCH_DEBUG"))
		fprintf(stderr, "search: format %d q %d: %zu bytes, ssim %.4f, "
			"work %.0f\n", p->format, p->quality, p->len, p->score,
			s->work);
	return err;
}

/* over_budget says whether a probe of the quality search would take its
 * work past the budget, passed or not (noted in budget_cut): under a
 * target, once any output is in hand, so that the first probe always
 * runs. Without a target each candidate is encoded once, as before. The
 * wall clock still waits for a passing output (may_start). */
static int
over_budget(search *s, int format, int effort, int q)
{
	const imgb_variant *v = s->v;

	if (!s->target || !s->best.buf || v->work_budget <= 0 ||
		s->work + probe_work(s, format, effort, q) <= v->work_budget)
		return 0;
	s->budget_cut = 1;
	return 1;
}

/* try encodes the reference as format at q and scores it if there is a
 * target. */
static int
try(search *s, int format, int effort, int q, probe *p)
{
	if (encode_probe(s, format, effort, q, p))
		return -1;
	return s->target ? measure(s, p) : 0;
}

/* better says whether probe p should replace the best so far: passing
 * beats failing; among passing, smaller; among failing, higher score
 * (none may pass: keep the closest); without a target, smaller. */
static int
better(const search *s, const probe *p)
{
	int pass = p->score >= s->target;

	if (!s->best.buf)
		return 1;
	if (!s->target)
		return p->len < s->best.len;
	if (pass != s->passed)
		return pass;
	if (pass)
		return p->len < s->best.len;
	return p->score > s->best.score;
}

/* keep makes p the best if it is, and frees whichever lost. */
static void
keep(search *s, probe *p)
{
	if (better(s, p)) {
		g_free(s->best.buf);
		s->best = *p;
		s->passed = s->target && p->score >= s->target;
	}
	else
		g_free(p->buf);
	p->buf = NULL;
}

static double
dist(double ssim)
{
	return -log(VIPS_MAX(1e-9, 1 - ssim));
}

/* start_q is the first probe of a format: the median q at which each
 * encoder met an SSIM of 0.98 on six of the bench's photos at 1280 px
 * (JPEG 85, WebP 87, AVIF 72), moved by the target's distance from that
 * (START_SLOPE), and by what the search of an earlier format learnt of
 * this image: s->shift, how far its answer was from its own start. */
static int
start_q(const search *s, int format)
{
	int q0 = format == IMGB_AVIF ? 72 : format == IMGB_WEBP ? 87 : 85;

	return q0 + s->shift +
		(int) rint((dist(s->target) - dist(0.98)) / START_SLOPE);
}

/* next_q is the next probe. Inside a bracket (lo fails, hi passes, both
 * probed): interpolation of d. Before: the secant of the last two probes
 * (or the prior slope after one) aimed one q past the target, so that
 * the next probe likely brackets it; at least 2 steps, at most max_step. */
static int
next_q(const search *s, const bracket *b, const probe *p1, const probe *p2,
	int max_step)
{
	double dt = dist(s->target);
	double d2 = dist(p2->score), slope = D_SLOPE, x;
	int q;

	if (!isnan(b->dlo) && !isnan(b->dhi) && b->dhi > b->dlo)
		q = (int) ceil(b->lo + (dt - b->dlo) * (b->hi - b->lo) /
			(b->dhi - b->dlo));
	else {
		if (p1 && p1->quality != p2->quality) {
			slope = (d2 - dist(p1->score)) /
				(p2->quality - p1->quality);
			slope = VIPS_MAX(slope, 0.002);
		}
		x = VIPS_CLIP(2, fabs(dt - d2) / slope + 1, max_step);
		q = p2->quality + (int) (d2 >= dt ? -ceil(x) : ceil(x));
	}
	return VIPS_CLIP(b->lo + 1, q, b->hi - 1);
}

/* search_format searches q for one format under a target: the smallest q
 * whose output passes, bracketed to one step or cut at max_probes. */
static int
search_format(search *s, int format, int effort)
{
	const imgb_variant *v = s->v;
	bracket b = { v->q_min - 1, NAN, v->q_max + 1, NAN };
	int first = VIPS_CLIP(v->q_min, start_q(s, format), v->q_max);
	int q = first;
	probe last[2] = { { 0 } };
	int calibrated = s->shift_format >= 0;
	int n;

	/* An AVIF probe costs ~50 JPEG ones: stop it one q short of exact
	 * (2-3% of its bytes). */
	int tol = format == IMGB_AVIF ? 2 : 1;

	for (n = 0; n < v->max_probes && b.hi - b.lo > tol; n++) {
		probe p;
		int pruned;

		if (over_budget(s, format, effort, q) ||
			!may_start(s, s->passed, format, effort, q))
			break;
		if (try(s, format, effort, q, &p)) {
			g_free(p.buf);
			return -1;
		}
		/* Failing and already no smaller than a passing output:
		 * every q that passes is bigger still. */
		pruned = p.score < s->target && s->passed && p.len >= s->best.len;
		if (p.score >= s->target) {
			b.hi = q;
			b.dhi = dist(p.score);
		}
		else {
			b.lo = q;
			b.dlo = dist(p.score);
		}
		last[0] = last[1];
		last[1] = p;
		last[1].buf = NULL;
		keep(s, &p);
		if (pruned)
			return 0;
		/* A start calibrated by an earlier format is near: short
		 * steps from it. */
		q = next_q(s, &b, n > 0 ? &last[0] : NULL, &last[1],
			calibrated ? 8 : 40);
	}
	/* The first format found this image's q (or its bound): later
	 * formats start where it puts them. */
	if (s->shift_format < 0) {
		s->shift = b.hi - first;
		s->shift_format = format;
	}
	return 0;
}

/* drop_opaque_alpha: an alpha band that is 255 everywhere says nothing,
 * and keeps JPEG out of the candidates; drop it. */
static int
drop_opaque_alpha(VipsImage **x)
{
	VipsImage *a, *t;
	double min;

	if (!vips_image_hasalpha(*x))
		return 0;
	if (vips_extract_band(*x, &a, (*x)->Bands - 1, NULL))
		return -1;
	if (vips_min(a, &min, NULL)) {
		g_object_unref(a);
		return -1;
	}
	g_object_unref(a);
	if (min < 255)
		return 0;
	if (vips_extract_band(*x, &t, 0, "n", (*x)->Bands - 1, NULL))
		return -1;
	g_object_unref(*x);
	*x = t;
	return 0;
}

/* Encoding cost of a format, to pick the one searched first: JPEG is
 * cheapest (~15 ms at 1 MP), WebP ~10x, AVIF ~50x; PNG (one encode, no
 * q to learn) is never first unless alone. */
static int
cost(int format)
{
	switch (format) {
	case IMGB_JPEG:
		return 0;
	case IMGB_WEBP:
		return 1;
	case IMGB_AVIF:
		return 2;
	}
	return 3;
}

/* run tries every candidate that can hold the image: the cheapest first
 * (its search learns this image's q, which starts the others near their
 * answer), then the others in the order given (the likely winner, AVIF,
 * first by default, so the rest meet its size early and are pruned). */
static int
run(search *s)
{
	imgb_variant *v = s->v;
	int alpha = vips_image_hasalpha(s->x);
	int order[IMGB_MAX_CANDIDATES];
	int i, j, cheapest = 0;
	int n = VIPS_MIN(v->n_candidates, IMGB_MAX_CANDIDATES);

	for (i = 1; i < n; i++)
		if (cost(v->candidates[i]) < cost(v->candidates[cheapest]) &&
			!(alpha && v->candidates[i] == IMGB_JPEG))
			cheapest = i;
	order[0] = cheapest;
	for (i = 0, j = 1; i < n; i++)
		if (i != cheapest)
			order[j++] = i;
	for (i = 0; i < n; i++) {
		int f = v->candidates[order[i]];
		int effort = v->candidate_effort[order[i]];
		probe p;

		if (f == IMGB_JPEG && alpha)
			continue; /* JPEG has no alpha */
		if (s->target && has_q(f)) {
			if (search_format(s, f, effort))
				return -1;
			continue;
		}
		if (over_budget(s, f, effort, v->quality) ||
			!may_start(s, s->passed, f, effort, v->quality))
			continue;
		if (try(s, f, effort, v->quality, &p)) {
			g_free(p.buf);
			return -1;
		}
		keep(s, &p);
	}
	if (!s->best.buf) {
		vips_error("search", "no candidate format can hold this image");
		return -1;
	}
	/* Stopped short of the target: the closest output is written. */
	s->unmet = s->budget_cut && s->target && !s->passed;
	return 0;
}

/* The byte cap (keepSmallerSource: never bigger than the source). When
 * the output is over v->max_bytes, q is searched down for the highest q
 * whose output fits: the cap wins over the quality target, since the
 * user asked never to grow a file. The floor is the target's q_min (or
 * CAP_Q_MIN without a target): below it an output is not worth its
 * bytes, and the caller copies the source instead, or says the output
 * is bigger. Only q moves the size: PNG, GIF and lossless outputs are
 * left as they are. */
#define CAP_Q_MIN 30

static int
lossy(const imgb_variant *v, int format)
{
	return !v->lossless && (format == IMGB_JPEG ||
		format == IMGB_WEBP || format == IMGB_AVIF);
}

/* effort_of is the encoder effort of candidate format f. */
static int
effort_of(const imgb_variant *v, int f)
{
	int i;

	for (i = 0; i < v->n_candidates; i++)
		if (v->candidates[i] == f)
			return v->candidate_effort[i];
	return v->effort;
}

/* cap_format searches format's q for the highest whose output fits the
 * cap, below hi (over the cap; its size hi_len, or 0 if not probed):
 * the floor first (over: no q fits, one encode spent), then
 * interpolation of ln(bytes) in the bracket (bisection while the size
 * at hi is unknown), at most max_probes more encodes. out->buf is the
 * output, NULL if none fits. */
static int
cap_format(search *s, int format, int effort, int hi, size_t hi_len,
	probe *out)
{
	const imgb_variant *v = s->v;
	double cap = v->max_bytes;
	int lo = s->target ? v->q_min : CAP_Q_MIN;
	size_t lo_len;
	int n;

	memset(out, 0, sizeof(*out));
	if (lo >= hi)
		return 0;
	if (encode_probe(s, format, effort, lo, out))
		return -1;
	if (out->len > v->max_bytes) {
		g_free(out->buf);
		out->buf = NULL;
		return 0;
	}
	lo_len = out->len;
	for (n = 0; n < v->max_probes && hi - lo > 1; n++) {
		probe p;
		int q = (lo + hi) / 2;

		if (hi_len > lo_len)
			q = lo + (int) floor((log(cap) - log(lo_len)) *
				(hi - lo) / (log(hi_len) - log(lo_len)));
		q = VIPS_CLIP(lo + 1, q, hi - 1);
		if (encode_probe(s, format, effort, q, &p)) {
			g_free(p.buf);
			return -1;
		}
		if (p.len <= v->max_bytes) {
			g_free(out->buf);
			*out = p;
			lo = q;
			lo_len = p.len;
		}
		else {
			g_free(p.buf);
			hi = q;
			hi_len = p.len;
		}
	}
	return 0;
}

/* fit_cap replaces the best output, over the cap, with one that fits:
 * each lossy candidate's q is searched down (the best's own format
 * first), each output that fits is scored, and the highest SSIM wins
 * (formats differ under a cap: on issue 16's photo WebP q77 scored
 * 0.923, JPEG q73 0.945). No format starts past the budget once one
 * fit (may_start). None fits: the best stays as it is. */
static int
fit_cap(search *s)
{
	const imgb_variant *v = s->v;
	int alpha = vips_image_hasalpha(s->x);
	int scored = (double) s->x->Xsize * s->page * s->n_idx <=
		IMGB_SEARCH_MAX_PIXELS;
	probe fit = { 0 };
	int k;

	for (k = -1; k < v->n_candidates; k++) {
		int f = k < 0 ? s->best.format : v->candidates[k];
		int own = f == s->best.format;
		int hi = s->target ? v->q_max + 1 : v->quality;
		probe p;

		if ((k >= 0 && own) || !lossy(v, f) ||
			(f == IMGB_JPEG && alpha))
			continue;
		if (!may_start(s, fit.buf != NULL, f, effort_of(v, f),
				s->target ? v->q_min : CAP_Q_MIN))
			break;
		if (cap_format(s, f, effort_of(v, f),
			own ? s->best.quality : hi, own ? s->best.len : 0, &p) ||
			(p.buf && scored && measure(s, &p))) {
			g_free(p.buf);
			g_free(fit.buf);
			return -1;
		}
		if (p.buf && (!fit.buf || p.score > fit.score)) {
			g_free(fit.buf);
			fit = p;
		}
		else
			g_free(p.buf);
	}
	if (fit.buf) {
		g_free(s->best.buf);
		s->best = fit;
		s->capped = 1;
	}
	return 0;
}

/* frames_of sets the frames of x: a roll of page-height frames when
 * animated, else one. */
static void
frames_of(search *s, VipsImage *x, int animated)
{
	s->page = animated ? vips_image_get_page_height(x) : x->Ysize;
	s->frames = x->Ysize / s->page;
	s->n_idx = imgb_frames_scored(s->frames, s->idx);
}

/* prepare fills s for variant v on the finished image x (an animation
 * when animated); drop drops an alpha band that is opaque everywhere. */
static int
prepare(search *s, VipsImage *x, imgb_variant *v, int drop, int animated)
{
	memset(s, 0, sizeof(*s));
	s->v = v;
	s->target = v->target_ssim;
	s->shift_format = -1;
	s->deadline = g_get_monotonic_time() + (gint64) v->wall_ms * 1000;
	frames_of(s, x, animated);
	if (!(s->x = vips_image_copy_memory(x)))
		return -1;
	if (drop && drop_opaque_alpha(&s->x))
		return -1;
	if (s->target && frame_planes(s, s->x, s->idx, &s->ref))
		return -1;
	return 0;
}

/* over_cap says whether the best output is over a cap it could fit. */
static int
over_cap(const search *s)
{
	return s->v->max_bytes && s->best.len > s->v->max_bytes;
}

/* finish_search hands over the best output of s (or frees it on error)
 * and the search's memory. */
static int
finish_search(search *s, int err, imgb_variant *v, void **out,
	size_t *out_len)
{
	planes_free(&s->ref);
	if (s->x)
		g_object_unref(s->x);
	if (err) {
		g_free(s->best.buf);
		return -1;
	}
	*out = s->best.buf;
	*out_len = s->best.len;
	v->out_format = s->best.format;
	v->out_quality = s->best.quality;
	v->out_score = s->best.score > 0 ? s->best.score : 0;
	v->out_capped = s->capped;
	v->out_probes = s->n_probes;
	v->out_work = s->work;
	v->out_time_cut = s->time_cut;
	v->out_budget_cut = s->unmet;
	return 0;
}

/* encode_capped encodes x at v's format and quality and, if that is over
 * v's cap, searches q down (fit_cap). Without a cap, the output is the
 * one encode, as before caps. With one, x is first copied to memory (a
 * sequential pipeline cannot be read twice): the same bytes. */
static int
encode_capped(VipsImage *x, imgb_variant *v, void **out, size_t *out_len,
	int animated)
{
	imgb_variant one = *v;
	search s;
	int err;

	v->out_format = v->format;
	v->out_quality = v->quality;
	if (!v->max_bytes || !lossy(v, v->format))
		return imgb_encode(x, v, out, out_len);
	one.n_candidates = 1;
	one.candidates[0] = v->format;
	one.candidate_effort[0] = v->effort;
	if (prepare(&s, x, &one, 0, animated) ||
		encode_probe(&s, v->format, v->effort, v->quality, &s.best))
		return finish_search(&s, -1, v, out, out_len);
	err = over_cap(&s) && fit_cap(&s);
	return finish_search(&s, err, v, out, out_len);
}

/* search_image is imgb_search of a still or (animated) of an animation,
 * whose whole roll is held in memory and encoded by every probe, but
 * only a sample of its frames is scored. */
static int
search_image(VipsImage *x, imgb_variant *v, void **out, size_t *out_len,
	int animated)
{
	imgb_variant one = *v;
	search s;
	int err;

	if (!v->target_ssim && v->n_candidates == 0)
		return encode_capped(x, v, out, out_len, animated);
	/* The reference, its planes and a decoded probe are held at once:
	 * ~15 bytes a scored pixel. */
	frames_of(&s, x, animated);
	if (v->target_ssim &&
		(double) x->Xsize * s.page * s.n_idx > IMGB_SEARCH_MAX_PIXELS) {
		vips_error("search", "a quality target on a %dx%d output "
			"(%d frames scored): over the search's limit of %d pixels",
			x->Xsize, s.page, s.n_idx, IMGB_SEARCH_MAX_PIXELS);
		return -1;
	}
	if (v->n_candidates == 0) {
		/* A target for the variant's own format. */
		one.n_candidates = 1;
		one.candidates[0] = v->format;
		one.candidate_effort[0] = v->effort;
	}
	err = prepare(&s, x, &one, 1, animated) || run(&s) ||
		(over_cap(&s) && fit_cap(&s));
	return finish_search(&s, err, v, out, out_len);
}

int
imgb_search(VipsImage *x, imgb_variant *v, void **out, size_t *out_len)
{
	return search_image(x, v, out, out_len, 0);
}

int
imgb_search_frames(VipsImage *x, imgb_variant *v, void **out,
	size_t *out_len)
{
	return search_image(x, v, out, out_len, 1);
}
