package s3disk

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
)

func put(t *testing.T, b *Backend, key, body string, meta map[string]string) {
	t.Helper()
	if _, err := b.PutObject("bk", key, meta, strings.NewReader(body), int64(len(body)), nil); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

func read(t *testing.T, b *Backend, key string) (string, map[string]string) {
	t.Helper()
	o, err := b.GetObject("bk", key, nil)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	defer o.Contents.Close()
	got, err := io.ReadAll(o.Contents)
	if err != nil {
		t.Fatal(err)
	}
	return string(got), o.Metadata
}

func listAll(t *testing.T, b *Backend) []string {
	t.Helper()
	l, err := b.ListBucket("bk", nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range l.Contents {
		keys = append(keys, c.Key)
	}
	return keys
}

// TestRestartKeepsKeysAndHeaders: keys that are not paths, and the
// headers S3 stores, come back the same from a reopened store; the view
// shows clean keys as files; an overwrite leaves one byte file.
func TestRestartKeepsKeysAndHeaders(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateBucket("bk"); err != nil {
		t.Fatal(err)
	}
	keys := []string{"/lead.jpg", "a/../b.jpg", "thumb//x.jpg", "dir/", "out/a.jpg", "é/ü"}
	for _, k := range keys {
		put(t, b, k, "v1 "+k, nil)
	}
	put(t, b, "out/a.jpg", "v2", map[string]string{"Content-Type": "image/jpeg", carryPrefix + "Cache-Control": "max-age=9",
		"X-Amz-Meta-Src": "s", "X-Amz-Date": "20260101T000000Z"})
	b2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lead.jpg", "a/../b.jpg", "dir/", "out/a.jpg", "thumb//x.jpg", "é/ü"}
	if got := listAll(t, b2); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("reopened store lists %q, want %q", got, want)
	}
	for _, k := range keys[:4] {
		if got, _ := read(t, b2, k); got != "v1 "+k {
			t.Errorf("%q reads %q", k, got)
		}
	}
	body, meta := read(t, b2, "out/a.jpg")
	if body != "v2" || meta["Cache-Control"] != "max-age=9" || meta["Content-Type"] != "image/jpeg" || meta["X-Amz-Meta-Src"] != "s" || meta["X-Amz-Date"] != "" {
		t.Errorf("out/a.jpg reads %q %v", body, meta)
	}
	if v, err := os.ReadFile(filepath.Join(dir, "buckets", "bk", "out", "a.jpg")); err != nil || string(v) != "v2" {
		t.Errorf("view of out/a.jpg: %q %v", v, err)
	}
	shard := filepath.Dir(b2.objectPath("bk", "out/a.jpg"))
	if files, _ := os.ReadDir(shard); len(files) != 2 { // the .json and one byte file
		t.Errorf("after an overwrite %s holds %d files, want 2", shard, len(files))
	}
}

// TestUncommittedWriteIsRemoved: a byte file no .json names (a crash
// before the commit) is removed at the next start, and the object stays.
func TestUncommittedWriteIsRemoved(t *testing.T) {
	dir := t.TempDir()
	b, _ := Open(dir)
	_ = b.CreateBucket("bk")
	put(t, b, "k", "old", nil)
	orphan := b.objectPath("bk", "k") + ".zz"
	if err := os.WriteFile(orphan, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	b2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan byte file still there: %v", err)
	}
	if got, _ := read(t, b2, "k"); got != "old" {
		t.Errorf("k reads %q", got)
	}
}

// TestOldLayoutRefused: a --dir of gofakes3's own layout is refused with a
// message that says what to do, and nothing in it is changed.
func TestOldLayoutRefused(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"buckets/output/thumb", "metadata/output"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Open(dir)
	if !errors.Is(err, ErrOldLayout) || !strings.Contains(err.Error(), "fresh --dir") {
		t.Fatalf("Open(old layout) = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "FORMAT")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FORMAT written into an old layout")
	}
}

// TestDeleteAndRange: a ranged read, a delete that removes the view and
// the files, a delete of a missing key that is no error.
func TestDeleteAndRange(t *testing.T) {
	dir := t.TempDir()
	b, _ := Open(dir)
	_ = b.CreateBucket("bk")
	put(t, b, "p/q", "0123456789", nil)
	o, err := b.GetObject("bk", "p/q", &gofakes3.ObjectRangeRequest{Start: 2, End: 4})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(o.Contents)
	o.Contents.Close()
	if !bytes.Equal(got, []byte("234")) {
		t.Errorf("range 2-4 reads %q", got)
	}
	if _, err := b.DeleteObject("bk", "p/q"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.DeleteObject("bk", "p/q"); err != nil {
		t.Errorf("delete of a missing key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "buckets", "bk", "p", "q")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("view file survives the delete: %v", err)
	}
	if files, _ := os.ReadDir(filepath.Dir(b.objectPath("bk", "p/q"))); len(files) != 0 {
		t.Errorf("store files survive the delete: %d", len(files))
	}
}

// TestReadWhileOverwritten: a GET of a key that is overwritten between
// finding the object and opening its bytes (a lease, a checkpoint) still
// reads one whole version: the overwrite waits for the open, instead of
// unlinking the bytes the GET found ("no such file").
func TestReadWhileOverwritten(t *testing.T) {
	b, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateBucket("bk"); err != nil {
		t.Fatal(err)
	}
	put(t, b, "claim.json", "version 1", nil)
	overwritten := make(chan error, 1)
	beforeOpen = func() {
		beforeOpen = nil
		go func() {
			_, err := b.PutObject("bk", "claim.json", nil, strings.NewReader("version 2"), 9, nil)
			overwritten <- err
		}()
		// Give the overwrite time to get as far as it can.
		select {
		case err := <-overwritten:
			overwritten <- err
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Cleanup(func() { beforeOpen = nil })
	got, _ := read(t, b, "claim.json")
	if got != "version 1" {
		t.Errorf("read %q, want the version found (version 1)", got)
	}
	if err := <-overwritten; err != nil {
		t.Fatal(err)
	}
	if got, _ := read(t, b, "claim.json"); got != "version 2" {
		t.Errorf("after the overwrite: %q", got)
	}
}
