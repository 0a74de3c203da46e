package heic

// The helper's C side: libheif is opened at run time with dlopen (Debian's
// libheif1, which decodes HEVC through libde265), so building imgbatch
// needs no libheif headers or library and a machine without libheif1 still
// runs imgbatch (HEIC then fails as unsupported). The few declarations
// below are libheif 1.15's ABI (heif.h): stable since 1.13 for what is used.

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int code; int subcode; const char *message; } hf_error;

enum {
	hf_error_Ok = 0,
	hf_error_Invalid_input = 2,
	hf_error_Unsupported_filetype = 3,
	hf_error_Unsupported_feature = 4,
	hf_error_Memory_allocation_error = 6,
	hf_error_Decoder_plugin_error = 7,
	hf_suberror_Security_limit_exceeded = 1000,
	hf_compression_HEVC = 1,
	hf_colorspace_RGB = 1,
	hf_chroma_interleaved_RGB = 10,
	hf_chroma_interleaved_RGBA = 11,
	hf_channel_interleaved = 10,
	hf_profile_rICC = ('r' << 24) | ('I' << 16) | ('C' << 8) | 'C',
	hf_profile_prof = ('p' << 24) | ('r' << 16) | ('o' << 8) | 'f',
};

// heif_decoding_options up to version 2 (libheif allocates it; only
// convert_hdr_to_8bit is set, when the version has it).
typedef struct {
	uint8_t version;
	uint8_t ignore_transformations;
	void *start_progress, *on_progress, *end_progress, *progress_user_data;
	uint8_t convert_hdr_to_8bit;
} hf_decoding_options;

static struct {
	void *lib;
	const char *(*get_version)(void);
	hf_error (*init)(void *);
	int (*have_decoder_for_format)(int);
	void *(*context_alloc)(void);
	void (*context_free)(void *);
	void (*context_set_max_decoding_threads)(void *, int);
	hf_error (*context_read_from_memory_without_copy)(void *, const void *, size_t, const void *);
	hf_error (*context_get_primary_image_handle)(void *, void **);
	void (*image_handle_release)(const void *);
	int (*image_handle_get_width)(const void *);
	int (*image_handle_get_height)(const void *);
	int (*image_handle_has_alpha_channel)(const void *);
	int (*image_handle_get_color_profile_type)(const void *);
	size_t (*image_handle_get_raw_color_profile_size)(const void *);
	hf_error (*image_handle_get_raw_color_profile)(const void *, void *);
	hf_decoding_options *(*decoding_options_alloc)(void);
	void (*decoding_options_free)(hf_decoding_options *);
	hf_error (*decode_image)(const void *, void **, int, int, const hf_decoding_options *);
	void (*image_release)(const void *);
	int (*image_get_width)(const void *, int);
	int (*image_get_height)(const void *, int);
	const uint8_t *(*image_get_plane_readonly)(const void *, int, int *);
} hf;

// hf_open loads libheif; 0 on success, else dlerror's message in *why.
static int hf_open(const char *name, const char **why) {
	if (hf.lib) return 0;
	void *l = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!l) { *why = dlerror(); return -1; }
#define SYM(f) if (!(*(void **)&hf.f = dlsym(l, "heif_" #f))) { *why = "libheif lacks heif_" #f; dlclose(l); return -1; }
	SYM(get_version) SYM(have_decoder_for_format) SYM(context_alloc) SYM(context_free)
	SYM(context_read_from_memory_without_copy) SYM(context_get_primary_image_handle)
	SYM(image_handle_release) SYM(image_handle_get_width) SYM(image_handle_get_height)
	SYM(image_handle_has_alpha_channel) SYM(image_handle_get_color_profile_type)
	SYM(image_handle_get_raw_color_profile_size) SYM(image_handle_get_raw_color_profile)
	SYM(decoding_options_alloc) SYM(decoding_options_free) SYM(decode_image) SYM(image_release)
	SYM(image_get_width) SYM(image_get_height) SYM(image_get_plane_readonly)
