// Command report writes the SBOM and the size report of a runtime image built by
// scripts/image-local.sh (it runs this with go run):
//
//	go run ./image/report -rootfs DIR -tar DIR.tar -base BASE.tar -out OUTDIR
//
// OUTDIR gets sbom.spdx.json (SPDX 2.3: the image's Debian packages, libvips with what its
// npm bundle holds, the binary's Go modules), size.json and size.txt (the image's size,
// compressed as a registry stores it, and what dominates it). It reads files only: the image's
// dpkg status, the libvips notices, the binary's build info; it runs nothing in the image.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	rootfs := flag.String("rootfs", "", "the image's filesystem")
	tarPath := flag.String("tar", "", "the image's filesystem as one tar (its size is measured)")
	base := flag.String("base", "", "the base image's tar (to tell the runtime layer from the base)")
	out := flag.String("out", "", "directory for sbom.spdx.json, size.json, size.txt")
	version := flag.String("version", os.Getenv("VERSION"), "the image's version")
	flag.Parse()
	if *rootfs == "" || *tarPath == "" || *base == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*rootfs, *tarPath, *base, *out, *version); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(rootfs, tarPath, base, out, version string) error {
	if version == "" {
		version = "dev"
	}
	doc, err := buildSBOM(rootfs, version)
	if err != nil {
		return fmt.Errorf("sbom: %w", err)
	}
	if err := writeJSON(filepath.Join(out, "sbom.spdx.json"), doc); err != nil {
		return err
	}
	sz, err := measure(rootfs, tarPath, base)
	if err != nil {
		return fmt.Errorf("size: %w", err)
	}
	if err := writeJSON(filepath.Join(out, "size.json"), sz); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "size.txt"), []byte(sz.text()), 0o644)
}
