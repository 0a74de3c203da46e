package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch/vips"
)

// TestVersion: `imgbatch version` names the libvips the process runs (asked
// of the loaded library), the headers it was compiled with and the loaded
// file; --json says the same.
func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"imgbatch", "version", "--json"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("version --json: exit %d: %s", code, stderr.String())
	}
	var v versionInfo
	if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
		t.Fatalf("version --json: %v\n%s", err, stdout.String())
	}
	semver := regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	if !semver.MatchString(v.Libvips) || !semver.MatchString(v.LibvipsHeaders) {
		t.Errorf("libvips %q, headers %q: want x.y.z", v.Libvips, v.LibvipsHeaders)
	}
	if v.Libvips != vips.Version() || v.Imgbatch != version || v.Go == "" || v.Platform == "" {
		t.Errorf("version --json = %+v", v)
	}
	// The file the process loaded: a libvips shared library that exists, and the
	// one the running version names (libvips-cpp.so.<version> from npm).
	if v.LibvipsPath == "" {
		t.Fatal("no libvipsPath")
	}
	if _, err := os.Stat(v.LibvipsPath); err != nil {
		t.Errorf("libvipsPath: %v", err)
	}
	if base := filepath.Base(v.LibvipsPath); base != "libvips-cpp.so."+v.Libvips {
		t.Errorf("loaded %s, want libvips-cpp.so.%s (the pinned npm libvips)", v.LibvipsPath, v.Libvips)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err == nil && !strings.Contains(string(maps), v.LibvipsPath) {
		t.Errorf("/proc/self/maps does not map %s", v.LibvipsPath)
	}

	stdout.Reset()
	if code := run([]string{"imgbatch", "version"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("version: exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"imgbatch " + version, "libvips  " + v.Libvips + " (running; compiled with headers " + v.LibvipsHeaders + ")", v.LibvipsPath} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("version output lacks %q:\n%s", want, stdout.String())
		}
	}
	if code := run([]string{"imgbatch", "version", "extra"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("version extra: exit %d, want %d", code, exitUsage)
	}
}
