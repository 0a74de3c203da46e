/* The four internal libvips functions vipsthumbnail.c uses; the npm
 * package ships vips/private.h (two of them) but not vips/internal.h. */
#include <vips/private.h>
int vips__substitutec(char *buf, size_t len, char c, char *sub);
int vips__substitute(char *buf, size_t len, char *sub);
