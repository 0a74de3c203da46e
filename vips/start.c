/* start.c: libvips start-up, as govips' Startup did it for imgbatch
 * before (same settings, same log routing), in imgbatch's own code. */
#include <vips/vips.h>

#include "start.h"
#include "_cgo_export.h"

/* log_handler hands every GLib log message (libvips' warnings among them)
 * to Go, which filters by level. */
static void
log_handler(const gchar *domain, GLogLevelFlags level, const gchar *message,
	gpointer user_data)
{
	imgbLog((char *) domain, (int) level, (char *) message);
}

int
imgb_start(int concurrency)
{
	/* Before vips_init, so that messages of the start-up are routed too. */
	g_log_set_default_handler(log_handler, NULL);
	if (vips_init("imgbatch"))
		return -1;
	vips_leak_set(FALSE);
	vips_concurrency_set(concurrency);
	/* No operation cache: a cached operation keyed on a buffer address
	 * could hand back another image that once lived there, and cached
	 * images would hold memory between items. */
	vips_cache_set_max_files(0);
	vips_cache_set_max_mem(0);
	vips_cache_set_max(0);
	return 0;
}

void
imgb_set_concurrency(int n)
{
	vips_concurrency_set(n);
}

int
imgb_get_concurrency(void)
{
	return vips_concurrency_get();
}

static void *
count_object(VipsObject *object, void *a, void *b)
{
	(*(int *) a)++;
	return NULL;
}

int
imgb_live_objects(void)
{
	int n = 0;

	vips_object_map((VipsSListMap2Fn) count_object, &n, NULL);
	return n;
}
