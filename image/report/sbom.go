package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Where the runtime layer puts what the SBOM describes (scripts/runtime-layer.sh).
const (
	binPath     = "usr/local/bin/imgbatch"
	noticesPath = "usr/share/doc/sharp-libvips"
	dpkgStatus  = "var/lib/dpkg/status"
)

// SPDX 2.3, the fields this SBOM uses.
type spdxDoc struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      spdxCreation   `json:"creationInfo"`
	Packages          []spdxPackage  `json:"packages"`
	Relationships     []spdxRelation `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID           string    `json:"SPDXID"`
	Name             string    `json:"name"`
	VersionInfo      string    `json:"versionInfo,omitempty"`
	Supplier         string    `json:"supplier,omitempty"`
	DownloadLocation string    `json:"downloadLocation"`
	FilesAnalyzed    bool      `json:"filesAnalyzed"`
	LicenseConcluded string    `json:"licenseConcluded"`
	LicenseDeclared  string    `json:"licenseDeclared"`
	CopyrightText    string    `json:"copyrightText"`
	Comment          string    `json:"comment,omitempty"`
	ExternalRefs     []spdxRef `json:"externalRefs,omitempty"`
}

type spdxRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelation struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

var spdxIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func spdxID(kind, name string) string {
	return "SPDXRef-" + kind + "-" + spdxIDUnsafe.ReplaceAllString(name, "-")
}

func newPackage(id, name, version, purl string) spdxPackage {
	p := spdxPackage{SPDXID: id, Name: name, VersionInfo: version, DownloadLocation: "NOASSERTION",
		LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION"}
	if purl != "" {
		p.ExternalRefs = []spdxRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: purl}}
	}
	return p
}

// buildSBOM describes the image at rootfs: the image contains the Debian packages, the
// imgbatch binary (which contains its Go modules) and libvips (which contains what the npm
// bundle lists in versions.json).
func buildSBOM(rootfs, version string) (*spdxDoc, error) {
	sum, err := fileSHA256(filepath.Join(rootfs, binPath))
	if err != nil {
		return nil, err
	}
	doc := &spdxDoc{SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              "imgbatch-image-" + version,
		DocumentNamespace: "https://github.com/imgbatch/imgbatch/spdx/image/" + version + "/" + sum[:16],
		CreationInfo:      spdxCreation{Created: time.Now().UTC().Format(time.RFC3339), Creators: []string{"Tool: imgbatch-image-report"}}}
	image := newPackage("SPDXRef-image", "imgbatch-image", version, "")
	image.Comment = "the runtime image (scripts/runtime-layer.sh on Debian 12 bookworm)"
	doc.Packages = append(doc.Packages, image)
	doc.Relationships = append(doc.Relationships, spdxRelation{"SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-image"})
	for _, add := range []func(*spdxDoc, string, string) error{addDebian, addLibvips, addBinary} {
		if err := add(doc, rootfs, version); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

func (d *spdxDoc) contains(parent string, p spdxPackage) {
	d.Packages = append(d.Packages, p)
	d.Relationships = append(d.Relationships, spdxRelation{parent, "CONTAINS", p.SPDXID})
}

func addDebian(doc *spdxDoc, rootfs, _ string) error {
	f, err := os.Open(filepath.Join(rootfs, dpkgStatus))
	if err != nil {
		return err
	}
	defer f.Close()
	pkgs, err := parseDpkgStatus(f)
	if err != nil {
		return fmt.Errorf("%s: %w", dpkgStatus, err)
	}
	for _, p := range pkgs {
		purl := fmt.Sprintf("pkg:deb/debian/%s@%s?arch=%s&distro=debian-12", p.Name, url.PathEscape(p.Version), p.Arch)
		sp := newPackage(spdxID("deb", p.Name), p.Name, p.Version, purl)
		sp.Supplier = "Organization: Debian"
		if p.Source != "" {
			sp.Comment = "source package " + p.Source
		}
		doc.contains("SPDXRef-image", sp)
	}
	return nil
}

// addLibvips reads the notices the runtime layer copies from the npm package: package.json
// (name, version, licence) and versions.json (libvips and every library it bundles).
func addLibvips(doc *spdxDoc, rootfs, _ string) error {
	var pkg struct{ Name, Version, License string }
	var versions map[string]string
	if err := readJSON(filepath.Join(rootfs, noticesPath, "package.json"), &pkg); err != nil {
		return err
	}
	if err := readJSON(filepath.Join(rootfs, noticesPath, "versions.json"), &versions); err != nil {
		return err
	}
	if versions["vips"] == "" || pkg.Name == "" {
		return fmt.Errorf("%s: no libvips version or npm package name", noticesPath)
	}
	purl := "pkg:npm/" + strings.Replace(pkg.Name, "@", "%40", 1) + "@" + pkg.Version // pkg:npm/%40img/name@v
	vips := newPackage("SPDXRef-libvips", "libvips", versions["vips"], purl)
	vips.DownloadLocation = fmt.Sprintf("https://registry.npmjs.org/%s/-/%s-%s.tgz", pkg.Name, pkg.Name[strings.LastIndex(pkg.Name, "/")+1:], pkg.Version)
	vips.LicenseDeclared = orNoAssertion(pkg.License)
	vips.Comment = fmt.Sprintf("%s@%s: one self-contained libvips-cpp.so.%s in /opt/libvips/lib", pkg.Name, pkg.Version, versions["vips"])
	doc.contains("SPDXRef-image", vips)
	names := make([]string, 0, len(versions))
	for n := range versions {
		if n != "vips" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		p := newPackage(spdxID("bundled", n), n, versions[n], "pkg:generic/"+url.PathEscape(n)+"@"+url.PathEscape(versions[n]))
		p.Comment = "statically linked into libvips-cpp.so by " + pkg.Name
		doc.contains("SPDXRef-libvips", p)
	}
	return nil
}

func addBinary(doc *spdxDoc, rootfs, version string) error {
	bi, err := buildinfo.ReadFile(filepath.Join(rootfs, binPath))
	if err != nil {
		return fmt.Errorf("%s: %w", binPath, err)
	}
	bin := newPackage("SPDXRef-imgbatch", "imgbatch", version, "pkg:golang/"+bi.Path)
	bin.Comment = "/" + binPath + ", built with " + bi.GoVersion
	doc.contains("SPDXRef-image", bin)
	for _, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		doc.contains("SPDXRef-imgbatch", newPackage(spdxID("go", m.Path), m.Path, m.Version, "pkg:golang/"+m.Path+"@"+m.Version))
	}
	return nil
}

func orNoAssertion(s string) string {
	if s == "" {
		return "NOASSERTION"
	}
	return s
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", sha256.Sum256(b)), nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
