package buildcheck

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

const repoRoot = "../.."

// TestBuildCacheCannotPickUpAnotherLibvips poisons the default Go build
// cache the way the old pkg-config-only build did, then builds with
// scripts/build.sh and checks the binary links and runs the pinned libvips.
//
// The decoy: a vips.pc that names the same library file from another
// directory without an rpath, found through PKG_CONFIG_PATH alone, with no
// CGO_CFLAGS/CGO_LDFLAGS. Go's cache keys cgo packages on neither
// PKG_CONFIG_PATH nor the .pc file, so a build that passes its libvips only
// through pkg-config reuses the decoy-compiled govips and links a binary
// without the RUNPATH (before: Debian's libvips.so.42). scripts/build.sh
// passes the versioned prefix in CGO_CFLAGS/CGO_LDFLAGS, which are in the
// key. The decoy directory is stable (.cache/buildcheck-decoy) so that the
// decoy entries stay valid in the cache between runs, as a real stale
// build's would. IMGBATCH_BUILD_SCRIPT runs another build script in place of
// scripts/build.sh (to show this test fails on the old one).
func TestBuildCacheCannotPickUpAnotherLibvips(t *testing.T) {
	testutil.Long(t, "short mode: two builds of cmd/imgbatch")
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "libvips-npm.sh"), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(out))
	so := "libvips-cpp.so." + version
	prefix := os.Getenv("LIBVIPS_PREFIX")
	if prefix == "" {
		prefix = filepath.Join(root, ".cache", "libvips", version)
	}
	if _, err := os.Stat(filepath.Join(prefix, "lib", so)); err != nil {
		t.Fatalf("the pinned libvips is not installed in %s (make libvips): %v", prefix, err)
	}

	// 1. The decoy build, in the default GOCACHE.
	decoy := filepath.Join(root, ".cache", "buildcheck-decoy", version)
	if err := os.MkdirAll(filepath.Join(decoy, "lib", "pkgconfig"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(decoy, "lib", so)
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink(filepath.Join(prefix, "lib", so), link); err != nil {
			t.Fatal(err)
		}
	}
	pc := "Name: vips\nDescription: decoy: the same library from another directory, no rpath\nVersion: " + version + "\n" +
		"Cflags: -I" + prefix + "/include -I" + prefix + "/include/glib-2.0 -I" + prefix + "/lib/glib-2.0/include\n" +
		"Libs: -L" + decoy + "/lib -l:" + so + "\n"
	if err := os.WriteFile(filepath.Join(decoy, "lib", "pkgconfig", "vips.pc"), []byte(pc), 0o644); err != nil {
		t.Fatal(err)
	}
	decoyEnv := func() []string {
		env := without(os.Environ(), "CGO_CFLAGS", "CGO_LDFLAGS", "CGO_CPPFLAGS", "PKG_CONFIG_PATH", "LD_LIBRARY_PATH", "GOFLAGS")
		return append(env, "PKG_CONFIG_PATH="+decoy+"/lib/pkgconfig", "CGO_ENABLED=1", "GOFLAGS=-buildvcs=false")
	}
	decoyBin := filepath.Join(t.TempDir(), "imgbatch-decoy")
	cmd := exec.Command("go", "build", "-trimpath", "-o", decoyBin, "./cmd/imgbatch")
	cmd.Dir, cmd.Env = root, decoyEnv()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("decoy build: %v\n%s", err, b)
	}
	if needed, runpath := dynamic(t, decoyBin); !contains(needed, so) || runpath != "" {
		t.Fatalf("the decoy build is not what the old build made (NEEDED %v, RUNPATH %q): the test proves nothing", needed, runpath)
	}

	// 2. The real build, same cache, with the decoy still in PKG_CONFIG_PATH
	// and no CGO_* from the caller: the script must set everything itself.
	script := os.Getenv("IMGBATCH_BUILD_SCRIPT")
	if script == "" {
		script = filepath.Join(root, "scripts", "build.sh")
	}
	bin := filepath.Join(t.TempDir(), "imgbatch")
	cmd = exec.Command("bash", script)
	cmd.Dir = root
	cmd.Env = append(decoyEnv(), "LIBVIPS_PREFIX="+prefix, "OUT="+bin, "VERSION=buildcheck")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}

	// 3. It links the pinned libvips, finds it through its RUNPATH and runs it.
	needed, runpath := dynamic(t, bin)
	var libvips []string
	for _, n := range needed {
		if strings.HasPrefix(n, "libvips") {
			libvips = append(libvips, n)
		}
	}
	if len(libvips) != 1 || libvips[0] != so {
		t.Errorf("NEEDED libvips %v, want exactly [%s]", libvips, so)
	}
	if !contains(strings.Split(runpath, ":"), filepath.Join(prefix, "lib")) {
		t.Errorf("RUNPATH %q, want it to contain %s/lib (the binary would load whatever libvips the loader finds)", runpath, prefix)
	}
	run := exec.Command(bin, "version", "--json")
	run.Env = without(os.Environ(), "LD_LIBRARY_PATH")
	b, err := run.Output()
	if err != nil {
		t.Fatalf("%s version --json: %v", bin, err)
	}
	var v struct{ Libvips, LibvipsPath string }
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("version --json: %v: %s", err, b)
	}
	if v.Libvips != version || v.LibvipsPath != filepath.Join(prefix, "lib", so) {
		t.Errorf("the built binary runs libvips %s from %s, want %s from %s", v.Libvips, v.LibvipsPath, version, filepath.Join(prefix, "lib", so))
	}
}

