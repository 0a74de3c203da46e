//go:build linux

package testutil

import (
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of size (mount's size= option, e.g. "2m") on a new
// temporary directory and returns it; unmounted when t ends. Disk-full and
// read-only tests need one: root ignores file modes, so only a real
// filesystem says ENOSPC or EROFS. Mounting needs root (make test and CI
// run as root); without it the test skips, or fails under StrictEnv.
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755")
	Need(t, "permission to mount a tmpfs (root)", err)
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