#undef SYM
	// Optional: heif_init (1.13+: loads plugins), the tile thread limit.
	*(void **)&hf.init = dlsym(l, "heif_init");
	*(void **)&hf.context_set_max_decoding_threads = dlsym(l, "heif_context_set_max_decoding_threads");
	if (hf.init) {
		hf_error e = hf.init(NULL);
		if (e.code != hf_error_Ok) { *why = e.message; dlclose(l); return -1; }
	}
	hf.lib = l;
	return 0;
}

static const char *hf_version(void) { return hf.get_version(); }
static int hf_have_hevc(void) { return hf.have_decoder_for_format(hf_compression_HEVC); }

// One decode. Fields are filled step by step; hf_close releases them.
typedef struct {
	void *ctx, *handle, *img;
	int width, height, alpha;          // of the primary image (handle)
	unsigned char *icc; size_t icc_len; // raw ICC profile (malloc'd), if any
	const uint8_t *pixels; int stride;  // decoded: interleaved 8-bit RGB or RGBA
	int out_width, out_height;
	int code, subcode; char msg[512];   // the failing libheif error
} hf_job;

static int hf_fail(hf_job *j, hf_error e) {
	j->code = e.code; j->subcode = e.subcode;
	strncpy(j->msg, e.message ? e.message : "", sizeof j->msg - 1);
	return -1;
}

// hf_parse reads the file's structure and the primary image's header: no
// pixels are decoded.
static int hf_parse(hf_job *j, const void *data, size_t len) {
	j->ctx = hf.context_alloc();
	if (!j->ctx) { hf_error e = {hf_error_Memory_allocation_error, 0, "heif_context_alloc failed"}; return hf_fail(j, e); }
	if (hf.context_set_max_decoding_threads) hf.context_set_max_decoding_threads(j->ctx, 0);
	hf_error e = hf.context_read_from_memory_without_copy(j->ctx, data, len, NULL);
	if (e.code != hf_error_Ok) return hf_fail(j, e);
	e = hf.context_get_primary_image_handle(j->ctx, &j->handle);
	if (e.code != hf_error_Ok) return hf_fail(j, e);
	j->width = hf.image_handle_get_width(j->handle);
	j->height = hf.image_handle_get_height(j->handle);
	j->alpha = hf.image_handle_has_alpha_channel(j->handle);
	int t = hf.image_handle_get_color_profile_type(j->handle);
	if (t == hf_profile_prof || t == hf_profile_rICC) {
		size_t n = hf.image_handle_get_raw_color_profile_size(j->handle);
		if (n > 0 && n <= (16u << 20)) {
			j->icc = malloc(n);
			if (j->icc) {
				e = hf.image_handle_get_raw_color_profile(j->handle, j->icc);
				if (e.code == hf_error_Ok) j->icc_len = n; else { free(j->icc); j->icc = NULL; }
			}
		}
	}
	return 0;
}

// hf_decode decodes the primary image to interleaved 8-bit RGB(A), with
// its transformations (irot, imir, clap) applied: the result is upright.
static int hf_decode(hf_job *j) {
	hf_decoding_options *o = hf.decoding_options_alloc();
	if (o && o->version >= 2) o->convert_hdr_to_8bit = 1;
	hf_error e = hf.decode_image(j->handle, &j->img, hf_colorspace_RGB,
		j->alpha ? hf_chroma_interleaved_RGBA : hf_chroma_interleaved_RGB, o);
	if (o) hf.decoding_options_free(o);
	if (e.code != hf_error_Ok) return hf_fail(j, e);
	j->out_width = hf.image_get_width(j->img, hf_channel_interleaved);
	j->out_height = hf.image_get_height(j->img, hf_channel_interleaved);
	j->pixels = hf.image_get_plane_readonly(j->img, hf_channel_interleaved, &j->stride);
	if (!j->pixels || j->out_width <= 0 || j->out_height <= 0) {
		hf_error f = {hf_error_Decoder_plugin_error, 0, "decoded image has no interleaved plane"};
		return hf_fail(j, f);
	}
	return 0;
}

