package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageSBOM: the SBOM beside the image names what runs in it: libvips as the npm package
// it comes from and every library that package bundles, the Debian packages with their
// versions (libheif1 and libde265-0 for the HEIC helper), the binary's Go modules; and it
// holds together (unique ids, relationships between packages it lists).
func TestImageSBOM(t *testing.T) {
	b := buildImage(t)
	data, err := os.ReadFile(filepath.Join(b.dir, "sbom.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			ID           string `json:"SPDXID"`
			Name         string `json:"name"`
			Version      string `json:"versionInfo"`
			License      string `json:"licenseDeclared"`
			ExternalRefs []struct {
				Locator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
		Relationships []struct {
			From string `json:"spdxElementId"`
			Type string `json:"relationshipType"`
			To   string `json:"relatedSpdxElement"`
		} `json:"relationships"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	ids, byName, purls := map[string]bool{"SPDXRef-DOCUMENT": true}, map[string]string{}, map[string]string{}
	for _, p := range doc.Packages {
		if ids[p.ID] {
			t.Errorf("SPDXID %s twice", p.ID)
		}
		ids[p.ID] = true
		byName[p.Name] = p.Version
		if len(p.ExternalRefs) > 0 {
			purls[p.Name] = p.ExternalRefs[0].Locator
		}
	}
	for _, r := range doc.Relationships {
		if !ids[r.From] || !ids[r.To] {
			t.Errorf("relationship %s %s %s names a package the SBOM does not list", r.From, r.Type, r.To)
		}
	}
	versions := map[string]string{}
	raw, err := os.ReadFile(filepath.Join(b.rootfs, "usr/share/doc/sharp-libvips/versions.json"))
	if err != nil || json.Unmarshal(raw, &versions) != nil || len(versions) < 10 {
		t.Fatalf("the image's libvips notices: %v (%d entries)", err, len(versions))
	}
	for name, v := range versions {
		if name == "vips" {
			name = "libvips"
		}
		if byName[name] != v {
			t.Errorf("SBOM: %s %q, the bundle says %q", name, byName[name], v)
		}
	}
	for name, want := range map[string]string{
		"libvips": "pkg:npm/%40img/sharp-libvips-linux-x64@1.3.5", "libheif1": "pkg:deb/debian/libheif1@",
		"libde265-0": "pkg:deb/debian/libde265-0@", "ca-certificates": "pkg:deb/debian/ca-certificates@",
		"github.com/aws/aws-sdk-go-v2/service/s3": "pkg:golang/github.com/aws/aws-sdk-go-v2/service/s3@v",
	} {
		if !strings.HasPrefix(purls[name], want) {
			t.Errorf("SBOM: %s has purl %q, want %s…", name, purls[name], want)
		}
	}
	if doc.SPDXVersion != "SPDX-2.3" || len(doc.Packages) < 100 {
		t.Errorf("SBOM: %s with %d packages", doc.SPDXVersion, len(doc.Packages))
	}
	t.Logf("SBOM: %d packages (%d bundled in libvips)", len(doc.Packages), len(versions)-1)
}

// TestImageSize reports the image's size and what dominates it (size.txt beside the image)
// and holds it to a budget: a layer that grows past it (a toolchain, a cache, a second
// libvips) fails here before it ships.
func TestImageSize(t *testing.T) {
	b := buildImage(t)
	var sz struct {
		RootfsBytes, GzipBytes, LayerBytes, BinaryBytes, LibvipsBytes int64
	}
	data, err := os.ReadFile(filepath.Join(b.dir, "size.json"))
	if err != nil || json.Unmarshal(data, &sz) != nil {
		t.Fatalf("size.json: %v", err)
	}
	text, _ := os.ReadFile(filepath.Join(b.dir, "size.txt"))
	t.Logf("built in %s; %s", b.took.Round(1e9), text)
	const mb = 1_000_000
	if sz.RootfsBytes > 230*mb || sz.GzipBytes > 80*mb || sz.LayerBytes > 130*mb {
		t.Errorf("image %d MB (%d MB gzipped, layer %d MB): over the budget of 230 / 80 / 130 MB", sz.RootfsBytes/mb, sz.GzipBytes/mb, sz.LayerBytes/mb)
	}
	if sz.BinaryBytes == 0 || sz.LibvipsBytes == 0 || sz.BinaryBytes+sz.LibvipsBytes > sz.LayerBytes {
		t.Errorf("size.json does not break the layer down: %+v", sz)
	}
}
