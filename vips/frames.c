/* frames.c: the frames of an animation that a quality target is scored
 * on (search.c). An animation is held as a toilet roll (anim.c); scoring
 * every frame would hold two float planes of the whole roll and score
 * frames that differ little, so a bounded sample is scored instead: up to
 * IMGB_SCORED_FRAMES frames spread evenly from the first to the last, the
 * lowest score counting. Lossy animated WebP codes most frames as changes
 * on the previous canvas, so error builds up along the animation: the
 * last frame is the one most likely to fail, the first the least.
 *
 * Both GIF and WebP encoders fold a frame equal to the one before into
 * it, adding its delay: a probe may hold fewer frames than the roll, and
 * its frames are matched to the roll's by time (imgb_match_frames). */
#include <vips/vips.h>

#include "render.h"
#include "internal.h"

int
imgb_frames_scored(int n, int *idx)
{
	int k = VIPS_CLIP(1, n, IMGB_SCORED_FRAMES);
	int i;

	if (k == 1) {
		idx[0] = 0;
		return 1;
	}
	/* First and last always, the rest evenly between. */
	for (i = 0; i < k; i++)
		idx[i] = (int) ((double) i * (n - 1) / (k - 1) + 0.5);
	return k;
}

int
imgb_stack_frames(VipsImage *in, int page, const int *idx, int k,
	VipsImage **out)
{
	VipsObject *scope;
	VipsImage **f;
	int i, err = 0;

	if (k == 1 && page == in->Ysize) {
		g_object_ref(in);
		*out = in;
		return 0;
	}
	scope = VIPS_OBJECT(vips_image_new());
	f = (VipsImage **) vips_object_local_array(scope, k);
	for (i = 0; i < k && !err; i++)
		err = vips_extract_area(in, &f[i], 0, idx[i] * page,
			in->Xsize, page, NULL);
	if (!err)
		err = vips_arrayjoin(f, out, k, "across", 1, NULL);
	g_object_unref(scope);
	return err ? -1 : 0;
}

/* delays_of reads the frame delays (ms) of an animation of n frames. */
static int
delays_of(VipsImage *im, int n, int **d)
{
	int len;

	if (vips_image_get_typeof(im, "delay") &&
		!vips_image_get_array_int(im, "delay", d, &len) && len == n)
		return 0;
	vips_error("search", "an animation of %d frames without their delays", n);
	return -1;
}

int
imgb_match_frames(VipsImage *ref, VipsImage *dec, const int *idx, int k,
	int *at)
{
	int nr = ref->Ysize / vips_image_get_page_height(ref);
	int nd = dec->Ysize / vips_image_get_page_height(dec);
	int *dr, *dd;
	int i, f, j;
	gint64 t, start;

	if (nr == nd || nd == 1) {
		/* Every frame folded into one: a still, without delays. */
		for (i = 0; i < k; i++)
			at[i] = nr == nd ? idx[i] : 0;
		return 0;
	}
	/* The encoders merge a frame equal to the one before into it
	 * (its delay added): find what shows when frame idx[i] starts. */
	if (delays_of(ref, nr, &dr) || delays_of(dec, nd, &dd))
		return -1;
	for (i = 0; i < k; i++) {
		for (t = 0, f = 0; f < idx[i]; f++)
			t += dr[f];
		for (start = 0, j = 0; j < nd - 1 && start + dd[j] <= t; j++)
			start += dd[j];
		at[i] = j;
	}
	return 0;
}
