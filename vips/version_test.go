package vips

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionIsTheLoadedLibrary: Version asks the library this process
// loaded; its file is the pinned npm libvips of that version, and the
// headers imgbatch compiled with are the same major.minor (same ABI).
func TestVersionIsTheLoadedLibrary(t *testing.T) {
	v, h, p := Version(), HeaderVersion(), LibraryPath()
	if filepath.Base(p) != "libvips-cpp.so."+v {
		t.Errorf("LibraryPath %q, Version %q: want libvips-cpp.so.<Version>", p, v)
	}
	major := func(s string) string { i := strings.LastIndex(s, "."); return s[:max(i, 0)] }
	if major(v) != major(h) {
		t.Errorf("running libvips %s, headers %s: want the same major.minor", v, h)
	}
}
