package main

import (
	"strings"
	"testing"
)

func TestParseDpkgStatus(t *testing.T) {
	status := `Package: libheif1
Status: install ok installed
Architecture: amd64
Source: libheif (1.15.1-1+deb12u3)
Version: 1.15.1-1+deb12u3
Installed-Size: 697
Description: ISO/IEC 23008-12:2017 HEIF file format decoder - shared library
 libheif is an ISO/IEC 23008-12:2017 HEIF file format decoder.

Package: gone
Status: deinstall ok config-files
Version: 1

Package: ca-certificates
Status: install ok installed
Architecture: all
Version: 20250419~deb12u2
Installed-Size: 388
`
	pkgs, err := parseDpkgStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	want := []debPackage{
		{Name: "ca-certificates", Version: "20250419~deb12u2", Arch: "all", InstalledKiB: 388},
		{Name: "libheif1", Version: "1.15.1-1+deb12u3", Arch: "amd64", Source: "libheif", InstalledKiB: 697},
	}
	if len(pkgs) != len(want) {
		t.Fatalf("got %+v, want %+v", pkgs, want)
	}
	for i := range want {
		if pkgs[i] != want[i] {
			t.Errorf("package %d: %+v, want %+v", i, pkgs[i], want[i])
		}
	}
}
