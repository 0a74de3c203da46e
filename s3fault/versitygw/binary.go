package versitygw

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// Binary installs versitygw with scripts/versitygw.sh (once per test
// binary; the script caches it across runs) and returns its path. A
// failed install fails t: the second S3 implementation is part of the
// suites that use it, not an optional extra. Only -short skips them.
func Binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("installs and runs versitygw: skipped in -short")
	}
	binaryOnce.Do(func() { binaryPath, binaryErr = install() })
	if binaryErr != nil {
		t.Fatalf("versitygw could not be installed (the Go module proxy must be reachable, or the cache warm): %v", binaryErr)
	}
	return binaryPath
}

// install runs scripts/versitygw.sh of this repository.
func install() (string, error) {
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "versitygw.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/versitygw.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}
