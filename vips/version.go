package vips

/*
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <vips/vips.h>

// imgbatch is built against the one pinned libvips that scripts/libvips-npm.sh
// installs (libvips 8.18 from npm). Older headers here mean the build found
// another libvips, most likely Debian 12's libvips-dev (8.14): stop.
#if VIPS_MAJOR_VERSION < 8 || (VIPS_MAJOR_VERSION == 8 && VIPS_MINOR_VERSION < 18)
#error "imgbatch needs the pinned libvips >= 8.18 (scripts/libvips-npm.sh), but these vips headers are older (Debian's libvips-dev?). Build and test with make (make build, make test) or scripts/build.sh, which set PKG_CONFIG_PATH, CGO_CFLAGS and CGO_LDFLAGS for it."
#endif

static int imgb_vips_version(int flag) { return vips_version(flag); }

static int imgb_find_libvips(struct dl_phdr_info *info, size_t size, void *data) {
	const char *name = info->dlpi_name;
	const char *base = name ? strrchr(name, '/') : NULL;
	base = base ? base + 1 : name;
	if (base && strncmp(base, "libvips", 7) == 0) {
		*(const char **)data = name;
		return 1;
	}
	return 0;
}

// imgb_libvips_path: the file of the shared object that defines vips_init
// as this process loaded it; when the address resolves to the executable
// (a canonical PLT entry), the first loaded object named libvips*.
static const char *imgb_libvips_path(void) {
	Dl_info info;
	if (dladdr((void *)vips_version, &info) && info.dli_fname && strstr(info.dli_fname, "libvips") != NULL)
		return info.dli_fname;
	const char *name = NULL;
	dl_iterate_phdr(imgb_find_libvips, &name);
	return name;
}
*/
import "C"

import (
	"fmt"
	"sync"
)

// HeaderVersion is the libvips version of the headers imgbatch was
// compiled with (VIPS_VERSION). The pinned npm set pairs libvips 8.18.8
// with headers of 8.18.7 (same ABI); the running library is Version.
func HeaderVersion() string { return C.VIPS_VERSION }

var runtimeVersion = sync.OnceValue(func() string {
	return fmt.Sprintf("%d.%d.%d", C.imgb_vips_version(0), C.imgb_vips_version(1), C.imgb_vips_version(2))
})

// Version is the version of the libvips this process runs, asked of the
// loaded library (vips_version), not the headers it was compiled with. It
// needs no Start.
func Version() string { return runtimeVersion() }

// LibraryPath is the file of the libvips shared library loaded into this
// process ("" if it cannot be found).
func LibraryPath() string {
	if p := C.imgb_libvips_path(); p != nil {
		return C.GoString(p)
	}
	return ""
}
