package heic

/*
#include <malloc.h>
#include <stdlib.h>
static void one_arena(void) { mallopt(M_ARENA_MAX, 1); }
// can_allocate reports whether n bytes can still be allocated (and touched
// by nothing: only the address space is asked for).
static int can_allocate(size_t n) { void *p = malloc(n); free(p); return p != NULL; }
*/
import "C"

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Exit codes of the helper (`imgbatch heif-decode`); stderr carries one
// line "heif-decode: <kind>: <message>". Go's runtime exits 2 on a fatal
// error (out of memory under the limit, for one), so the helper's own
// codes start at 3.
const (
	exitOK            = 0
	exitCorrupt       = 3
	exitTooManyPixels = 4
	exitUnsupported   = 5
	exitMemory        = 6
	exitUsage         = 7
)

// Memory the helper may use above what it holds once started and the
// source is read: bytesPerPixel for each pixel of the primary image
// (libheif's YCbCr planes, its RGB conversion and the interleaved result,
// measured at ≤ 12 bytes per pixel on grid HEICs, doubled) plus baseMemory
// for libde265's state, libheif's structures and thread stacks.
const (
	bytesPerPixel = 24
	baseMemory    = 128 << 20
)

// HelperConfig is what the parent asks of one helper run (its flags).
type HelperConfig struct {
	MaxPixels     int64 // refuse a primary image with more pixels, before decoding
	MaxInputBytes int64 // refuse a longer stdin
	CPUSeconds    int   // RLIMIT_CPU: the kernel kills the helper past it
	MaxMemory     int64 // address space allowed above the start-up size (0: from the image's pixels)
	Probe         bool  // only report libheif's version and whether it decodes HEVC
	Shrink        int   // box-filter the decoded image by this integer factor (1: none)
}

func (c *HelperConfig) args() []string {
	a := []string{"--max-pixels", strconv.FormatInt(c.MaxPixels, 10), "--max-input-bytes", strconv.FormatInt(c.MaxInputBytes, 10),
		"--cpu-seconds", strconv.Itoa(c.CPUSeconds)}
	if c.MaxMemory > 0 {
		a = append(a, "--max-memory", strconv.FormatInt(c.MaxMemory, 10))
	}
	if c.Probe {
		a = append(a, "--probe")
	}
	if c.Shrink > 1 {
		a = append(a, "--shrink", strconv.Itoa(c.Shrink))
	}
	return a
}

func (c *HelperConfig) flags(fs *flag.FlagSet) {
	fs.Int64Var(&c.MaxPixels, "max-pixels", 100_000_000, "refuse a primary image with more pixels than this, before decoding")
	fs.Int64Var(&c.MaxInputBytes, "max-input-bytes", 100<<20, "refuse a HEIC longer than this")
	fs.IntVar(&c.CPUSeconds, "cpu-seconds", 60, "CPU-time limit (RLIMIT_CPU); the kernel kills the helper past it")
	fs.Int64Var(&c.MaxMemory, "max-memory", 0, "bytes of address space allowed above the helper's own (default: 24 per pixel + 128 MiB)")
	fs.BoolVar(&c.Probe, "probe", false, "print libheif's version and whether it decodes HEVC, then exit")
	fs.IntVar(&c.Shrink, "shrink", 1, "write the image reduced by this integer factor (mean of each block, alpha-weighted): the decode's shrink-on-load")
}

// HelperUsage describes the helper's flags (for `imgbatch heif-decode --help`).
func HelperUsage() string {
	var b strings.Builder
	fs := flag.NewFlagSet("heif-decode", flag.ContinueOnError)
	var c HelperConfig
	c.flags(fs)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return b.String()
}

// RunHelper is the body of the hidden `imgbatch heif-decode`: it limits
// its own process (core dumps off, RLIMIT_CPU, RLIMIT_AS), opens
// libheif.so.1 with dlopen, reads a HEIC from stdin, refuses a primary
// image over --max-pixels from its header, decodes it upright (irot, imir
// and clap applied by libheif: the EXIF orientation must not be applied
// again) to 8-bit RGB or RGBA, and writes it to stdout as an uncompressed
// TIFF with the HEIC's ICC profile and no orientation tag. It returns the
// exit code; failures are one line on stderr. Only Decoder starts it.
func RunHelper(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := runHelper(args, stdin, stdout, stderr)
	if e == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "heif-decode: %s: %s\n", e.kind, e.msg)
	return e.code
}

