package image

import (
	"archive/tar"
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// buildEnv reads build.env (KEY='value' lines the script writes with printf %q).
func (b built) buildEnv(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(b.dir, "build.env"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = strings.Trim(v, `'`)
	}
	return env
}

// regularFiles lists the regular files of a tar (paths without "./").
func regularFiles(t *testing.T, path string) map[string]int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string]int64{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			files[strings.TrimPrefix(h.Name, "./")] = h.Size
		case tar.TypeLink: // a hard link: the file it names, again
			if n, ok := files[strings.TrimPrefix(h.Linkname, "./")]; ok {
				files[strings.TrimPrefix(h.Name, "./")] = n
			}
		}
	}
}

// layerFiles is what the runtime layer adds to the base or changes in it (regular files).
func (b built) layerFiles(t *testing.T) []string {
	t.Helper()
	base := regularFiles(t, b.buildEnv(t)["BASE_TAR"])
	var layer []string
	err := filepath.WalkDir(b.rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p == filepath.Join(b.rootfs, "proc") {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.rootfs, p)
		if n, ok := base[rel]; !ok || n != fi.Size() {
			layer = append(layer, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(layer)
	return layer
}

// dpkgOwned is every path the image's Debian packages install (var/lib/dpkg/info/*.list),
// with the merged-/usr aliases (/lib → /usr/lib …) resolved.
func (b built) dpkgOwned(t *testing.T) map[string]bool {
	t.Helper()
	lists, _ := filepath.Glob(filepath.Join(b.rootfs, "var/lib/dpkg/info/*.list"))
	if len(lists) < 50 {
		t.Fatalf("%d dpkg file lists in the image", len(lists))
	}
	merged := regexp.MustCompile(`^/(bin|sbin|lib|lib32|lib64|libx32)/`)
	owned := map[string]bool{}
	for _, l := range lists {
		f, err := os.Open(l)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			p := merged.ReplaceAllString(sc.Text(), "/usr/$1/")
			owned[strings.TrimPrefix(p, "/")] = true
		}
		f.Close()
	}
	return owned
}

// The files the runtime layer may hold besides its packages' files: the script's own, and
// what installing packages and adding a user writes.
var (
	scriptFiles = []string{
		"usr/local/bin/imgbatch", "opt/libvips/lib/libvips-cpp.so.8.18.8",
		"usr/share/doc/sharp-libvips/README.md", "usr/share/doc/sharp-libvips/installed",
		"usr/share/doc/sharp-libvips/package.json", "usr/share/doc/sharp-libvips/versions.json",
	}
	generated = regexp.MustCompile(`^(etc/(passwd|group|shadow|gshadow)-?|etc/ld\.so\.cache|etc/ssl/certs/ca-certificates\.crt|` +
		`etc/ca-certificates\.conf|var/lib/dpkg/.*|var/lib/apt/extended_states|var/cache/debconf/.*|var/cache/ldconfig/aux-cache|var/log/alternatives\.log)$`)
)

// TestRuntimeLayerFiles: every file the runtime layer puts on the base is a file of one of
// its Debian packages, one the script installs, or one that installing packages and adding
// the user writes: nothing else leaks in (a build tree, a cache, a key).
func TestRuntimeLayerFiles(t *testing.T) {
	b := buildImage(t)
	owned := b.dpkgOwned(t)
	layer := b.layerFiles(t)
	want := map[string]bool{}
	for _, f := range scriptFiles {
		want[f] = true
	}
	for _, f := range layer {
		switch {
		case want[f]:
			delete(want, f)
		case owned[f], generated.MatchString(f):
		default:
			t.Errorf("the runtime layer holds /%s: not from a package, the script or a package's install", f)
		}
	}
	for f := range want {
		t.Errorf("the runtime layer lacks /%s", f)
	}
	for _, f := range scriptFiles {
		fi, err := os.Stat(filepath.Join(b.rootfs, f))
		if err != nil {
			continue
		}
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(f, "/imgbatch") {
			mode = 0o755
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("/%s has mode %v, want %v (root-owned, not writable by the image's user)", f, fi.Mode().Perm(), mode)
		}
	}
	t.Logf("runtime layer: %d files over the base", len(layer))
}

// TestRuntimeLayerHygiene: no compilers, toolchains or package caches in the image; CA
// certificates present; the user 10001 with no shell and no home.
func TestRuntimeLayerHygiene(t *testing.T) {
	b := buildImage(t)
	for _, p := range []string{"usr/bin/gcc", "usr/bin/cc", "usr/bin/c++", "usr/bin/g++", "usr/bin/ld", "usr/bin/as",
		"usr/bin/make", "usr/bin/go", "usr/local/go", "usr/lib/gcc", "usr/include/stdio.h", "usr/bin/npm", "usr/bin/node",
		"opt/libvips/include", "opt/libvips/lib/pkgconfig", "root/.cache", "root/go"} {
		if _, err := os.Lstat(filepath.Join(b.rootfs, p)); err == nil {
			t.Errorf("/%s is in the image: a build tool or build leftover", p)
		}
	}
	for _, glob := range []string{"var/lib/apt/lists/*", "var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/log/apt/*"} {
		if m, _ := filepath.Glob(filepath.Join(b.rootfs, glob)); len(m) > 0 {
			t.Errorf("package cache in the image: %d × /%s (e.g. %s)", len(m), glob, m[0])
		}
	}
	certs, err := os.ReadFile(filepath.Join(b.rootfs, "etc/ssl/certs/ca-certificates.crt"))
	if n := strings.Count(string(certs), "BEGIN CERTIFICATE"); err != nil || n < 100 {
		t.Errorf("CA bundle: %d certificates (%v), want the Mozilla set (> 100)", n, err)
	}
	passwd, _ := os.ReadFile(filepath.Join(b.rootfs, "etc/passwd"))
	group, _ := os.ReadFile(filepath.Join(b.rootfs, "etc/group"))
	if !strings.Contains(string(passwd), "\nimgbatch:x:10001:10001::/nonexistent:/usr/sbin/nologin\n") {
		t.Errorf("no user imgbatch 10001 without a shell in /etc/passwd:\n%s", passwd)
	}
	if !strings.Contains(string(group), "\nimgbatch:x:10001:\n") {
		t.Errorf("no group imgbatch 10001 in /etc/group")
	}
	if err := writableByImageUser(b.rootfs); err != nil {
		t.Error(err)
	}
}

// writableByImageUser finds files of the image's programs that uid 10001 could change.
func writableByImageUser(root string) error {
	for _, dir := range []string{"usr", "opt", "etc"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink != 0 {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Mode().Perm()&0o002 != 0 {
				return errors.New(p + " is world-writable")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
