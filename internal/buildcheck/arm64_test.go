package buildcheck

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// arm64Sysroot is where Debian's cross packages (libc6-arm64-cross,
// libstdc++6-arm64-cross) put the arm64 glibc and libstdc++; qemu-user
// takes it as -L, so the binary's /lib/ld-linux-aarch64.so.1 is found there.
const arm64Sysroot = "/usr/aarch64-linux-gnu"

// TestArm64BuildRunsUnderEmulation is the Graviton path without Graviton:
// scripts/build.sh cross-builds cmd/imgbatch for linux/arm64 with Debian's
// aarch64-linux-gnu-gcc against npm's arm64 libvips, and the binary, run
// under qemu-user (explicitly: containers have no binfmt_misc), says it runs
// libvips 8.18.8 on linux/arm64 and renders a JPEG through the production
// guard and vips.Thumbnail (the hidden `bench child`, process mode), whose
// output decodes on the host at the right size with the right picture;
// then it plans and works a one-image run against the embedded S3 as an
// array child would (arm64_work_test.go).
// Go's build cache keys the cross build on GOARCH, CC and CGO_*: after the
// first run (minutes) it relinks in seconds.
func TestArm64BuildRunsUnderEmulation(t *testing.T) {
	testutil.Long(t, "short mode: a cross build of cmd/imgbatch for arm64")
	qemu := needArm64Tools(t)
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	prefix := installArm64Libvips(t, root)
	bin := filepath.Join(t.TempDir(), "imgbatch-arm64")
	build := func(extra ...string) *exec.Cmd {
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "build.sh"))
		cmd.Dir = root
		cmd.Env = append(without(os.Environ(), "CGO_CFLAGS", "CGO_LDFLAGS", "CGO_CPPFLAGS", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "CC", "GOOS", "GOARCH"),
			append([]string{"GOARCH=arm64", "LIBVIPS_PREFIX=" + prefix, "OUT=" + bin, "VERSION=arm64test"}, extra...)...)
		return cmd
	}
	// A host compiler left in CC is refused before Go compiles anything.
	if b, err := build("CC=gcc").CombinedOutput(); err == nil || !bytes.Contains(b, []byte("not aarch64-linux-gnu")) {
		t.Errorf("GOARCH=arm64 CC=gcc scripts/build.sh: err %v, want a refusal naming the target:\n%s", err, b)
	}
	start := time.Now()
	if b, err := build().CombinedOutput(); err != nil {
		t.Fatalf("GOARCH=arm64 scripts/build.sh: %v\n%s", err, b)
	}
	t.Logf("cross build (scripts/build.sh, version check under qemu included): %v", time.Since(start).Round(time.Millisecond))

	version := pinnedVersion(t, root)
	so := "libvips-cpp.so." + version
	checkArm64ELF(t, bin, so, prefix)
	emu := func(args ...string) *exec.Cmd {
		c := exec.Command(qemu, append([]string{"-L", arm64Sysroot, bin}, args...)...)
		c.Env = without(os.Environ(), "LD_LIBRARY_PATH", "QEMU_LD_PREFIX")
		return c
	}

	start = time.Now()
	b, err := emu("version", "--json").Output()
	if err != nil {
		t.Fatalf("qemu imgbatch-arm64 version --json: %v", err)
	}
	t.Logf("imgbatch version under qemu: %v", time.Since(start).Round(time.Millisecond))
	var v struct{ Imgbatch, Platform, Libvips, LibvipsPath string }
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("version --json: %v: %s", err, b)
	}
	if v.Platform != "linux/arm64" || v.Imgbatch != "arm64test" || v.Libvips != version ||
		v.LibvipsPath != filepath.Join(prefix, "lib", so) {
		t.Errorf("version --json under qemu = %+v, want linux/arm64, arm64test, libvips %s from %s", v, version, filepath.Join(prefix, "lib", so))
	}

	renderUnderEmulation(t, emu)
	workUnderEmulation(t, emu)
}

