// Package heic decodes HEVC-coded HEIF images (iPhone photos) in a separate,
// limited process, for a libvips that cannot: the libvips imgbatch ships
// (sharp's npm build) leaves the HEVC decoder out, while Debian's libheif1
// decodes HEVC through libde265.
//
// The worker starts the helper — this same binary, `imgbatch heif-decode`
// (RunHelper) — once per HEIC, gives it the source on stdin and reads an
// uncompressed TIFF on stdout, which libvips then renders like any other
// source (ICC import, resize, encoders). The helper opens libheif with
// dlopen, so imgbatch neither links it nor needs it to build, and libheif
// never shares a process with the libheif inside the npm libvips. It limits
// itself before reading a byte (address space, CPU time, no core dumps),
// runs without the worker's environment (no AWS credentials) and under a
// seccomp filter once the file is read (no files, sockets or programs),
// refuses a primary image over the pixel budget from its header, and is
// killed at the item's deadline; a crash, a runaway or an out-of-memory
// kill is one item's *Error, never the worker's.
package heic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind classifies a failed decode.
type Kind int

const (
	KindInternal      Kind = iota // the helper could not run or broke its protocol
	KindCorrupt                   // libheif refused the file: malformed, truncated
	KindTooManyPixels             // over the pixel budget (header) or the input byte cap
	KindUnsupported               // HEIC decoding is off, or libheif / its HEVC decoder is missing
	KindTimeout                   // the item's deadline or the helper's CPU limit passed
	KindMemory                    // the decoder needed more memory than its limit
	KindCrashed                   // the helper died of a signal (SIGSEGV, SIGABRT, SIGKILL)
)

func (k Kind) String() string {
	switch k {
	case KindCorrupt:
		return "corrupt"
	case KindTooManyPixels:
		return "too-many-pixels"
	case KindUnsupported:
		return "unsupported"
	case KindTimeout:
		return "timeout"
	case KindMemory:
		return "memory"
	case KindCrashed:
		return "crashed"
	}
	return "internal"
}

// Error is a failed decode: its kind and a one-line reason.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return "heic " + e.Kind.String() + ": " + e.Msg }

func errorf(k Kind, format string, a ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, a...)}
}

// Limits of one decode.
type Limits struct {
	MaxPixels     int64         // primary image pixels (default 100 MP)
	MaxInputBytes int64         // source bytes (default 100 MiB)
	CPUTime       time.Duration // the helper's RLIMIT_CPU, a backstop to the context's deadline (default 60 s)
	MaxMemory     int64         // address space above the helper's own (default: 24 bytes per pixel + 128 MiB)
	// WallTime bounds the helper's life when ctx has no earlier deadline
	// (default 2 × CPUTime): a decoder blocked without using CPU (libde265
	// waits forever for a worker thread it could not start) still ends.
	WallTime time.Duration
	// ExpectedPixels, when known from the header (sniff), sizes the output
	// buffer once instead of growing it.
	ExpectedPixels int64
	// Shrink reduces the decoded image by this integer factor in the
	// helper (a k × k box mean) before it is written: what shrink-on-load
	// is to a JPEG. 0 or 1: full size.
	Shrink int
}

// EnvMode is the environment variable that turns HEIC decoding on or off
// when no flag does (`--heic`).
const EnvMode = "IMGBATCH_HEIC"

// Decoder starts the helper. The zero value is enabled and runs
// os.Executable() heif-decode.
type Decoder struct {
	// Off turns HEIC decoding off: Decode fails with KindUnsupported.
	Off bool
	// Command is the helper's argv before its flags (default:
	// os.Executable(), "heif-decode"). Tests point it at their own binary.
	Command []string
	// Env is the helper's environment (default: helperEnv of this
	// process's: no AWS credentials or other secrets for a decoder).
	Env []string
	// WaitDelay bounds how long Decode waits for the helper's output after
	// killing it (default 2 s).
	WaitDelay time.Duration

	probeOnce sync.Once
	probe     string
	probeErr  error
}

// ParseMode reads an --heic / IMGBATCH_HEIC value: "on" (or "", "auto",
// "true", "1") or "off" ("false", "0").
func ParseMode(s string) (on bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "on", "auto", "true", "1", "yes":
		return true, nil
	case "off", "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("--heic %q: use on or off", s)
}

var (
	defaultOnce sync.Once
	defaultDec  *Decoder
)

// Default is the process's Decoder: on unless IMGBATCH_HEIC says off.
func Default() *Decoder {
	defaultOnce.Do(func() {
		on, err := ParseMode(os.Getenv(EnvMode))
		defaultDec = &Decoder{Off: err == nil && !on}
	})
	return defaultDec
}

