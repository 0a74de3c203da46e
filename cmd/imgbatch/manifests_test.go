package main

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// TestLocalRunsEveryManifestKind runs `imgbatch local` once per manifest
// kind — a plain key list, an S3 Batch Operations CSV (in the embedded S3),
// JSONL, an S3 Inventory manifest.json with gzip CSV data files (in the
// embedded S3) and a live s3://bucket/prefix/ listing — and checks the
// report rows each time: the manifest's items, each once, with their
// outcome.
func TestLocalRunsEveryManifestKind(t *testing.T) {
	testutil.Long(t, "five end-to-end runs with child processes")
	data := t.TempDir()
	// Images (uploaded by local into the source bucket, keys = paths).
	good := []string{"photos/a.jpg", "photos/b.png", "photos/sub dir/c+d é.jpg"}
	writeImage(t, data, good[0], 96, 64, false)
	writeImage(t, data, good[1], 40, 80, true)
	writeImage(t, data, good[2], 120, 90, false)
	const broken = "broken/empty.jpg"
	writeFileAt(t, data, broken, nil)

	// Manifests kept in S3: uploaded with the images, named explicitly.
	enc := url.QueryEscape
	writeFileAt(t, data, "manifests/ops.csv", []byte(
		"source,"+enc(good[0])+"\r\nsource,"+enc(good[2])+",\r\nsource,"+enc(broken)+"\r\n"))
	gz := gzipped(t, fmt.Sprintf("\"source\",%q,\"%d\",\"2026-11-22T00:00:00.000Z\",\"etag1\"\n\"source\",%q,\"%d\",\"2026-11-22T00:00:00.000Z\",\"etag2\"\n",
		enc(good[1]), fileSize(t, data, good[1]), enc(good[2]), fileSize(t, data, good[2])))
	writeFileAt(t, data, "inventory/data/part-0.csv.gz", gz)
	sum := md5.Sum(gz)
	writeFileAt(t, data, "inventory/source/photos-inv/2026-11-22T00-00Z/manifest.json", []byte(fmt.Sprintf(`{
  "sourceBucket": "source",
  "destinationBucket": "arn:aws:s3:::source",
  "version": "2016-11-30",
  "fileFormat": "CSV",
  "fileSchema": "Bucket, Key, Size, LastModifiedDate, ETag",
  "files": [{"key": "inventory/data/part-0.csv.gz", "size": %d, "MD5checksum": "%s"}]
}`, len(gz), hex.EncodeToString(sum[:]))))

	// Manifests kept locally.
	keys := writeTemp(t, "keys.txt", "# photos and a broken file\n"+good[0]+"\n"+good[1]+"\n"+good[0]+"\n"+broken+"\n")
	jsonl := writeTemp(t, "items.jsonl", fmt.Sprintf("{\"bucket\":\"source\",\"key\":%q}\n{\"key\":%q}\n{\"bucket\":\"source\",\"key\":%q}\n", good[2], good[1], broken))

	cases := []struct {
		kind, manifest string
		want           []string // keys in the report; broken fails, the rest succeed
	}{
		{"keys", keys, []string{good[0], good[1], broken}},
		{"S3 Batch Operations CSV", "s3://source/manifests/ops.csv", []string{good[0], good[2], broken}},
		{"JSONL", jsonl, []string{good[2], good[1], broken}},
		{"S3 Inventory", "s3://source/inventory/source/photos-inv/2026-11-22T00-00Z/manifest.json", []string{good[1], good[2]}},
		{"listing", "s3://source/photos/", good},
	}
	t.Setenv("IMGBATCH_BE_MAIN", "1")
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"imgbatch", "--log-level", "warn", "local", "--dir", dir, "--images", data, "--manifest", c.manifest,
				"--width", "2", "--shard-size", "2", "--variant", "thumb:32x32:jpeg:70", "--timeout", "3m"}
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			if code != 0 {
				t.Fatalf("imgbatch local --manifest %s exited %d\nstdout:\n%s\nstderr:\n%s", c.manifest, code, out.String(), errb.String())
			}
			reports, _ := filepath.Glob(filepath.Join(dir, "s3", "buckets", "work", "runs", "*", "report.csv"))
			if len(reports) != 1 {
				t.Fatalf("want one report.csv, found %v", reports)
			}
			rep := readReport(t, reports[0]) // also fails on a key reported twice
			var got []string
			for k := range rep {
				got = append(got, k)
			}
			sort.Strings(got)
			want := append([]string(nil), c.want...)
			sort.Strings(want)
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("report keys %q, want %q\n%s", got, want, out.String())
			}
			for _, k := range want {
				r := rep[k]
				if r[0] != "source" {
					t.Errorf("%s: bucket %q", k, r[0])
				}
				switch {
				case k == broken && (r[3] != "failed" || r[4] != "EmptySource"):
					t.Errorf("%s: %q, want failed with EmptySource", k, r)
				case k != broken && (r[3] != "succeeded" || r[5] != "200"):
					t.Errorf("%s: %q, want succeeded", k, r)
				}
			}
		})
	}
}

func writeImage(t *testing.T, root, key string, w, h int, asPNG bool) {
	t.Helper()
	writeFileAt(t, root, key, testutil.PhotoFile(t, w, h, asPNG))
}

func fileSize(t *testing.T, root, key string) int64 {
	t.Helper()
	st, err := os.Stat(filepath.Join(root, filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
