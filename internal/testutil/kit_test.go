package testutil

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"image/png"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
}

func TestPhotos(t *testing.T) {
	j := PhotoFile(t, 64, 48, false)
	if c, err := jpeg.DecodeConfig(bytes.NewReader(j)); err != nil || c.Width != 64 || c.Height != 48 {
		t.Errorf("JPEG: %+v %v", c, err)
	}
	p := PhotoFile(t, 64, 48, true)
	if c, err := png.DecodeConfig(bytes.NewReader(p)); err != nil || c.Width != 64 || c.Height != 48 {
		t.Errorf("PNG: %+v %v", c, err)
	}
	if bytes.Equal(Photo(32, 32, 1).Pix, Photo(32, 32, 2).Pix) {
		t.Error("two seeds draw the same picture")
	}
}

func TestBadImages(t *testing.T) {
	rows := BadImageRows(t)
	if len(rows) < 10 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		if r["expectation"] == "" {
			t.Errorf("%s: no expectation", r["file"])
		}
	}
	if len(BadImage(t, rows[0]["file"])) == 0 {
		t.Errorf("%s is empty", rows[0]["file"])
	}
}

func TestFiles(t *testing.T) {
	p := WriteFile(t, filepath.Join(t.TempDir(), "a", "b", "r.csv"), []byte("x,y\n1,\"2\"\n"))
	if rows := ReadCSV(t, p); fmt.Sprint(rows) != "[[x y] [1 2]]" {
		t.Errorf("rows %q", rows)
	}
	if p := WriteTemp(t, "k.txt", "a"); filepath.Base(p) != "k.txt" {
		t.Errorf("path %s", p)
	}
}
