package testutil

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// RepoRoot is the repository's root directory (found from this file's
// path, so it does not depend on the test's working directory).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BadImagesEnv overrides the hostile-image corpus's directory.
const BadImagesEnv = "IMGBATCH_BAD_IMAGES"

// BadImagesDir is the hostile-image corpus (testdata/bad-images, or
// $IMGBATCH_BAD_IMAGES); t fails when it has no MANIFEST.tsv.
func BadImagesDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(BadImagesEnv)
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "testdata", "bad-images")
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		t.Fatalf("corpus not available: %v", err)
	}
	return dir
}

// BadImage reads one file of the corpus.
func BadImage(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(BadImagesDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BadImageRows reads the corpus's MANIFEST.tsv: one map per file, from
// column name (its header: file, sha256, bytes, origin, license,
// expectation, description, …) to value. Rows without a file are skipped.
func BadImageRows(t testing.TB) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(BadImagesDir(t), "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var header []string
	var rows []map[string]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if header == nil {
			header = fields
			continue
		}
		row := map[string]string{}
		for i, h := range header {
			if i < len(fields) {
				row[h] = fields[i]
			}
		}
		if row["file"] != "" {
			rows = append(rows, row)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}
