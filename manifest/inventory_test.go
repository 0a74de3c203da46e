package manifest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

const invSchema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag"

// Two data files: a gzip one and a plain one with CRLF.
var (
	invData1 = strings.Join([]string{
		`"src","a%20b+c.jpg","v1","true","false","100","2024-01-01T00:00:00.000Z","e1"`,     // 1
		`"src","not-latest.jpg","v2","false","false","100","2024-01-01T00:00:00.000Z","e2"`, // 2
		`"src","dm.jpg","v3","true","true","","2024-01-01T00:00:00.000Z",""`,                // 3
		`"src","bad-size.jpg","v4","true","false","x","2024-01-01T00:00:00.000Z","e4"`,      // 4
		`"src","few","fields"`, // 5
		`"src","folder/","","true","false","0","2024-01-01T00:00:00.000Z","e"`,             // 6
		`"src","%E6%97%A5.png","v7","true","false","5000","2023-01-01T00:00:00.000Z","e7"`, // 7
		`"src","bad-date.jpg","v8","true","false","1","yesterday","e"`,                     // 8
	}, "\n") + "\n"
	invData2 = "\ufeff" + strings.Join([]string{
		`"src","x%2By.jpg","v8","true","false","7","2024-02-01T00:00:00Z","e8"`,           // 1
		`"src","bad%zz","v9","true","false","7","2024-02-01T00:00:00Z","e9"`,              // 2
		`"src","%2F..%2Fweird%25.jpg","","true","false","1","2024-02-01T00:00:00Z","e10"`, // 3
	}, "\r\n")
	invItems = []imgbatch.Item{
		{Bucket: "src", Key: "a b c.jpg", VersionID: "v1", Size: 100, ETag: "e1"},
		{Bucket: "src", Key: "日.png", VersionID: "v7", Size: 5000, ETag: "e7"},
		{Bucket: "src", Key: "x+y.jpg", VersionID: "v8", Size: 7, ETag: "e8"},
		{Bucket: "src", Key: "/../weird%.jpg", Size: 1, ETag: "e10"},
	}
	invBad = []badLine{
		{"f1.csv.gz", 4, "bad Size"},
		{"f1.csv.gz", 5, "3 fields, the fileSchema has 8"},
		{"f1.csv.gz", 8, "bad LastModifiedDate"},
		{"f2.csv", 2, "bad URL encoding"},
	}
)

type invFile struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	MD5  string `json:"MD5checksum"`
}

func invManifest(format, schema string, files map[string][]byte, order ...string) []byte {
	m := map[string]any{
		"sourceBucket":      "src",
		"destinationBucket": "arn:aws:s3:::dest",
		"version":           "2016-11-30",
		"creationTimestamp": "1514944800000",
		"fileFormat":        format,
		"fileSchema":        schema,
	}
	fs := []invFile{}
	for _, k := range order {
		sum := md5.Sum(files[k])
		fs = append(fs, invFile{Key: k, Size: int64(len(files[k])), MD5: hex.EncodeToString(sum[:])})
	}
	m["files"] = fs
	b, _ := json.MarshalIndent(m, "", "  ")
	return b
}

// writeInventory lays out an inventory as a synced destination bucket does.
func writeInventory(t *testing.T, root string, mutate func(files map[string][]byte)) string {
	k1 := "inv/src/cfg/data/f1.csv.gz"
	k2 := "inv/src/cfg/data/f2.csv"
	files := map[string][]byte{k1: gz(t, []byte(invData1)), k2: []byte(invData2)}
	man := invManifest("CSV", invSchema, files, k1, k2)
	if mutate != nil {
		mutate(files)
	}
	for k, b := range files {
		testutil.WriteFile(t, filepath.Join(root, filepath.FromSlash(k)), b)
	}
	return testutil.WriteFile(t, filepath.Join(root, "inv/src/cfg/2024-01-02T00-00Z/manifest.json"), man)
}

func TestInventoryLocal(t *testing.T) {
	path := writeInventory(t, t.TempDir(), nil)
	r := mustOpen(t, path, Options{})
	d := drain(t, r)
	checkItems(t, d.items, invItems)
	checkBad(t, d.bad, invBad)
	if st := StatsOf(r); st != (Stats{Lines: 11, Items: 4, BadLines: 4, Filtered: 3}) {
		t.Errorf("stats %+v", st)
	}

	// Filters use Size and LastModifiedDate.
	r = mustOpen(t, path, Options{Filter: Filter{ModifiedSince: time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC), MaxSize: 50}})
	d = drain(t, r)
	checkItems(t, d.items, invItems[2:])
}

