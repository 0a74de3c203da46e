package testutil

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes data to path, making its directories, and returns path.
func WriteFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// WriteTemp writes body to a file called name in a fresh temporary
// directory and returns its path.
func WriteTemp(t testing.TB, name, body string) string {
	t.Helper()
	return WriteFile(t, filepath.Join(t.TempDir(), name), []byte(body))
}

// ReadCSV reads the CSV file at path whole.
func ReadCSV(t testing.TB, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}
