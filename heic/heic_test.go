package heic

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// TestMain lets the test binary be the helper: Decoder.Command points at
// os.Executable() with "heif-decode" (RunHelper) or one of the stand-ins
// below that misbehave on purpose.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "heif-decode":
			os.Exit(RunHelper(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
		case "crash-helper": // as a fault in C code ends: Go's handler prints SIGSEGV and exits 2
			syscall.Kill(os.Getpid(), syscall.SIGSEGV)
			time.Sleep(time.Minute)
		case "abort-helper": // killed by a signal Go does not handle
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		case "sandbox-helper": // what the sandbox refuses, from inside it
			if err := sandbox(); err != nil {
				fmt.Println("sandbox:", err)
				os.Exit(1)
			}
			_, errOpen := os.Open("/etc/hostname")
			_, errSock := net.Dial("tcp", "127.0.0.1:9")
			errExec := exec.Command("/bin/true").Run()
			fmt.Printf("open=%v\nsocket=%v\nexec=%v\nenv=%q\n", errOpen, errSock, errExec, os.Getenv("AWS_SECRET_ACCESS_KEY"))
			os.Exit(0)
		case "hang-helper": // a decoder that never ends
			time.Sleep(time.Hour)
		case "spin-helper": // a decoder that burns CPU: RLIMIT_CPU must stop it
			_ = syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: 1, Max: 1})
			for {
			}
		case "flood-helper": // writes far more than any image
			b := make([]byte, 1<<20)
			for {
				if _, err := os.Stdout.Write(b); err != nil {
					os.Exit(1)
				}
			}
		}
	}
	os.Exit(m.Run())
}

func testDecoder(t *testing.T, helper string) *Decoder {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &Decoder{Command: []string{exe, helper}}
}

