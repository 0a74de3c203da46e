package main

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchCommand runs `imgbatch bench` on a few generated photos in
// process mode against vipsthumbnail (the children are this test binary
// acting as imgbatch) and checks the printed table and the files written.
func TestBenchCommand(t *testing.T) {
	images := t.TempDir()
	for i, size := range [][2]int{{1000, 750}, {750, 1000}, {640, 480}} {
		img := image.NewRGBA(image.Rect(0, 0, size[0], size[1]))
		for y := 0; y < size[1]; y++ {
			for x := 0; x < size[0]; x++ {
				img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y + i*40), 255})
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(images, string(rune('a'+i))+".jpg"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	results := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"imgbatch", "bench", "--dataset", images, "--mode", "process", "--compare", "vipsthumbnail", "--vipsthumbnail", testVipsthumbnail(t),
		"--pool", "1,2", "--variant", "t:256x256:jpeg:75", "--recipe", "single,default", "--quality", "2",
		"--results-dir", results, "--name", "cli", "--cache-dir", t.TempDir()}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"| case | pool | img/s | CPU ms/img | img/CPU-s |", "\n| process | 1 | ", "\n| process | 2 | ", "\n| vipsthumbnail | 2 | ",
		"\n| default: process | 2 | ", "\n| default: vipsthumbnail | 1 | ", "recipe single: t: fit inside 256x256 jpeg q75", "recipe default: thumb: fit inside 256x256 jpeg q80; web: fit inside 1280x1280 jpeg q82",
		"\n| default: process | web | 2 | ", "\n| vipsthumbnail | t | 2 | "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "[8/8]") || !strings.Contains(stderr.String(), "quality: 2 images per case") {
		t.Errorf("no progress lines on stderr:\n%s", stderr.String())
	}
	for _, f := range []string{"results.md", "results.csv", "quality.csv", "results.json", "chart.svg"} {
		if fi, err := os.Stat(filepath.Join(results, "cli", f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// testVipsthumbnail is a vipsthumbnail built on the npm libvips: the one in
// PATH, else the repository's .cache/libvips-npm/bin (scripts/vipsthumbnail-npm.sh).
func testVipsthumbnail(t *testing.T) string {
	if p, err := exec.LookPath("vipsthumbnail"); err == nil {
		return p
	}
	for _, d := range []string{os.Getenv("LIBVIPS_PREFIX"), filepath.Join("..", "..", ".cache", "libvips-npm")} {
		if p := filepath.Join(d, "bin", "vipsthumbnail"); d != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Fatal("no vipsthumbnail built on the npm libvips: run scripts/vipsthumbnail-npm.sh .cache/libvips-npm (or put one in PATH)")
	return ""
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--pool", "0"},
		{"--lever", "turbo"},
		{"--variant", "nonsense"},
		{"extra-argument"},
		{"--recipe", "no-such-recipe"},
		{"--sharp", "turbo"},
		{"--quality", "-3"},
		{"--compare", "vips-resize"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"imgbatch", "bench", "--results-dir", ""}, args...), &stdout, &stderr)
		if code != exitUsage {
			t.Errorf("bench %v: exit %d, want %d (usage); stderr: %s", args, code, exitUsage, stderr.String())
		}
	}
}