// exitErr is how the helper ends when it fails: its exit code, and the
// kind and message of its one line on stderr.
type exitErr struct {
	code      int
	kind, msg string
}

func failf(code int, kind, format string, a ...any) *exitErr {
	return &exitErr{code: code, kind: kind, msg: fmt.Sprintf(format, a...)}
}

// runHelper is RunHelper's steps, in the order that makes them safe:
// limits before a byte of input is read, the sandbox before it is parsed.
func runHelper(args []string, stdin io.Reader, stdout, stderr io.Writer) *exitErr {
	c, e := parseHelperArgs(args)
	if e != nil {
		return e
	}
	if e := setLimits(c); e != nil {
		return e
	}
	if err := openLibheif(); err != nil {
		return failf(exitUnsupported, "unsupported", "cannot load %s (install Debian's libheif1 and libde265-0, or turn HEIC off with --heic=off): %v", libheifPath(), err)
	}
	if c.Probe {
		fmt.Fprintf(stdout, "libheif %s hevc=%t\n", libheifVersion(), libheifHasHEVC())
		return nil
	}
	if !libheifHasHEVC() {
		return failf(exitUnsupported, "unsupported", "libheif %s has no HEVC decoder (install libde265-0, or libheif-plugin-libde265 with libheif ≥ 1.17)", libheifVersion())
	}
	src, err := io.ReadAll(io.LimitReader(stdin, c.MaxInputBytes+1))
	if err != nil {
		return failf(exitUsage, "internal", "read stdin: %v", err)
	}
	if int64(len(src)) > c.MaxInputBytes {
		return failf(exitTooManyPixels, "too-large", "input longer than --max-input-bytes %d", c.MaxInputBytes)
	}
	// From here on the helper needs no files, sockets or programs.
	if err := sandbox(); err != nil {
		fmt.Fprintf(stderr, "heif-decode: warning: no seccomp sandbox: %v\n", err)
	}
	return decodeToTIFF(src, c, stdout)
}

// parseHelperArgs reads the helper's flags.
func parseHelperArgs(args []string) (HelperConfig, *exitErr) {
	var c HelperConfig
	fs := flag.NewFlagSet("heif-decode", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.flags(fs)
	if err := fs.Parse(args); err != nil {
		return c, failf(exitUsage, "usage", "%v", err)
	}
	if c.MaxPixels <= 0 || c.MaxInputBytes <= 0 || c.CPUSeconds <= 0 {
		return c, failf(exitUsage, "usage", "--max-pixels, --max-input-bytes and --cpu-seconds must be positive")
	}
	return c, nil
}

// setLimits applies the limits, before a byte of the file is read. A
// crash leaves no core file; a runaway decode is killed by the kernel
// (SIGKILL at the CPU limit: soft = hard).
func setLimits(c HelperConfig) *exitErr {
	C.one_arena() // one malloc arena: no 64 MiB reservation per thread under RLIMIT_AS
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	cpu := uint64(c.CPUSeconds)
	if err := syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: cpu, Max: cpu}); err != nil {
		return failf(exitUsage, "internal", "setrlimit RLIMIT_CPU: %v", err)
	}
	if !c.Probe {
		// Room for the source and the largest image the budget allows; lowered
		// to the image's own size once its header is read.
		if err := limitMemory(c.MaxInputBytes + allowance(c.MaxPixels, c.MaxMemory)); err != nil {
			return failf(exitUsage, "internal", "%v", err)
		}
	}
	return nil
}

