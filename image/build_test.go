package image

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// built is the image scripts/image-local.sh made for this test binary (once).
type built struct {
	dir    string // its output directory
	rootfs string
	took   time.Duration
	log    string
	err    error
}

var (
	buildOnce sync.Once
	image     built
)

// needRoot skips (fails under make test) where the image cannot be built: it needs root,
// debootstrap, unshare and chroot.
func needRoot(t *testing.T) {
	t.Helper()
	var err error
	if os.Geteuid() != 0 {
		err = errors.New("not root")
	}
	testutil.Need(t, "root (debootstrap, chroot and mounts build the image)", err)
	for _, tool := range []string{"debootstrap", "unshare", "chroot"} {
		_, err := exec.LookPath(tool)
		testutil.Need(t, tool+" (apt-get install debootstrap)", err)
	}
}

// buildImage builds the image once per test binary into .imgbatch/image-test/amd64 (kept, so
// its size report and SBOM can be read after the run) and mounts proc in it for the runs.
func buildImage(t *testing.T) built {
	t.Helper()
	needRoot(t)
	buildOnce.Do(func() {
		image.dir = filepath.Join(testutil.RepoRoot(), ".imgbatch", "image-test", "amd64")
		image.rootfs = filepath.Join(image.dir, "rootfs")
		unmountUnder(image.dir)
		start := time.Now()
		cmd := exec.Command(filepath.Join(testutil.RepoRoot(), "scripts", "image-local.sh"), "--out", image.dir)
		out, err := cmd.CombinedOutput()
		image.took, image.log = time.Since(start), string(out)
		if err != nil {
			image.err = fmt.Errorf("scripts/image-local.sh: %w\n%s", err, out)
			return
		}
		if err := syscall.Mount("proc", filepath.Join(image.rootfs, "proc"), "proc", 0, ""); err != nil {
			image.err = fmt.Errorf("mount proc in the image: %w", err)
		}
	})
	if image.err != nil {
		t.Fatal(image.err)
	}
	return image
}

func TestMain(m *testing.M) {
	code := m.Run()
	if image.dir != "" {
		unmountUnder(image.dir)
	}
	os.Exit(code)
}

// unmountUnder unmounts whatever is mounted under dir (a proc left by a killed run).
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return
	}
	defer f.Close()
	var under []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 1 && strings.HasPrefix(fields[1], dir+"/") {
			under = append(under, fields[1])
		}
	}
	for i := len(under) - 1; i >= 0; i-- {
		_ = syscall.Unmount(under[i], syscall.MNT_DETACH)
	}
}

// imageConfig is the image's config (image.conf, `runtime-layer.sh --config`).
func (b built) config(t *testing.T) *config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(b.dir, "image.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return parseConfig(t, string(data), nil)
}

// command is the image's imgbatch with args, to run as the image runs it: chroot into the
// rootfs, uid and gid 10001 with no other groups, in /tmp, with the image's ENV, the PATH
// and HOME an engine sets, and env.
func (b built) command(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	conf := b.config(t)
	cmd := exec.Command(conf.entrypoint[0], append(conf.entrypoint[1:], args...)...)
	cmd.Dir = conf.workdir
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/nonexistent"}
	for k, v := range conf.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     b.rootfs,
		Credential: &syscall.Credential{Uid: uint32(conf.uid(t)), Gid: uint32(conf.gid(t)), Groups: []uint32{}},
		Setpgid:    true,
	}
	return cmd
}
