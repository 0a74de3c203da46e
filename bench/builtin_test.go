package bench

import (
	"context"
	"fmt"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// fakeWallpapers writes a small tree shaped like plasma-workspace-wallpapers'
// usr/share/wallpapers: two images of ≥ 4 MP (one a portrait PNG), a
// phone-sized one and twenty screenshots.
func fakeWallpapers(t *testing.T) string {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "Alpha", "contents", "images", "2400x1800.jpg"), photo(t, 2400, 1800, false))
	testutil.WriteFile(t, filepath.Join(dir, "Alpha", "contents", "images", "720x1440.jpg"), photo(t, 720, 1440, false))
	testutil.WriteFile(t, filepath.Join(dir, "Beta", "contents", "images", "1800x2400.png"), photo(t, 1800, 2400, true))
	for i := range 20 {
		testutil.WriteFile(t, filepath.Join(dir, fmt.Sprintf("Shot%02d", i), "contents", "screenshot.jpg"), photo(t, 120, 80, false))
	}
	return dir
}

// TestPrepareBuiltins makes the three built-in sets from a fake wallpapers
// tree and checks their shape, that they are cached, and that making them
// again gives the same bytes.
func TestPrepareBuiltins(t *testing.T) {
	testutil.Long(t, "short mode: preparing the built-in sets makes 14 images of 12 MP")
	ctx := context.Background()
	wp := fakeWallpapers(t)
	o := PrepareOptions{CacheDir: t.TempDir(), Wallpapers: wp, BadImages: filepath.Join("..", "testdata", "bad-images")}

	photos := mustPrepare(t, DatasetPhotos, o)
	if len(photos.Files) != 14 {
		t.Fatalf("photos: %d files, want 7 of each of 2 large wallpapers", len(photos.Files))
	}
	for _, f := range photos.Files {
		size := fmt.Sprintf("%dx%d", f.Width, f.Height)
		if f.Format != "jpeg" || (size != "4000x3000" && size != "3000x4000") {
			t.Errorf("photos: %s is %s %s, want a 12 MP JPEG", f.Rel, f.Format, size)
		}
		fh, err := os.Open(photos.Path(f))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(fh)
		fh.Close()
		if err != nil || cfg.ColorModel != color.YCbCrModel {
			t.Errorf("photos: %s is not a colour JPEG (%v)", f.Rel, err)
		}
	}
	if !strings.HasPrefix(photos.Files[0].Rel, "Alpha-images-2400x1800-1") {
		t.Errorf("photos: first file %s", photos.Files[0].Rel)
	}

	again, err := Prepare(ctx, DatasetPhotos, o)
	if err != nil || again.Digest() != photos.Digest() || again.Dir != photos.Dir {
		t.Errorf("second Prepare is not the cached set: %v", err)
	}
	o2 := o
	o2.CacheDir = t.TempDir()
	fresh := mustPrepare(t, DatasetPhotos, o2)
	if fresh.Digest() != photos.Digest() {
		t.Errorf("photos made twice differ: %s vs %s", fresh.Digest(), photos.Digest())
	}

	small := mustPrepare(t, DatasetSmall, o)
	if len(small.Files) != 14 {
		t.Errorf("small: %d files, want 14", len(small.Files))
	}
	for _, f := range small.Files {
		if max(f.Width, f.Height) != 800 {
			t.Errorf("small: %s is %dx%d, want 800 on the long side", f.Rel, f.Width, f.Height)
		}
	}

	mixed := mustPrepare(t, DatasetMixed, o)
	formats := map[string]int{}
	broken := 0
	for _, f := range mixed.Files {
		if f.Broken {
			broken++
			continue
		}
		formats[f.Format]++
	}
	// 4 renditions (jpeg+png, png+webp), 1 phone-sized, 7 of 20 screenshots, 10 broken.
	if broken != len(brokenForMixed) || formats["webp"] != 1 || formats["png"] != 2 || formats["jpeg"] != 1+1+7 {
		t.Errorf("mixed: %v and %d broken: %s", formats, broken, mixed.Summary())
	}
}

func TestPrepareRefusesUnknownNames(t *testing.T) {
	_, err := Prepare(context.Background(), "no-such-set", PrepareOptions{CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "photos, mixed, small") {
		t.Errorf("got %v", err)
	}
}

// mustPrepare prepares the built-in set name.
func mustPrepare(t *testing.T, name string, o PrepareOptions) *Dataset {
	t.Helper()
	ds, err := Prepare(context.Background(), name, o)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}
