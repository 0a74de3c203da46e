/* start.h: starting libvips for imgbatch, and the process-wide settings
 * tests and benchmarks read or change. */
#ifndef IMGB_START_H
#define IMGB_START_H

/* imgb_start starts libvips (vips_init) with concurrency threads per
 * operation, the operation cache off, leak reporting off, and libvips' and
 * GLib's log messages sent to imgbLog (vips.go). It returns 0, or -1 with
 * the libvips error buffer set. VIPS_BLOCK_UNTRUSTED must be in the
 * environment before the call. */
int imgb_start(int concurrency);

/* imgb_live_objects counts libvips objects alive (a leak check). */
int imgb_live_objects(void);

void imgb_set_concurrency(int n);
int imgb_get_concurrency(void);

#endif /* IMGB_START_H */
