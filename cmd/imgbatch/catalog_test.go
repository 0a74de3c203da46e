package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/catalog"
	"github.com/imgbatch/imgbatch/internal/testutil"
)

// TestLocalCatalog runs `imgbatch local` with the demo's recipe (the
// default variants and every placeholder) and reads the run's Parquet
// catalog back with a generic Parquet reader: one row per item, the
// source's facts and placeholders for the decoded ones, the error code for
// the failed one.
func TestLocalCatalog(t *testing.T) {
	testutil.Long(t, "end-to-end run")
	data, dir := t.TempDir(), t.TempDir()
	put := func(key string, b []byte) { testutil.WriteFile(t, filepath.Join(data, filepath.FromSlash(key)), b) }
	put("photos/a.jpg", testutil.PhotoFile(t, 800, 600, false))
	put("photos/b.jpg", testutil.PhotoFile(t, 640, 480, false))
	put("print/cmyk.jpg", testutil.BadImage(t, "jpeg-cmyk-pil-sample.jpg"))
	put("print/rot6.jpg", testutil.BadImage(t, "jpeg-exif-orientation-6.jpg"))
	put("icons/alpha.png", testutil.BadImage(t, "png-gray-alpha-8bit.png"))
	put("broken/empty.jpg", nil)
	put("broken/random-bytes.jpg", testutil.BadImage(t, "random-bytes.jpg"))
	t.Setenv("IMGBATCH_BE_MAIN", "1")
	args := []string{"imgbatch", "--log-level", "warn", "local", "--dir", dir, "--images", data, "--width", "2", "--shard-size", "3",
		"--recipe", filepath.Join("..", "..", "scripts", "demo-recipe.yaml"), "--timeout", "5m"}
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("imgbatch local exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "catalog ") || !strings.Contains(out.String(), "Parquet") {
		t.Errorf("the summary does not say where the catalog is:\n%s", out.String())
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "s3", "buckets", "work", filepath.FromSlash(imgbatch.Layout{RunID: "*"}.CatalogPart(0))))
	if len(parts) != 1 {
		t.Fatalf("want one catalog part, found %v", parts)
	}
	checkRunCompletedURIs(t, dir, parts[0])
	rows := readCatalog(t, parts[0])
	if len(rows) != 7 {
		t.Fatalf("catalog has %d rows, want one per item (7)", len(rows))
	}
	byKey := map[string]map[string]any{}
	for _, r := range rows {
		k, _ := r["key"].(string)
		if byKey[k] != nil {
			t.Errorf("%s has two rows", k)
		}
		byKey[k] = r
	}
	t.Logf("print/cmyk.jpg: %v", byKey["print/cmyk.jpg"])
	for key, want := range map[string]map[string]any{
		"photos/a.jpg":            {"status": "succeeded", "format": "jpeg", "width": int32(800), "height": int32(600), "space": "srgb", "icc": false, "alpha": false, "frames": int32(1)},
		"print/cmyk.jpg":          {"status": "succeeded", "format": "jpeg", "space": "cmyk"},
		"print/rot6.jpg":          {"status": "succeeded", "orientation": int32(6), "icc": true, "width": int32(308), "height": int32(231)},
		"icons/alpha.png":         {"status": "succeeded", "format": "png", "alpha": true, "space": "b-w"},
		"broken/empty.jpg":        {"status": "failed", "error_code": "EmptySource", "format": nil, "space": nil, "phash": nil},
		"broken/random-bytes.jpg": {"status": "failed", "error_code": "UnsupportedFormat", "format": nil},
	} {
		r := byKey[key]
		if r == nil {
			t.Errorf("%s: no row", key)
			continue
		}
		for col, v := range want {
			if r[col] != v {
				t.Errorf("%s: %s = %#v, want %#v", key, col, r[col], v)
			}
		}
		if want["status"] != "succeeded" {
			continue
		}
		for _, col := range []string{"blurhash", "thumbhash", "color", "phash"} {
			if s, _ := r[col].(string); s == "" {
				t.Errorf("%s: no %s", key, col)
			}
		}
		outs, _ := r["outputs"].([]any)
		if len(outs) != 2 {
			t.Errorf("%s: outputs %#v, want thumb and web", key, r["outputs"])
			continue
		}
		for _, o := range outs {
			m, _ := o.(map[string]any)
			if k, _ := m["key"].(string); m["format"] != "jpeg" || m["bytes"] == int64(0) || k == "" || m["q"] == nil {
				t.Errorf("%s: output %#v", key, m)
			}
		}
	}
}

// readCatalog reads a catalog part with catalog.Read: parquet-go's generic
// reader into maps, not the writer's row struct.
func readCatalog(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := catalog.Read(f, st.Size())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// checkRunCompletedURIs: the run's "Run Completed" event names the catalog's
// prefix and picture.jsonl, and both are where it says (part is the
// catalog's first part on the embedded S3's disk).
func checkRunCompletedURIs(t *testing.T, dir, part string) {
	t.Helper()
	var d struct {
		CatalogURI string `json:"catalogUri"`
		PictureURI string `json:"pictureUri"`
	}
	n := 0
	for _, e := range readEvents(t, filepath.Join(dir, "events.jsonl")) {
		if e.DetailType == "Run Completed" {
			n++
			if err := json.Unmarshal(e.Detail, &d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d Run Completed events, want 1", n)
	}
	onDisk := func(uri string) string {
		rest, ok := strings.CutPrefix(uri, "s3://work/")
		if !ok {
			t.Fatalf("URI %q is not in the work bucket", uri)
		}
		return filepath.Join(dir, "s3", "buckets", "work", filepath.FromSlash(rest))
	}
	if got := onDisk(d.CatalogURI + "part-0000.parquet"); got != part {
		t.Errorf("catalogUri %q: its first part would be %s, the run wrote %s", d.CatalogURI, got, part)
	}
	if _, err := os.Stat(onDisk(d.PictureURI)); err != nil || !strings.HasSuffix(d.PictureURI, "/picture.jsonl") {
		t.Errorf("pictureUri %q: %v", d.PictureURI, err)
	}
}