// Enabled reports whether HEIC decoding is on (d may be nil: off).
func (d *Decoder) Enabled() bool { return d != nil && !d.Off }

// Off is the reason HEIC is refused when decoding is off.
const offReason = "HEIC (HEVC) decoding is off (--heic=off or IMGBATCH_HEIC=off); turn it on with --heic=on where Debian's libheif1 and libde265-0 are installed"

// Probe runs the helper once (cached) and returns libheif's version line,
// e.g. "libheif 1.15.1 hevc=true", or why HEIC cannot be decoded here.
func (d *Decoder) Probe(ctx context.Context) (string, error) {
	if !d.Enabled() {
		return "", errorf(KindUnsupported, "%s", offReason)
	}
	d.probeOnce.Do(func() {
		out, err := d.run(ctx, nil, &HelperConfig{MaxPixels: 1, MaxInputBytes: 1, CPUSeconds: 5, Probe: true}, 4096, 0)
		d.probe, d.probeErr = strings.TrimSpace(string(out)), err
		if err == nil && !strings.HasSuffix(d.probe, "hevc=true") {
			d.probeErr = errorf(KindUnsupported, "%s: no HEVC decoder (install libde265-0)", d.probe)
		}
	})
	return d.probe, d.probeErr
}

// Decode turns the HEIC src into an uncompressed 8-bit RGB or RGBA TIFF
// of its primary image, upright, with its ICC profile, for vips.Render
// (format sniff.TIFF). The helper is killed when ctx ends (KindTimeout).
// Every failure is an *Error.
func (d *Decoder) Decode(ctx context.Context, src []byte, lim Limits) ([]byte, error) {
	if !d.Enabled() {
		return nil, errorf(KindUnsupported, "%s", offReason)
	}
	if lim.MaxPixels <= 0 {
		lim.MaxPixels = 100_000_000
	}
	if lim.MaxInputBytes <= 0 {
		lim.MaxInputBytes = 100 << 20
	}
	if lim.CPUTime <= 0 {
		lim.CPUTime = 60 * time.Second
	}
	if int64(len(src)) > lim.MaxInputBytes {
		return nil, errorf(KindTooManyPixels, "source of %d bytes over the %d-byte cap", len(src), lim.MaxInputBytes)
	}
	if lim.WallTime <= 0 {
		lim.WallTime = 2 * lim.CPUTime
	}
	ctx, cancel := context.WithTimeout(ctx, lim.WallTime)
	defer cancel()
	cfg := &HelperConfig{MaxPixels: lim.MaxPixels, MaxInputBytes: lim.MaxInputBytes,
		CPUSeconds: int((lim.CPUTime + time.Second - 1) / time.Second), MaxMemory: lim.MaxMemory, Shrink: lim.Shrink}
	// The most the helper may write: RGBA pixels, an ICC profile (libheif's
	// is capped at 16 MiB in the helper) and the TIFF header.
	maxOut := lim.MaxPixels*4 + 16<<20 + 4096
	hint := int64(0)
	if lim.ExpectedPixels > 0 && lim.ExpectedPixels <= lim.MaxPixels {
		k := int64(max(lim.Shrink, 1))
		hint = lim.ExpectedPixels*4/(k*k) + 64<<10
	}
	return d.run(ctx, src, cfg, maxOut, hint)
}

// run starts the helper with src on stdin and returns its stdout.
func (d *Decoder) run(ctx context.Context, src []byte, cfg *HelperConfig, maxOut, hint int64) ([]byte, error) {
	argv := d.Command
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, errorf(KindInternal, "find the imgbatch binary for the HEIC helper: %v", err)
		}
		argv = []string{exe, "heif-decode"}
	}
	// The helper is killed when ctx ends or as soon as it writes more than
	// maxOut: runCtx is cancelled for either.
	runCtx, kill := context.WithCancel(ctx)
	defer kill()
	cmd := exec.CommandContext(runCtx, argv[0], append(append([]string{}, argv[1:]...), cfg.args()...)...)
	cmd.Env = d.Env
	if cmd.Env == nil {
		cmd.Env = helperEnv(os.Environ())
	}
	// Killed with the worker: a helper never outlives the process that waits for it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = d.WaitDelay
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = 2 * time.Second
	}
	cmd.Stdin = bytes.NewReader(src)
	stdout := &capped{max: maxOut, onOver: kill}
	stdout.buf.Grow(int(hint))
	stderr := &capped{max: 4096, quiet: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	err := cmd.Run()
	full := strings.TrimSpace(stderr.buf.String())
	msg := helperMessage(full)
	switch {
	case stdout.over:
		return nil, errorf(KindInternal, "HEIC helper wrote more than %d bytes", maxOut)
	case ctx.Err() != nil:
		return nil, errorf(KindTimeout, "HEIC decoder stopped at the item deadline after %s", time.Since(start).Round(time.Millisecond))
	case err == nil:
		return stdout.buf.Bytes(), nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return nil, errorf(KindInternal, "start the HEIC helper %s: %v", argv[0], err)
	}
	return nil, exitError(ee, full, msg, cfg.CPUSeconds)
}

