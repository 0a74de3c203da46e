package s3disk

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// formatLine is the content of <dir>/FORMAT.
const formatLine = "imgbatch-s3disk 1\n"

// entry is one object, as its .json sidecar holds it.
type entry struct {
	Key      string            `json:"key"`
	Data     string            `json:"data"` // the byte file's name, beside the .json
	Size     int64             `json:"size"`
	ETag     string            `json:"etag"` // hex MD5 (no quotes)
	Modified time.Time         `json:"modified"`
	Meta     map[string]string `json:"meta,omitempty"`

	path string // the byte file's full path (not stored: derived)
}

type bucket struct {
	created time.Time
	objects map[string]*entry
	keys    []string // sorted (byte order, as S3 lists)
}

func (b *bucket) insertKey(k string) {
	i := sort.SearchStrings(b.keys, k)
	if i < len(b.keys) && b.keys[i] == k {
		return
	}
	b.keys = append(b.keys, "")
	copy(b.keys[i+1:], b.keys[i:])
	b.keys[i] = k
}

func (b *bucket) removeKey(k string) {
	i := sort.SearchStrings(b.keys, k)
	if i < len(b.keys) && b.keys[i] == k {
		b.keys = append(b.keys[:i], b.keys[i+1:]...)
	}
}

// Backend is the disk store; safe for concurrent use.
type Backend struct {
	root    string
	mu      sync.RWMutex
	buckets map[string]*bucket
	seq     atomic.Uint64
}

// ErrOldLayout says dir holds gofakes3's own layout (buckets/ and metadata/).
var ErrOldLayout = errors.New("old layout")

// Open opens (or creates) the store in dir and loads its index. A dir
// written by an older imgbatch (gofakes3's layout) is refused with
// ErrOldLayout: its keys were file paths, which is what broke.
func Open(dir string) (*Backend, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := checkFormat(dir); err != nil {
		return nil, err
	}
	b := &Backend{root: dir, buckets: map[string]*bucket{}}
	b.seq.Store(uint64(time.Now().UnixNano()))
	if err := b.load(); err != nil {
		return nil, fmt.Errorf("s3 store %s: %w", dir, err)
	}
	return b, nil
}

func checkFormat(dir string) error {
	got, err := os.ReadFile(filepath.Join(dir, "FORMAT"))
	switch {
	case err == nil && string(got) == formatLine:
		return nil
	case err == nil:
		return fmt.Errorf("s3 store %s: FORMAT says %q, this imgbatch reads %q", dir, strings.TrimSpace(string(got)), strings.TrimSpace(formatLine))
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "metadata")); err == nil {
		return fmt.Errorf("%w: %s holds the S3 data of an older imgbatch (buckets/ and metadata/, keys as file paths); "+
			"its files stay readable under %s, but this imgbatch cannot serve them: use a fresh --dir, or move %s away and run again",
			ErrOldLayout, dir, filepath.Join(dir, "buckets"), dir)
	}
	return writeAtomic(filepath.Join(dir, "FORMAT"), []byte(formatLine))
}

func (b *Backend) bucketDir(name string) string { return filepath.Join(b.root, "objects", name) }

// objectPath is the .json path of key in bucket, without the extension.
func (b *Backend) objectPath(bucketName, key string) string {
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	return filepath.Join(b.bucketDir(bucketName), h[:2], h)
}

func (b *Backend) nextData(base string) string {
	return filepath.Base(base) + "." + strconv.FormatUint(b.seq.Add(1), 36)
}

// load rebuilds the index from the .json files and removes byte files no
// .json names (left by a write that crashed before its commit).
func (b *Backend) load() error {
	des, err := os.ReadDir(filepath.Join(b.root, "objects"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, de := range des {
		if !de.IsDir() {
			continue
		}
		bk, err := b.loadBucket(de.Name())
		if err != nil {
			return fmt.Errorf("bucket %s: %w", de.Name(), err)
		}
		b.buckets[de.Name()] = bk
	}
	return nil
}

func (b *Backend) loadBucket(name string) (*bucket, error) {
	bk := &bucket{objects: map[string]*entry{}}
	dir := b.bucketDir(name)
	if raw, err := os.ReadFile(filepath.Join(dir, "bucket.json")); err == nil {
		var info struct{ Created time.Time }
		if err := json.Unmarshal(raw, &info); err != nil {
			return nil, fmt.Errorf("bucket.json: %w", err)
		}
		bk.created = info.Created
	}
	subs, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range subs {
		if sub.IsDir() {
			if err := b.loadShard(bk, filepath.Join(dir, sub.Name())); err != nil {
				return nil, err
			}
		}
	}
	sort.Strings(bk.keys)
	return bk, nil
}

func (b *Backend) loadShard(bk *bucket, dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s: %w", de.Name(), err)
		}
		e.path = filepath.Join(dir, e.Data)
		bk.objects[e.Key] = &e
		bk.keys = append(bk.keys, e.Key)
		used[e.Data] = true
	}
	for _, de := range des {
		if n := de.Name(); !strings.HasSuffix(n, ".json") && !used[n] {
			_ = os.Remove(filepath.Join(dir, n)) // an uncommitted write
		}
	}
	return nil
}

// writeAtomic writes data to path through a temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