// TestMakeEnvIsBuildEnv: the Makefile's exported cgo variables (make env)
// are the ones scripts/build.sh builds with, so make test/vet and make build
// compile against the same libvips under the same cache keys.
func TestMakeEnvIsBuildEnv(t *testing.T) {
	mk, err := exec.LookPath("make")
	testutil.Need(t, "make", err)
	get := func(args ...string) map[string]string {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = repoRoot
		cmd.Env = without(os.Environ(), "LIBVIPS_PREFIX", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		m := map[string]string{}
		for _, l := range regexp.MustCompile(`(?m)^export ([A-Z_]+)=(.*)$`).FindAllStringSubmatch(string(b), -1) {
			m[l[1]] = l[2]
		}
		return m
	}
	script := get("bash", "scripts/build.sh", "--env")
	cmd := exec.Command(mk, "-s", "--no-print-directory", "-p", "-n", "env")
	cmd.Dir = repoRoot
	cmd.Env = without(os.Environ(), "LIBVIPS_PREFIX", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")
	db, err := cmd.Output()
	if err != nil {
		t.Fatalf("make -p: %v", err)
	}
	for _, name := range []string{"PKG_CONFIG_PATH", "CGO_CFLAGS", "CGO_LDFLAGS"} {
		m := regexp.MustCompile(`(?m)^` + name + ` := (.*)$`).FindSubmatch(db)
		if m == nil {
			t.Errorf("the Makefile does not set %s", name)
			continue
		}
		want, err := exec.Command("bash", "-c", `eval "export X=$1"; printf %s "$X"`, "_", script[name]).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(m[1]) != string(want) {
			t.Errorf("%s: Makefile %q, scripts/build.sh %q", name, m[1], want)
		}
	}
}

// dynamic is the NEEDED entries and the RUNPATH of an ELF binary (readelf -d).
func dynamic(t *testing.T, bin string) (needed []string, runpath string) {
	t.Helper()
	b, err := exec.Command("readelf", "-d", bin).Output()
	if err != nil {
		t.Fatalf("readelf -d %s: %v", bin, err)
	}
	for _, m := range regexp.MustCompile(`\((NEEDED|RUNPATH|RPATH)\)[^\[]*\[([^\]]*)\]`).FindAllSubmatch(b, -1) {
		switch string(m[1]) {
		case "NEEDED":
			needed = append(needed, string(m[2]))
		default:
			runpath = string(m[2])
		}
	}
	if bytes.Contains(b, []byte("(RPATH)")) {
		t.Logf("%s has an RPATH, not a RUNPATH", bin)
	}
	return needed, runpath
}

func without(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