func needLibheif(t *testing.T) {
	t.Helper()
	_, err := testDecoder(t, "heif-decode").Probe(context.Background())
	testutil.Need(t, "an HEVC-capable libheif (libheif1, libde265-0)", err)
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "heic", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tiffImage is what the tests read back from the helper's TIFF.
type tiffImage struct {
	w, h, channels int
	icc            []byte
	pix            []byte
	tags           map[uint16]bool
}

func (im *tiffImage) at(x, y int) []byte {
	i := (y*im.w + x) * im.channels
	return im.pix[i : i+im.channels]
}

func readTIFF(t *testing.T, b []byte) *tiffImage {
	t.Helper()
	le := binary.LittleEndian
	if len(b) < 8 || string(b[:4]) != "II*\x00" {
		t.Fatalf("not a little-endian TIFF: % x", b[:min(8, len(b))])
	}
	ifd := int(le.Uint32(b[4:]))
	n := int(le.Uint16(b[ifd:]))
	im := &tiffImage{tags: map[uint16]bool{}}
	var stripOff, stripLen, iccOff, iccLen int
	for i := 0; i < n; i++ {
		e := b[ifd+2+12*i:]
		tag, typ, count := le.Uint16(e), le.Uint16(e[2:]), int(le.Uint32(e[4:]))
		v := int(le.Uint32(e[8:]))
		if typ == 3 && count == 1 {
			v = int(le.Uint16(e[8:]))
		}
		im.tags[tag] = true
		switch tag {
		case tagImageWidth:
			im.w = v
		case tagImageLength:
			im.h = v
		case tagSamplesPerPixel:
			im.channels = v
		case tagStripOffsets:
			stripOff = v
		case tagStripByteCounts:
			stripLen = v
		case tagICCProfile:
			iccOff, iccLen = v, count
		}
	}
	if stripLen != im.w*im.h*im.channels || stripOff+stripLen != len(b) {
		t.Fatalf("strip %d+%d in %d bytes for %dx%dx%d", stripOff, stripLen, len(b), im.w, im.h, im.channels)
	}
	im.pix = b[stripOff:]
	if iccLen > 0 {
		im.icc = b[iccOff : iccOff+iccLen]
	}
	return im
}

func isRed(p []byte) bool   { return p[0] > 200 && p[1] < 60 && p[2] < 60 }
func notRed(p []byte) bool  { return !(p[0] > 150 && p[1] < 100) }
func kindOf(err error) Kind { var e *Error; errors.As(err, &e); return e.Kind }

func TestDecode(t *testing.T) {
	needLibheif(t)
	d := testDecoder(t, "heif-decode")
	for _, c := range []struct {
		file           string
		w, h, channels int
		icc            bool
		redX, redY     int // a pixel inside the red corner, upright
		otherX, otherY int // the opposite corner: not red
	}{
		{"plain-64x48.heic", 64, 48, 3, false, 4, 4, 60, 44},
		{"alpha-48x32.heic", 48, 32, 4, false, 4, 4, 44, 28},
		// Stored 96x64 with the red corner top left, irot 90° clockwise: the
		// red corner is top right once upright. Applying its EXIF
		// orientation (6) again would put it bottom right.
		{"iphone-p3-rot90-64x96.heic", 64, 96, 3, true, 60, 4, 4, 92},
	} {
		t.Run(c.file, func(t *testing.T) {
			out, err := d.Decode(context.Background(), readTestdata(t, c.file), Limits{MaxPixels: 10_000})
			if err != nil {
				t.Fatal(err)
			}
			im := readTIFF(t, out)
			if im.w != c.w || im.h != c.h || im.channels != c.channels {
				t.Fatalf("decoded %dx%dx%d, want %dx%dx%d", im.w, im.h, im.channels, c.w, c.h, c.channels)
			}
			if p := im.at(c.redX, c.redY); !isRed(p) {
				t.Errorf("pixel (%d,%d) = %v, want the red corner", c.redX, c.redY, p)
			}
			if p := im.at(c.otherX, c.otherY); !notRed(p) {
				t.Errorf("pixel (%d,%d) = %v, want not red", c.otherX, c.otherY, p)
			}
			if c.icc != (len(im.icc) > 0) {
				t.Errorf("ICC profile %d bytes, want one: %v", len(im.icc), c.icc)
			}
			if c.icc && !bytes.Contains(im.icc, []byte("Display P3")) {
				t.Errorf("ICC profile is not the Display P3 one embedded")
			}
			if im.tags[274] {
				t.Error("TIFF has an orientation tag: the pixels are already upright")
			}
			if c.channels == 4 {
				if a := im.at(4, 4)[3]; a != 255 {
					t.Errorf("alpha left = %d, want 255", a)
				}
				if a := im.at(40, 4)[3]; a < 100 || a > 156 {
					t.Errorf("alpha right = %d, want ~128", a)
				}
			}
		})
	}
}

func TestDecodeTooManyPixelsBeforeDecoding(t *testing.T) {
	needLibheif(t)
	d := testDecoder(t, "heif-decode")
	// 64x96 = 6,144 pixels; a budget of 6,000 is refused from the header
	// (with a memory limit far too small to decode, which would fail
	// otherwise with KindMemory).
	_, err := d.Decode(context.Background(), readTestdata(t, "iphone-p3-rot90-64x96.heic"), Limits{MaxPixels: 6000, MaxMemory: 1})
	if kindOf(err) != KindTooManyPixels || !strings.Contains(err.Error(), "64x96") {
		t.Fatalf("err = %v, want too-many-pixels naming 64x96", err)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	needLibheif(t)
	d := testDecoder(t, "heif-decode")
	src := readTestdata(t, "plain-64x48.heic")
	garbled := bytes.Clone(src)
	for i := len(garbled) - 200; i < len(garbled); i++ { // the HEVC data at the end
		garbled[i] ^= 0x5a
	}
	for name, b := range map[string][]byte{
		"truncated":    src[:len(src)/2],
		"header only":  src[:40],
		"no meta":      []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"),
		"garbled hevc": garbled,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := d.Decode(context.Background(), b, Limits{MaxPixels: 10_000})
			if name == "garbled hevc" && err == nil {
				return // libde265 conceals some damage: decoding it is fine too
			}
			if k := kindOf(err); k != KindCorrupt {
				t.Fatalf("err = %v (kind %s), want corrupt", err, k)
			}
		})
	}
}

