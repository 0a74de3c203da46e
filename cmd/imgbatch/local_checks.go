package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"syscall"
)

// checkLocalDirs fails at once, naming the path, when --images is not a
// directory or --dir cannot be written (read-only, full, not permitted):
// found later, each was a minute of S3 retries ending in a 500.
func checkLocalDirs(o localOptions) error {
	var need int64
	if o.images != "" {
		fi, err := os.Stat(o.images)
		if err != nil {
			return usageErr(fmt.Errorf("--images %s: %w", o.images, err))
		}
		if !fi.IsDir() {
			return usageErr(fmt.Errorf("--images %s is not a directory: give the directory of the images (a manifest of keys goes in --manifest)", o.images))
		}
		if need, err = dirSize(o.images); err != nil {
			return fmt.Errorf("read --images %s: %w", o.images, err)
		}
	}
	return checkWritable(o.dir, need)
}

// checkWritable makes dir and writes, syncs and removes a probe file in
// it; need (bytes about to be stored there) must fit in its free space.
func checkWritable(dir string, need int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--dir %s cannot be created: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("--dir %s is not writable: %w", dir, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, 64<<10))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--dir %s cannot be written: %w", dir, err)
	}
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) == nil {
		if free := int64(st.Bavail) * int64(st.Bsize); need > free {
			return fmt.Errorf("--dir %s has %s free, and the --images alone are %s: free some space or give another --dir", dir, humanBytes(free), humanBytes(need))
		}
	}
	return nil
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}
