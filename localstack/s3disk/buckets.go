package s3disk

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// ListBuckets lists the buckets by name.
func (b *Backend) ListBuckets() ([]gofakes3.BucketInfo, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]gofakes3.BucketInfo, 0, len(b.buckets))
	for name, bk := range b.buckets {
		out = append(out, gofakes3.BucketInfo{Name: name, CreationDate: gofakes3.NewContentTime(bk.created)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CreateBucket creates an empty bucket.
func (b *Backend) CreateBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.buckets[name]; ok {
		return gofakes3.ResourceError(gofakes3.ErrBucketAlreadyExists, name)
	}
	dir := b.bucketDir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	now := time.Now().UTC()
	raw, _ := json.Marshal(struct{ Created time.Time }{now})
	if err := writeAtomic(filepath.Join(dir, "bucket.json"), raw); err != nil {
		return err
	}
	b.buckets[name] = &bucket{created: now, objects: map[string]*entry{}}
	return nil
}

// BucketExists reports whether the bucket exists.
func (b *Backend) BucketExists(name string) (bool, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	_, ok := b.buckets[name]
	return ok, nil
}

// DeleteBucket deletes an empty bucket.
func (b *Backend) DeleteBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, ok := b.buckets[name]
	if !ok {
		return gofakes3.BucketNotFound(name)
	}
	if len(bk.objects) > 0 {
		return gofakes3.ResourceError(gofakes3.ErrBucketNotEmpty, name)
	}
	return b.dropBucket(name)
}

// ForceDeleteBucket deletes a bucket and everything in it.
func (b *Backend) ForceDeleteBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.buckets[name]; !ok {
		return gofakes3.BucketNotFound(name)
	}
	return b.dropBucket(name)
}

func (b *Backend) dropBucket(name string) error {
	if err := os.RemoveAll(b.bucketDir(name)); err != nil {
		return err
	}
	_ = os.RemoveAll(b.viewDir(name))
	delete(b.buckets, name)
	return nil
}
