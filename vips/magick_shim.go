package vips

// The libvips that sharp publishes on npm (@img/sharp-libvips-*, libvips
// 8.18) is built without ImageMagick, but govips refers to
// vips_magickload_buffer, so a binary that links govips (the imgbatch
// command, through bench; this package's tests: see the package comment)
// fails with an undefined symbol. This definition refuses, as the blocked magick loaders
// do on Debian's libvips. imgbatch never calls it: only allow-listed formats
// reach libvips, each through its own loader (load.c).

/*
#include <vips/vips.h>

int
vips_magickload_buffer(void *buf, size_t len, VipsImage **out, ...)
{
	vips_error("magickload_buffer", "%s", "ImageMagick loader is not in this libvips build");
	return -1;
}
*/
import "C"
