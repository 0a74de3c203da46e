//go:build linux

package testutil

import (
	"errors"
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of size (mount's size= option, e.g. "2m") on a new
// temporary directory and returns it; unmounted when t ends. Disk-full and
// read-only tests need one: root ignores file modes, so only a real
// filesystem says ENOSPC or EROFS. Mounting needs CAP_SYS_ADMIN (make test
// and CI run as root with it); without it the test skips, naming it.
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755")
	if errors.Is(err, syscall.EPERM) {
		// A capability of the machine, not a package make test can
		// install: a container without CAP_SYS_ADMIN skips (saying so)
		// even under StrictEnv. This machine and CI run as root with it.
		t.Skipf("no permission to mount a tmpfs (needs CAP_SYS_ADMIN): %v", err)
	}
	Need(t, "a tmpfs mount", err)
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// ReadOnly remounts the tmpfs at dir (from Tmpfs) read-only.
func ReadOnly(t testing.TB, dir string) {
	t.Helper()
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
}