func TestDecodeMemoryLimit(t *testing.T) {
	needLibheif(t)
	d := testDecoder(t, "heif-decode")
	src := readTestdata(t, "grey-4096x4096.heic")
	// 16.8 MP decodes within the default limit (24 bytes per pixel)…
	out, err := d.Decode(context.Background(), src, Limits{MaxPixels: 20_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if im := readTIFF(t, out); im.w != 4096 || im.h != 4096 {
		t.Fatalf("decoded %dx%d", im.w, im.h)
	}
	// …but not in 48 MiB above the helper's own size: room for libde265's
	// threads, not for its YCbCr planes and the RGB image (~75 MiB). The
	// helper fails (libheif's allocation error, or an abort under the
	// limit), it does not take the caller down.
	_, err = d.Decode(context.Background(), src, Limits{MaxPixels: 20_000_000, MaxMemory: 48 << 20, WallTime: 20 * time.Second})
	if k := kindOf(err); k != KindMemory && k != KindCrashed {
		t.Fatalf("err = %v, want memory (or a crash under the limit)", err)
	}
	t.Logf("16.8 MP under a 48 MiB limit: %v", err)
}

func TestDecodeHelperFailures(t *testing.T) {
	src := []byte("\x00\x00\x00\x18ftypheic")
	t.Run("crash", func(t *testing.T) {
		_, err := testDecoder(t, "crash-helper").Decode(context.Background(), src, Limits{})
		if kindOf(err) != KindCrashed || !strings.Contains(err.Error(), "SIGSEGV") {
			t.Fatalf("err = %v, want crashed with SIGSEGV", err)
		}
	})
	t.Run("killed", func(t *testing.T) {
		_, err := testDecoder(t, "abort-helper").Decode(context.Background(), src, Limits{})
		if kindOf(err) != KindCrashed || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("err = %v, want crashed (killed)", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := testDecoder(t, "hang-helper").Decode(ctx, src, Limits{})
		if kindOf(err) != KindTimeout {
			t.Fatalf("err = %v, want timeout", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("took %s to stop a hung helper", took)
		}
	})
	t.Run("cpu limit", func(t *testing.T) {
		_, err := testDecoder(t, "spin-helper").Decode(context.Background(), src, Limits{CPUTime: time.Second})
		if kindOf(err) != KindTimeout {
			t.Fatalf("err = %v, want timeout (CPU limit)", err)
		}
	})
	t.Run("flood", func(t *testing.T) {
		start := time.Now()
		_, err := testDecoder(t, "flood-helper").Decode(context.Background(), src, Limits{MaxPixels: 1000})
		if kindOf(err) != KindInternal || !strings.Contains(err.Error(), "more than") {
			t.Fatalf("err = %v, want internal (output over its cap)", err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("took %s to stop a flooding helper", took)
		}
	})
	t.Run("missing binary", func(t *testing.T) {
		d := &Decoder{Command: []string{"/nonexistent/imgbatch", "heif-decode"}}
		if _, err := d.Decode(context.Background(), src, Limits{}); kindOf(err) != KindInternal {
			t.Fatalf("err = %v, want internal", err)
		}
	})
	t.Run("off", func(t *testing.T) {
		d := &Decoder{Off: true}
		_, err := d.Decode(context.Background(), src, Limits{})
		if kindOf(err) != KindUnsupported || !strings.Contains(err.Error(), "IMGBATCH_HEIC") {
			t.Fatalf("err = %v, want unsupported naming the switch", err)
		}
		var nilDec *Decoder
		if _, err := nilDec.Decode(context.Background(), src, Limits{}); kindOf(err) != KindUnsupported {
			t.Fatalf("nil decoder: err = %v, want unsupported", err)
		}
	})
}

// Without libheif (LD_LIBRARY_PATH cannot hide a system library, so the
// helper is pointed at a library name that does not exist).
func TestDecodeLibheifMissing(t *testing.T) {
	d := testDecoder(t, "heif-decode")
	d.Env = append(os.Environ(), "IMGBATCH_HEIC_LIBHEIF=libheif-missing.so.1")
	_, err := d.Decode(context.Background(), readTestdata(t, "plain-64x48.heic"), Limits{})
	if kindOf(err) != KindUnsupported || !strings.Contains(err.Error(), "libheif1") {
		t.Fatalf("err = %v, want unsupported naming libheif1", err)
	}
	if _, err := d.Probe(context.Background()); kindOf(err) != KindUnsupported {
		t.Fatalf("probe: err = %v, want unsupported", err)
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]bool{"": true, "on": true, "ON": true, "auto": true, "off": false, "0": false} {
		if got, err := ParseMode(s); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseMode("maybe"); err == nil {
		t.Error("ParseMode(maybe): no error")
	}
}

func TestTIFFHeaderSize(t *testing.T) {
	for _, icc := range [][]byte{nil, []byte("abc"), []byte("abcd")} {
		for _, ch := range []int{3, 4} {
			var b bytes.Buffer
			if err := writeTIFFHeader(&b, 3, 2, ch, icc); err != nil {
				t.Fatal(err)
			}
			b.Write(make([]byte, 3*2*ch))
			im := readTIFF(t, b.Bytes())
			if im.w != 3 || im.h != 2 || im.channels != ch || !bytes.Equal(im.icc, icc) {
				t.Errorf("read back %dx%dx%d icc %q", im.w, im.h, im.channels, im.icc)
			}
		}
	}
	if err := writeTIFFHeader(&bytes.Buffer{}, 70000, 70000, 4, nil); err == nil {
		t.Error("a TIFF over 4 GiB: no error")
	}
}

// TestSandbox: inside the helper's sandbox, opening files, sockets and
// running programs fail, and the worker's AWS credentials are not in its
// environment.
func TestSandbox(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := &Decoder{Command: []string{exe, "sandbox-helper"}}
	out, err := d.run(context.Background(), nil, &HelperConfig{CPUSeconds: 10}, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{"open=open /etc/hostname: operation not permitted", "socket=", "operation not permitted", "exec=", `env=""`} {
		if !strings.Contains(got, want) {
			t.Errorf("sandboxed helper said:\n%s\nwant %q", got, want)
		}
	}
	if strings.Contains(got, "exec=<nil>") || strings.Contains(got, "socket=<nil>") {
		t.Errorf("sandboxed helper could run a program or open a socket:\n%s", got)
	}
	t.Logf("inside the sandbox:\n%s", got)
}

func TestHelperMessage(t *testing.T) {
	for in, want := range map[string]string{
		"heif-decode: warning: no seccomp sandbox: x\nheif-decode: corrupt: read: bad": "corrupt: read: bad",
		"SIGSEGV: segmentation violation\nPC=0x0":                                      "SIGSEGV: segmentation violation",
		"": "",
	} {
		if got := helperMessage(in); got != want {
			t.Errorf("helperMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShrinkRows(t *testing.T) {
	// RGB 5x3 by 2: 3x2, edge blocks averaged over what they hold.
	rgb := [][]byte{
		{10, 0, 0, 20, 0, 0, 30, 0, 0, 40, 0, 0, 50, 0, 0},
		{30, 0, 0, 40, 0, 0, 50, 0, 0, 60, 0, 0, 70, 0, 0},
		{100, 0, 0, 100, 0, 0, 100, 0, 0, 100, 0, 0, 200, 0, 9},
	}
	var got [][]byte
	emit := func(r []byte) error { got = append(got, bytes.Clone(r)); return nil }
	rows := func(src [][]byte) func(func([]byte) error) error {
		return func(fn func([]byte) error) error {
			for _, r := range src {
				if err := fn(r); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if err := shrinkRows(5, 3, 3, 2, rows(rgb), emit); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{{25, 0, 0, 45, 0, 0, 60, 0, 0}, {100, 0, 0, 100, 0, 0, 200, 0, 9}}
	if len(got) != 2 || !bytes.Equal(got[0], want[0]) || !bytes.Equal(got[1], want[1]) {
		t.Errorf("RGB: got %v, want %v", got, want)
	}
	// RGBA: a transparent pixel lends no colour.
	got = nil
	rgba := [][]byte{{255, 0, 0, 255, 0, 255, 0, 0}}
	if err := shrinkRows(2, 1, 4, 2, rows(rgba), emit); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0], []byte{255, 0, 0, 128}) {
		t.Errorf("RGBA: got %v, want [255 0 0 128]", got[0])
	}
}

func TestDecodeShrink(t *testing.T) {
	needLibheif(t)
	d := testDecoder(t, "heif-decode")
	out, err := d.Decode(context.Background(), readTestdata(t, "iphone-p3-rot90-64x96.heic"), Limits{MaxPixels: 10_000, Shrink: 4})
	if err != nil {
		t.Fatal(err)
	}
	im := readTIFF(t, out)
	if im.w != 16 || im.h != 24 || len(im.icc) == 0 {
		t.Fatalf("shrunk by 4: %dx%d (ICC %d bytes), want 16x24 with the ICC profile", im.w, im.h, len(im.icc))
	}
	if !isRed(im.at(14, 1)) || isRed(im.at(1, 22)) {
		t.Errorf("shrunk: red corner not top right: %v %v", im.at(14, 1), im.at(1, 22))
	}
}
