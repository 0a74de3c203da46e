package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// sizeReport is the image's size and what makes it up. Bytes are file contents (what du
// --apparent-size counts), the tar as an engine imports it, and that tar gzipped at the
// default level (what a registry stores and a Batch host pulls).
type sizeReport struct {
	RootfsBytes int64 `json:"rootfsBytes"`
	TarBytes    int64 `json:"tarBytes"`
	GzipBytes   int64 `json:"gzipBytes"`
	BaseBytes   int64 `json:"baseBytes"`  // the debootstrapped bookworm (stand-in for debian:bookworm-slim)
	LayerBytes  int64 `json:"layerBytes"` // what the runtime layer adds or changes
	// The layer by what it holds.
	BinaryBytes   int64        `json:"binaryBytes"`
	LibvipsBytes  int64        `json:"libvipsBytes"`
	PackagesBytes int64        `json:"packagesBytes"` // files of the Debian packages the layer adds
	Largest       []fileSize   `json:"largest"`       // the layer's largest files
	Packages      []packageAdd `json:"packages"`      // Debian packages the layer adds
}

type fileSize struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

type packageAdd struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	KiB     int64  `json:"installedKiB"`
}

func measure(rootfs, tarPath, basePath string) (*sizeReport, error) {
	files, err := walkSizes(rootfs)
	if err != nil {
		return nil, err
	}
	base, baseStatus, err := tarSizes(basePath)
	if err != nil {
		return nil, err
	}
	r := &sizeReport{}
	var layer []fileSize
	for p, n := range files {
		r.RootfsBytes += n
		if b, ok := base[p]; !ok || b != n {
			layer = append(layer, fileSize{"/" + p, n})
			r.LayerBytes += n
		}
	}
	for _, n := range base {
		r.BaseBytes += n
	}
	sort.Slice(layer, func(i, j int) bool { return layer[i].Bytes > layer[j].Bytes })
	for _, f := range layer {
		switch {
		case f.Path == "/"+binPath:
			r.BinaryBytes += f.Bytes
		case strings.HasPrefix(f.Path, "/opt/libvips/"):
			r.LibvipsBytes += f.Bytes
		case strings.HasPrefix(f.Path, "/usr/") && !strings.HasPrefix(f.Path, "/usr/local/"):
			r.PackagesBytes += f.Bytes
		}
	}
	r.Largest = layer[:min(len(layer), 12)]
	if r.Packages, err = addedPackages(rootfs, baseStatus); err != nil {
		return nil, err
	}
	if r.TarBytes, r.GzipBytes, err = tarAndGzipSize(tarPath); err != nil {
		return nil, err
	}
	return r, nil
}

// walkSizes maps each regular file under root (slash path relative to it) to its size.
func walkSizes(root string) (map[string]int64, error) {
	sizes := map[string]int64{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		sizes[filepath.ToSlash(rel)] = fi.Size()
		return nil
	})
	return sizes, err
}

// tarSizes maps each regular file of a tar to its size, and returns its dpkg status.
func tarSizes(path string) (map[string]int64, []debPackage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sizes := map[string]int64{}
	var status []debPackage
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return sizes, status, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeLink { // a hard link: the file it names, again
			if n, ok := sizes[strings.TrimPrefix(h.Linkname, "./")]; ok {
				sizes[name] = n
			}
			continue
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		sizes[name] = h.Size
		if name == dpkgStatus {
			if status, err = parseDpkgStatus(tr); err != nil {
				return nil, nil, err
			}
		}
	}
}

func addedPackages(rootfs string, base []debPackage) ([]packageAdd, error) {
	f, err := os.Open(filepath.Join(rootfs, dpkgStatus))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	now, err := parseDpkgStatus(f)
	if err != nil {
		return nil, err
	}
	had := map[string]bool{}
	for _, p := range base {
		had[p.Name] = true
	}
	var added []packageAdd
	for _, p := range now {
		if !had[p.Name] {
			added = append(added, packageAdd{p.Name, p.Version, p.InstalledKiB})
		}
	}
	sort.Slice(added, func(i, j int) bool { return added[i].KiB > added[j].KiB })
	return added, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func tarAndGzipSize(path string) (tarBytes, gzBytes int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	cw := &countWriter{}
	zw := gzip.NewWriter(cw)
	if tarBytes, err = io.Copy(zw, f); err != nil {
		return 0, 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, 0, err
	}
	return tarBytes, cw.n, nil
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func (r *sizeReport) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image: %s of files, %s as a tar, %s gzipped (what a registry stores)\n", mb(r.RootfsBytes), mb(r.TarBytes), mb(r.GzipBytes))
	fmt.Fprintf(&b, "base (debootstrap bookworm minbase, slimmed like debian:bookworm-slim): %s\n", mb(r.BaseBytes))
	fmt.Fprintf(&b, "runtime layer: %s = imgbatch binary %s + libvips %s + Debian packages %s + other %s\n", mb(r.LayerBytes),
		mb(r.BinaryBytes), mb(r.LibvipsBytes), mb(r.PackagesBytes), mb(r.LayerBytes-r.BinaryBytes-r.LibvipsBytes-r.PackagesBytes))
	b.WriteString("packages the layer adds (installed size):\n")
	for _, p := range r.Packages {
		fmt.Fprintf(&b, "  %-28s %-24s %6d KiB\n", p.Name, p.Version, p.KiB)
	}
	b.WriteString("largest files of the layer:\n")
	for _, f := range r.Largest {
		fmt.Fprintf(&b, "  %10s  %s\n", mb(f.Bytes), f.Path)
	}
	return b.String()
}