// exitError is the error of a helper that failed: killed at its CPU
// limit, out of memory, crashed, or ended with one of its exit codes.
// full is its stderr, msg the failure line from it.
func exitError(ee *exec.ExitError, full, msg string, cpuSeconds int) *Error {
	ws, _ := ee.Sys().(syscall.WaitStatus)
	memory := strings.Contains(full, "bad_alloc") || strings.Contains(full, "out of memory") || strings.Contains(full, "cannot allocate memory")
	if ws.Signaled() {
		sig := ws.Signal()
		if sig == syscall.SIGKILL || sig == syscall.SIGXCPU {
			if cpu := ee.SystemTime() + ee.UserTime(); cpu >= time.Duration(cpuSeconds)*time.Second-100*time.Millisecond {
				return errorf(KindTimeout, "HEIC decoder killed at its CPU limit (%d s)", cpuSeconds)
			}
		}
		if memory {
			return errorf(KindMemory, "HEIC decoder ran out of memory under its limit: %s", msg)
		}
		return errorf(KindCrashed, "HEIC decoder died of signal %d (%s)%s", int(sig), sig, suffix(msg))
	}
	rest := msg
	if _, r, ok := strings.Cut(msg, ": "); ok {
		rest = r
	}
	switch ws.ExitStatus() {
	case exitCorrupt:
		return errorf(KindCorrupt, "%s", rest)
	case exitTooManyPixels:
		return errorf(KindTooManyPixels, "%s", rest)
	case exitUnsupported:
		return errorf(KindUnsupported, "%s", rest)
	case exitMemory:
		return errorf(KindMemory, "%s", rest)
	}
	if memory {
		return errorf(KindMemory, "HEIC decoder ran out of memory under its limit: %s", msg)
	}
	// A fault in C code (libde265, libheif) reaches the Go runtime's signal
	// handler, which prints the signal and exits 2; so does an abort().
	for _, s := range []string{"SIGSEGV", "SIGBUS", "SIGABRT", "SIGILL", "SIGFPE", "fatal error:", "panic:"} {
		if strings.Contains(full, s) {
			return errorf(KindCrashed, "HEIC decoder crashed (exit %d)%s", ws.ExitStatus(), suffix(msg))
		}
	}
	return errorf(KindInternal, "HEIC helper exited %d%s", ws.ExitStatus(), suffix(msg))
}

// helperMessage is the helper's failure line from its stderr (the last
// "heif-decode: " line that is not a warning), or the first line of
// whatever else is there (the Go runtime's fatal error, for one).
func helperMessage(stderr string) string {
	lines := strings.Split(stderr, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if m, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "heif-decode: "); ok && !strings.HasPrefix(m, "warning:") {
			return m
		}
	}
	return strings.TrimSpace(lines[0])
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// capped keeps at most max bytes of a stream. Past that, a stdout
// (quiet false) fails the write and calls onOver (which kills the helper);
// a stderr (quiet) drops the rest. It has no ReadFrom: exec's copy must
// go through Write.
type capped struct {
	buf    bytes.Buffer
	max    int64
	over   bool
	quiet  bool
	onOver func()
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - int64(c.buf.Len()); int64(len(p)) > room {
		if c.quiet {
			if room > 0 {
				c.buf.Write(p[:room])
			}
			return len(p), nil
		}
		c.over = true
		if c.onOver != nil {
			c.onOver()
		}
		return 0, io.ErrShortWrite
	}
	return c.buf.Write(p)
}

// helperEnv keeps of env only what the helper may need: the library and
// program search paths, locale, Go runtime and malloc settings, and
// imgbatch's own IMGBATCH_HEIC_LIBHEIF and IMGBATCH_BE_MAIN (tests). No
// AWS_* variable (credentials, the container credentials URI) reaches a
// decoder of untrusted files.
func helperEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "LD_LIBRARY_PATH", "TMPDIR", "LANG", "LC_ALL", "TZ", "MALLOC_ARENA_MAX",
			"GODEBUG", "GOTRACEBACK", "GOCOVERDIR", EnvLibheif, "IMGBATCH_BE_MAIN":
			out = append(out, kv)
		}
	}
	return out
}
