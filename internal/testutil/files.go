package testutil

import (
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