static void hf_close(hf_job *j) {
	if (j->img) hf.image_release(j->img);
	if (j->handle) hf.image_handle_release(j->handle);
	if (j->ctx) hf.context_free(j->ctx);
	free(j->icc);
	memset(j, 0, sizeof *j);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"
)

// libheifName is the library the helper opens (Debian's libheif1) unless
// EnvLibheif names another (a path or a soname).
const libheifName = "libheif.so.1"

// EnvLibheif names the libheif the helper opens instead of libheif.so.1.
const EnvLibheif = "IMGBATCH_HEIC_LIBHEIF"

func libheifPath() string {
	if p := os.Getenv(EnvLibheif); p != "" {
		return p
	}
	return libheifName
}

// openLibheif loads libheif once per process.
func openLibheif() error {
	name := C.CString(libheifPath())
	defer C.free(unsafe.Pointer(name))
	var why *C.char
	if C.hf_open(name, &why) != 0 {
		return errors.New(C.GoString(why))
	}
	return nil
}

func libheifVersion() string { return C.GoString(C.hf_version()) }
func libheifHasHEVC() bool   { return C.hf_have_hevc() != 0 }

// heifJob is one decode in C memory; close it.
type heifJob struct {
	j   *C.hf_job
	src unsafe.Pointer // C copy of the file (libheif reads it without copying)
}

// heifError is a libheif error code with its message.
type heifError struct {
	code, subcode int
	msg           string
}

func (e *heifError) Error() string {
	return fmt.Sprintf("libheif error %d.%d: %s", e.code, e.subcode, e.msg)
}

func (j *heifJob) err() error {
	return &heifError{int(j.j.code), int(j.j.subcode), C.GoString(&j.j.msg[0])}
}

func parseHEIF(data []byte) (*heifJob, error) {
	j := &heifJob{j: (*C.hf_job)(C.calloc(1, C.sizeof_hf_job)), src: C.CBytes(data)}
	if C.hf_parse(j.j, j.src, C.size_t(len(data))) != 0 {
		err := j.err()
		j.close()
		return nil, err
	}
	return j, nil
}

func (j *heifJob) size() (w, h int, alpha bool) {
	return int(j.j.width), int(j.j.height), j.j.alpha != 0
}

func (j *heifJob) icc() []byte {
	if j.j.icc_len == 0 {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(j.j.icc), C.int(j.j.icc_len))
}

func (j *heifJob) decode() error {
	if C.hf_decode(j.j) != 0 {
		return j.err()
	}
	return nil
}

// rows calls fn with each decoded row (width × channels bytes, C memory:
// valid until close).
func (j *heifJob) rows(channels int, fn func([]byte) error) error {
	w, h, stride := int(j.j.out_width), int(j.j.out_height), int(j.j.stride)
	if stride < w*channels {
		return fmt.Errorf("decoded stride %d < %d × %d", stride, w, channels)
	}
	base := unsafe.Pointer(j.j.pixels)
	for y := 0; y < h; y++ {
		row := unsafe.Slice((*byte)(unsafe.Add(base, y*stride)), w*channels)
		if err := fn(row); err != nil {
			return err
		}
	}
	runtime.KeepAlive(j)
	return nil
}

func (j *heifJob) decodedSize() (w, h int) { return int(j.j.out_width), int(j.j.out_height) }

func (j *heifJob) close() {
	if j.j != nil {
		C.hf_close(j.j)
		C.free(unsafe.Pointer(j.j))
		j.j = nil
	}
	if j.src != nil {
		C.free(j.src)
		j.src = nil
	}
}
