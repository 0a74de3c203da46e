package main

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
)

// debPackage is one installed package of a dpkg status file.
type debPackage struct {
	Name, Version, Arch, Source string
	InstalledKiB                int64
}

// parseDpkgStatus reads var/lib/dpkg/status: the packages whose status is
// "install ok installed", sorted by name.
func parseDpkgStatus(r io.Reader) ([]debPackage, error) {
	var pkgs []debPackage
	cur, status := debPackage{}, ""
	flush := func() {
		if cur.Name != "" && status == "install ok installed" {
			pkgs = append(pkgs, cur)
		}
		cur, status = debPackage{}, ""
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok || strings.HasPrefix(line, " ") {
			continue // a continuation line (Description, Conffiles)
		}
		switch k {
		case "Package":
			cur.Name = v
		case "Status":
			status = v
		case "Version":
			cur.Version = v
		case "Architecture":
			cur.Arch = v
		case "Source":
			cur.Source, _, _ = strings.Cut(v, " ")
		case "Installed-Size":
			cur.InstalledKiB, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	flush()
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
	return pkgs, sc.Err()
}