// needArm64Tools finds the cross compiler, qemu-user and the arm64 sysroot
// (scripts/install-deps.sh test installs them): under make test a missing
// one fails, elsewhere the test skips saying which.
func needArm64Tools(t *testing.T) string {
	t.Helper()
	_, err := exec.LookPath("aarch64-linux-gnu-gcc")
	testutil.Need(t, "aarch64-linux-gnu-gcc (apt: gcc-aarch64-linux-gnu libc6-dev-arm64-cross)", err)
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		qemu, err = exec.LookPath("qemu-aarch64") // qemu-user: the same emulator, dynamically linked
	}
	testutil.Need(t, "qemu-aarch64-static (apt: qemu-user-static)", err)
	for _, f := range []string{"lib/ld-linux-aarch64.so.1", "lib/libstdc++.so.6"} {
		_, err := os.Stat(filepath.Join(arm64Sysroot, f))
		testutil.Need(t, "the arm64 sysroot's "+f+" (apt: libc6-arm64-cross libstdc++6-arm64-cross)", err)
	}
	return qemu
}

// installArm64Libvips installs npm's arm64 libvips, pinned like the host's
// (scripts/libvips-npm.sh; a no-op when present), into LIBVIPS_ARM64_PREFIX,
// by default the prefix scripts/build.sh picks for GOARCH=arm64.
func installArm64Libvips(t *testing.T, root string) string {
	t.Helper()
	prefix := os.Getenv("LIBVIPS_ARM64_PREFIX")
	if prefix == "" {
		prefix = filepath.Join(root, ".cache", "libvips", pinnedVersion(t, root)+"-linux-arm64")
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "libvips-npm.sh"), prefix)
	cmd.Env = append(os.Environ(), "LIBVIPS_ARCH=linux-arm64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("LIBVIPS_ARCH=linux-arm64 scripts/libvips-npm.sh %s: %v\n%s", prefix, err, b)
	}
	// glibconfig.h is per architecture: on x86-64 a va_list is an array
	// (G_VA_COPY_AS_ARRAY), on aarch64 not. The arm64 package's must be the
	// one cgo compiles with.
	h, err := os.ReadFile(filepath.Join(prefix, "lib", "glib-2.0", "include", "glibconfig.h"))
	if err != nil || bytes.Contains(h, []byte("G_VA_COPY_AS_ARRAY")) || !bytes.Contains(h, []byte("GLIB_SIZEOF_VOID_P 8")) {
		t.Fatalf("%s/lib/glib-2.0/include/glibconfig.h is not aarch64's (err %v)", prefix, err)
	}
	return prefix
}