// decodeToTIFF parses src, refuses it over the pixel budget, lowers the
// memory limit to the image's own size, decodes it and writes the TIFF.
func decodeToTIFF(src []byte, c HelperConfig, stdout io.Writer) *exitErr {
	j, err := parseHEIF(src)
	if err != nil {
		return heifFail("read", err)
	}
	defer j.close()
	w, h, alpha := j.size()
	if w <= 0 || h <= 0 {
		return failf(exitCorrupt, "corrupt", "primary image is %dx%d", w, h)
	}
	if px := int64(w) * int64(h); px > c.MaxPixels {
		return failf(exitTooManyPixels, "too-many-pixels", "primary image %dx%d = %d pixels, over the %d-pixel budget", w, h, px, c.MaxPixels)
	}
	if err := limitMemory(allowance(int64(w)*int64(h), c.MaxMemory)); err != nil {
		return failf(exitUsage, "internal", "%v", err)
	}
	if err := j.decode(); err != nil {
		// libheif reports some allocation failures as other errors ("Unsupported
		// color conversion" when a conversion step gets no memory): if twice
		// the image's RGBA size cannot be allocated now, memory was the cause.
		if C.can_allocate(C.size_t(int64(w)*int64(h)*8)) == 0 {
			return failf(exitMemory, "memory", "decode %dx%d: %v (the limit leaves no room for the image)", w, h, err)
		}
		return heifFail("decode", err)
	}
	channels := 3
	if alpha {
		channels = 4
	}
	return writeTIFF(j, channels, max(c.Shrink, 1), stdout)
}

// writeTIFF writes the decoded image, reduced k times, as a TIFF.
func writeTIFF(j *heifJob, channels, k int, stdout io.Writer) *exitErr {
	dw, dh := j.decodedSize()
	ow, oh := (dw+k-1)/k, (dh+k-1)/k
	out := bufio.NewWriterSize(stdout, 1<<20)
	if err := writeTIFFHeader(out, ow, oh, channels, j.icc()); err != nil {
		return failf(exitCorrupt, "corrupt", "%v", err)
	}
	write := func(row []byte) error { _, err := out.Write(row); return err }
	rows := func(fn func([]byte) error) error { return j.rows(channels, fn) }
	var err error
	if k > 1 {
		err = shrinkRows(dw, dh, channels, k, rows, write)
	} else {
		err = rows(write)
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		return failf(exitUsage, "internal", "write: %v", err)
	}
	return nil
}

// heifFail maps a libheif error to the helper's exit codes.
func heifFail(stage string, err error) *exitErr {
	var he *heifError
	if !errors.As(err, &he) {
		return failf(exitUsage, "internal", "%s: %v", stage, err)
	}
	switch {
	case he.code == 6: // heif_error_Memory_allocation_error
		return failf(exitMemory, "memory", "%s: %v", stage, he)
	case he.subcode == 1000: // heif_suberror_Security_limit_exceeded
		return failf(exitTooManyPixels, "too-many-pixels", "%s: %v", stage, he)
	case he.code == 3 || he.code == 4: // Unsupported_filetype, Unsupported_feature
		return failf(exitUnsupported, "unsupported", "%s: %v", stage, he)
	}
	return failf(exitCorrupt, "corrupt", "%s: %v", stage, he)
}

// allowance is the address space the helper may add for an image of px
// pixels.
func allowance(px, override int64) int64 {
	if override > 0 {
		return override
	}
	return px*bytesPerPixel + baseMemory
}

// limitMemory sets RLIMIT_AS (soft and hard) to the process's current
// virtual size plus extra: whatever the Go runtime, the shared libraries
// and the source already take stays allowed, and only growth is capped.
// Lowering a limit needs no privilege; raising a hard limit would.
func limitMemory(extra int64) error {
	vm, err := vmSize()
	if err != nil {
		return err
	}
	lim := uint64(vm + extra)
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &cur); err == nil && cur.Max < lim {
		lim = cur.Max
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
		return fmt.Errorf("setrlimit RLIMIT_AS %d: %w", lim, err)
	}
	return nil
}

// procStatus is /proc/self/status, opened before the sandbox forbids
// opening files; each read at offset 0 is a fresh copy.
var procStatus *os.File

// vmSize is this process's virtual memory size in bytes
// (/proc/self/status VmSize).
func vmSize() (int64, error) {
	if procStatus == nil {
		f, err := os.Open("/proc/self/status")
		if err != nil {
			return 0, err
		}
		procStatus = f
	}
	buf := make([]byte, 8192)
	n, err := procStatus.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return 0, err
	}
	b := buf[:n]
	for _, l := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("VmSize:")); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmSize %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmSize in /proc/self/status")
}
