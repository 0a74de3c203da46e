package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
)

// entry is what an image's filesystem says of one path.
type entry struct {
	kind     byte
	perm     int64
	uid, gid int
	size     int64
	link     string
}

func tarEntries(t *testing.T, path string) map[string]entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]entry{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		name := strings.Trim(strings.TrimPrefix(h.Name, "./"), "/")
		if name == "" || name == "." {
			continue
		}
		e := entry{kind: h.Typeflag, perm: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid, link: h.Linkname}
		switch h.Typeflag {
		case tar.TypeReg:
			e.size = h.Size
		case tar.TypeLink:
			e.link = strings.TrimPrefix(strings.TrimPrefix(h.Linkname, "./"), "/")
		}
		out[name] = e
	}
}

// engineOnly are paths an engine adds to a container's filesystem, or a build leaves: the
// files it manages and the empty mount points of the runtime stage's RUN --mount.
var engineOnly = map[string]bool{"etc/hosts": true, "etc/hostname": true, "etc/resolv.conf": true, ".dockerenv": true,
	"run/.containerenv": true, "tmp/imgbatch": true, "tmp/imgbatch/out": true, "tmp/imgbatch/libvips": true, "tmp/imgbatch/runtime-layer.sh": true}

// TestEngineImageMatchesLocal compares an image built from the Dockerfile by an engine with
// the one make image-local builds, path by path (type, mode, owner, size, link). It needs
// the engine's image as a tar in IMGBATCH_ENGINE_IMAGE_TAR (podman/docker export of a
// container of it), built with --build-arg RUNTIME_IMAGE=<image-local's base, imported>, so
// the two share a base: see README, "The image, built and run without Docker". Skipped
// without it (no engine here can pull the Dockerfile's base images).
func TestEngineImageMatchesLocal(t *testing.T) {
	path := os.Getenv("IMGBATCH_ENGINE_IMAGE_TAR")
	if path == "" {
		t.Skip("IMGBATCH_ENGINE_IMAGE_TAR is not set: no engine-built image to compare")
	}
	b := buildImage(t)
	local, engine := tarEntries(t, b.dir+"/rootfs.tar"), tarEntries(t, path)
	var diffs []string
	for p, e := range engine {
		l, ok := local[p]
		switch {
		case !ok && !engineOnly[p]:
			diffs = append(diffs, "only in the engine's image: /"+p)
		case ok && l != e:
			diffs = append(diffs, "differs: /"+p)
		}
	}
	for p := range local {
		if _, ok := engine[p]; !ok {
			diffs = append(diffs, "only in image-local's: /"+p)
		}
	}
	sort.Strings(diffs)
	for _, d := range diffs[:min(len(diffs), 40)] {
		t.Error(d)
	}
	t.Logf("%d paths in image-local's image, %d in the engine's, %d differences", len(local), len(engine), len(diffs))
}
