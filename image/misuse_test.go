package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// TestRuntimeLayerRefusesMisuse: scripts/runtime-layer.sh stops at once, with a message that
// says what is wrong, on a bad argument or input, and changes nothing in ROOTFS.
func TestRuntimeLayerRefusesMisuse(t *testing.T) {
	script := filepath.Join(testutil.RepoRoot(), "scripts", "runtime-layer.sh")
	elf, err := exec.LookPath("true") // an ELF of this machine (amd64 here)
	if err != nil {
		t.Fatal(err)
	}
	prefix := t.TempDir() // a libvips prefix whose .so is that ELF
	testutil.WriteFile(t, filepath.Join(prefix, "lib", "libvips-cpp.so.8.18.8"), mustRead(t, elf))
	text := filepath.Join(t.TempDir(), "imgbatch")
	testutil.WriteFile(t, text, []byte("#!/bin/sh\necho not a binary\n"))
	emptyPrefix := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", "--arch", "riscv64"}, "want amd64 or arm64"},
		{[]string{"/nonexistent/rootfs"}, "is not a directory"},
		{[]string{"ROOTFS", "--step", "bogus"}, "want packages, files or all"},
		{[]string{"ROOTFS", "--frobnicate"}, "unknown flag"},
		{[]string{"ROOTFS", "--step", "files", "--libvips", emptyPrefix, "--binary", elf}, "has no lib/libvips-cpp.so.8.18.8"},
		{[]string{"ROOTFS", "--step", "files", "--libvips", prefix}, "--binary '' is not a file"},
		{[]string{"ROOTFS", "--step", "files", "--arch", "arm64", "--libvips", prefix, "--binary", elf}, "want AArch64 (--arch arm64)"},
		{[]string{"ROOTFS", "--step", "files", "--libvips", prefix, "--binary", text}, "not an ELF file"},
	} {
		rootfs := t.TempDir()
		args := make([]string, len(tc.args))
		for i, a := range tc.args {
			args[i] = strings.ReplaceAll(a, "ROOTFS", rootfs)
		}
		start := time.Now()
		out, err := exec.Command(script, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("runtime-layer.sh %q: %v, %q; want a failure saying %q", tc.args, err, out, tc.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("runtime-layer.sh %q took %s to refuse", tc.args, d)
		}
		if left, _ := os.ReadDir(rootfs); len(left) > 0 {
			t.Errorf("runtime-layer.sh %q refused but wrote %s into ROOTFS", tc.args, left[0].Name())
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
