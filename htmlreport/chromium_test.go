package htmlreport

import (
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRendersInHeadlessChromium opens a report in headless Chromium
// (Debian's chromium, installed by `make test`), takes a screenshot and
// checks that the page really rendered: the expected size, not blank, and
// the green status badge and the throughput line are drawn.
func TestRendersInHeadlessChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if testing.Short() {
			t.Skip("chromium not installed (run scripts/install-deps.sh test); skipped in -short only")
		}
		t.Fatal("chromium is not installed: scripts/install-deps.sh test installs it")
	}
	dir := t.TempDir()
	var page bytes.Buffer
	if err := Render(&page, sampleData(t)); err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(dir, "report.html")
	if err := os.WriteFile(html, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report.png")
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1000,1400", "--screenshot="+shot, "file://"+html)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1000 || b.Dy() != 1400 {
		t.Fatalf("screenshot %dx%d, want 1000x1400", b.Dx(), b.Dy())
	}
	colors := map[uint32]int{}
	var green, blue int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			colors[r<<16|g<<8|bl]++
			if r < 0x50 && g > 0x90 && g < 0xc0 && bl > 0x50 && bl < 0x80 { // #38a169 badge / bars
				green++
			}
			if r < 0x50 && g > 0x50 && g < 0x80 && bl > 0x98 { // #2b6cb0 throughput line
				blue++
			}
		}
	}
	if len(colors) < 20 {
		t.Errorf("screenshot has %d colours: blank page?", len(colors))
	}
	if green < 20 || blue < 20 {
		t.Errorf("status badge/shard bars (%d green px) or throughput line (%d blue px) not drawn", green, blue)
	}
}