func TestInventoryLocalLayouts(t *testing.T) {
	// Data files next to the manifest, or in ./data, by base name; and a
	// manifest that is not called manifest.json.
	dir := t.TempDir()
	files := map[string][]byte{"p/src/cfg/data/f1.csv.gz": gz(t, []byte(invData1)), "p/src/cfg/data/f2.csv": []byte(invData2)}
	testutil.WriteFile(t, filepath.Join(dir, "f1.csv.gz"), files["p/src/cfg/data/f1.csv.gz"])
	testutil.WriteFile(t, filepath.Join(dir, "data", "f2.csv"), files["p/src/cfg/data/f2.csv"])
	path := testutil.WriteFile(t, filepath.Join(dir, "inventory.json"), invManifest("CSV", invSchema, files, "p/src/cfg/data/f1.csv.gz", "p/src/cfg/data/f2.csv"))
	r, c, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkItems(t, drain(t, r).items, invItems)
}

func TestInventoryErrors(t *testing.T) {
	ctx := context.Background()
	open := func(path string) error {
		r, c, err := Open(ctx, path, Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		for {
			if _, err := r.Next(); err != nil && !IsLineError(err) {
				return err
			}
		}
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name     string
		manifest string
		want     string
	}{
		{"orc", string(invManifest("ORC", invSchema, nil)), "ORC is not supported yet"},
		{"parquet", string(invManifest("Parquet", invSchema, nil)), "Parquet is not supported yet"},
		{"no key column", string(invManifest("CSV", "Bucket, Size", nil)), "no Key column"},
		{"not json", "{nope", "not an S3 Inventory"},
		{"missing data file", string(invManifest("CSV", invSchema, map[string][]byte{"x/data/gone.csv.gz": nil}, "x/data/gone.csv.gz")), `"x/data/gone.csv.gz" not found`},
	} {
		p := testutil.WriteFile(t, filepath.Join(dir, c.name, "manifest.json"), []byte(c.manifest))
		if err := open(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}

	// A data file that does not match its MD5 (or size) is fatal.
	p := writeInventory(t, t.TempDir(), func(files map[string][]byte) {
		files["inv/src/cfg/data/f2.csv"] = []byte(strings.Replace(invData2, "v8", "v9", 1))
	})
	if err := open(p); err == nil || !strings.Contains(err.Error(), "MD5") {
		t.Errorf("tampered data file: %v", err)
	}
	p = writeInventory(t, t.TempDir(), func(files map[string][]byte) {
		files["inv/src/cfg/data/f2.csv"] = []byte(invData2 + "\n")
	})
	if err := open(p); err == nil || !strings.Contains(err.Error(), "bytes, the manifest says") {
		t.Errorf("longer data file: %v", err)
	}
	// Corrupt gzip is fatal.
	p = writeInventory(t, t.TempDir(), func(files map[string][]byte) {
		b := files["inv/src/cfg/data/f1.csv.gz"]
		files["inv/src/cfg/data/f1.csv.gz"] = b[:len(b)/2]
	})
	if err := open(p); err == nil || IsLineError(err) {
		t.Errorf("truncated gzip: %v", err)
	}
}

func TestInventoryNoBucketColumn(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{"d/f.csv": []byte("\"a%20b.jpg\",\"12\"\n")}
	testutil.WriteFile(t, filepath.Join(dir, "d/f.csv"), files["d/f.csv"])
	p := testutil.WriteFile(t, filepath.Join(dir, "manifest.json"), invManifest("CSV", "Key, Size", files, "d/f.csv"))
	r, c, err := Open(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkItems(t, drain(t, r).items, []imgbatch.Item{{Bucket: "src", Key: "a b.jpg", Size: 12}})
}

func TestInventoryS3(t *testing.T) {
	client := fakeS3(t, "dest", "src")
	k1 := "inv/src/cfg/data/f1.csv.gz"
	k2 := "inv/src/cfg/data/f2.csv"
	files := map[string][]byte{k1: gz(t, []byte(invData1)), k2: []byte(invData2)}
	s3test.Put(t, client, "dest", k1, files[k1])
	s3test.Put(t, client, "dest", k2, files[k2])
	s3test.Put(t, client, "dest", "inv/src/cfg/2024-01-02T00-00Z/manifest.json", invManifest("CSV", invSchema, files, k1, k2))

	r := mustOpen(t, "s3://dest/inv/src/cfg/2024-01-02T00-00Z/manifest.json", Options{S3: client})
	d := drain(t, r)
	checkItems(t, d.items, invItems)
	checkBad(t, d.bad, invBad)
	if len(d.bad) > 0 && d.bad[0].Source != "s3://dest/"+k1 {
		t.Errorf("source %q", d.bad[0].Source)
	}
}