func pinnedVersion(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(root, "scripts", "libvips-npm.sh"), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// checkArm64ELF: an AArch64 executable that needs exactly the pinned
// libvips and finds it through a RUNPATH to the arm64 prefix.
func checkArm64ELF(t *testing.T, bin, so, prefix string) {
	t.Helper()
	h, err := exec.Command("readelf", "-h", bin).Output()
	if err != nil {
		t.Fatalf("readelf -h: %v", err)
	}
	if !bytes.Contains(h, []byte("AArch64")) {
		t.Errorf("%s is not an AArch64 executable:\n%s", bin, h)
	}
	needed, runpath := dynamic(t, bin)
	if !contains(needed, so) {
		t.Errorf("NEEDED %v, want %s", needed, so)
	}
	if !contains(strings.Split(runpath, ":"), filepath.Join(prefix, "lib")) {
		t.Errorf("RUNPATH %q, want %s/lib", runpath, prefix)
	}
}

// renderUnderEmulation makes a 256×256-fit JPEG thumbnail of a 1024×768
// gradient (red rising to the right, green downwards) with the arm64
// binary and checks it on the host: 256×192, red low on the left and high
// on the right, green low at the top and high at the bottom.
func renderUnderEmulation(t *testing.T, emu func(...string) *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	src := testutil.WriteFile(t, filepath.Join(dir, "in.jpg"), testutil.JPEG(t, testutil.Photo(1024, 768, 0), 90))
	spec, _ := json.Marshal(map[string]any{
		"mode": "process", "pool": 1, "maxPixels": 100_000_000,
		"variant": map[string]any{"name": "thumb", "width": 256, "height": 256, "format": "jpeg", "quality": 85},
		"files":   []string{src}, "outDir": filepath.Join(dir, "out"),
	})
	cmd := emu("bench", "child")
	cmd.Stdin = bytes.NewReader(spec)
	start := time.Now()
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("qemu imgbatch-arm64 bench child: %v\n%s", err, stderrOf(err))
	}
	t.Logf("one 1024x768 JPEG -> 256 px JPEG under qemu (process start included): %v", time.Since(start).Round(time.Millisecond))
	var res struct {
		Succeeded int
		Errors    map[string]int
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Succeeded != 1 {
		t.Fatalf("bench child under qemu: %+v (%v): %s", res, err, b)
	}
	f, err := os.Open(filepath.Join(dir, "out", "thumb", "000000.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("the arm64 output does not decode as JPEG: %v", err)
	}
	if got := img.Bounds().Size(); got != image.Pt(256, 192) {
		t.Fatalf("output %v, want 256x192", got)
	}
	checkGradient(t, img)
}

// checkGradient compares column and row means at the edges with the
// source's gradient (0 → 255): a wrong channel order, a flip or a blank
// image fails.
func checkGradient(t *testing.T, img image.Image) {
	t.Helper()
	b := img.Bounds()
	mean := func(r image.Rectangle, ch int) int {
		sum, n := 0, 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				c := [3]uint32{}
				c[0], c[1], c[2], _ = img.At(x, y).RGBA()
				sum += int(c[ch] >> 8)
				n++
			}
		}
		return sum / n
	}
	edges := []struct {
		name      string
		r         image.Rectangle
		ch        int
		low, high bool
	}{
		{"red, left", image.Rect(0, 0, 8, b.Dy()), 0, true, false},
		{"red, right", image.Rect(b.Dx()-8, 0, b.Dx(), b.Dy()), 0, false, true},
		{"green, top", image.Rect(0, 0, b.Dx(), 8), 1, true, false},
		{"green, bottom", image.Rect(0, b.Dy()-8, b.Dx(), b.Dy()), 1, false, true},
	}
	for _, e := range edges {
		m := mean(e.r, e.ch)
		if (e.low && m > 30) || (e.high && m < 225) {
			t.Errorf("%s: mean %d, want %s", e.name, m, map[bool]string{true: "≤ 30", false: "≥ 225"}[e.low])
		}
	}
}

func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}

// TestCrossBuildRefusesAnotherArchsLibvips: GOARCH=arm64 with the host's
// x86-64 libvips prefix stops before compiling, naming both architectures
// and the command that installs the right one (the link would fail later,
// less clearly).
func TestCrossBuildRefusesAnotherArchsLibvips(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	version := pinnedVersion(t, root)
	host := os.Getenv("LIBVIPS_PREFIX")
	if host == "" {
		host = filepath.Join(root, ".cache", "libvips", version)
	}
	if _, err := os.Stat(filepath.Join(host, "share", "doc", "sharp-libvips", "installed")); err != nil {
		t.Fatalf("the pinned libvips is not installed in %s (make libvips): %v", host, err)
	}
	other, want := "arm64", "want linux-arm64"
	if b, _ := os.ReadFile(filepath.Join(host, "share", "doc", "sharp-libvips", "installed")); bytes.Contains(b, []byte("linux-arm64@")) {
		other, want = "amd64", "want linux-x64"
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "build.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOARCH="+other, "LIBVIPS_PREFIX="+host, "OUT="+filepath.Join(t.TempDir(), "x"))
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "holds libvips for another architecture") || !strings.Contains(string(b), want) {
		t.Fatalf("GOARCH=%s with %s: err %v, output:\n%s\nwant a refusal naming the architectures", other, host, err, b)
	}
}
