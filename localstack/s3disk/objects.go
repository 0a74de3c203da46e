package s3disk

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// PutObject stores the object: bytes under a fresh name, then the .json
// renamed over the old one (the commit), with the conditions checked under
// the lock that commits, so If-None-Match: * admits one writer of a key.
func (b *Backend) PutObject(bucketName, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	if ok, _ := b.BucketExists(bucketName); !ok {
		return gofakes3.PutObjectResult{}, gofakes3.BucketNotFound(bucketName)
	}
	base := b.objectPath(bucketName, key)
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	e := &entry{Key: key, Data: b.nextData(base), Meta: storedMeta(meta)}
	data := filepath.Join(filepath.Dir(base), e.Data)
	e.path = data
	sum, n, err := writeData(data, input)
	if err == nil && n != size {
		err = gofakes3.ErrIncompleteBody
	}
	if err != nil {
		_ = os.Remove(data)
		return gofakes3.PutObjectResult{}, err
	}
	e.Size, e.ETag, e.Modified = n, hex.EncodeToString(sum), time.Now().UTC().Truncate(time.Second)
	if err := b.commit(bucketName, base, e, cond); err != nil {
		_ = os.Remove(data)
		return gofakes3.PutObjectResult{}, err
	}
	return gofakes3.PutObjectResult{}, nil
}

func writeData(path string, r io.Reader) ([]byte, int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, 0, err
	}
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return h.Sum(nil), n, err
}

func (b *Backend) commit(bucketName, base string, e *entry, cond *gofakes3.PutConditions) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, ok := b.buckets[bucketName]
	if !ok {
		return gofakes3.BucketNotFound(bucketName)
	}
	old := bk.objects[e.Key]
	if err := checkConditions(cond, old, e.Key); err != nil {
		return err
	}
	if err := writeAtomic(base+".json", raw); err != nil {
		return fmt.Errorf("commit %q: %w", e.Key, err)
	}
	if old != nil && old.Data != e.Data {
		_ = os.Remove(old.path)
	}
	bk.objects[e.Key] = e
	bk.insertKey(e.Key)
	b.linkView(bucketName, e.Key, e.path)
	return nil
}

// checkConditions answers as S3 does: If-None-Match: * on an existing key
// and an If-Match that differs are 412 PreconditionFailed; If-Match on a
// missing key is 404 NoSuchKey.
func checkConditions(cond *gofakes3.PutConditions, cur *entry, key string) error {
	if cond == nil {
		return nil
	}
	if cond.IfNoneMatch != nil && cur != nil && (*cond.IfNoneMatch == "*" || etagIn(*cond.IfNoneMatch, cur.ETag)) {
		return gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold")
	}
	if cond.IfMatch != nil {
		if cur == nil {
			return gofakes3.KeyNotFound(key)
		}
		if *cond.IfMatch != "*" && !etagIn(*cond.IfMatch, cur.ETag) {
			return gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold")
		}
	}
	return nil
}

// etagIn reports whether etag (hex) is in an If-Match style list.
func etagIn(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}

func (b *Backend) find(bucketName, key string) (*entry, string, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	bk, ok := b.buckets[bucketName]
	if !ok {
		return nil, "", gofakes3.BucketNotFound(bucketName)
	}
	e, ok := bk.objects[key]
	if !ok {
		return nil, "", gofakes3.KeyNotFound(key)
	}
	return e, e.path, nil
}

// open finds the object and opens its bytes under the read lock: a commit
// that replaces or deletes it unlinks the old bytes under the write lock,
// so the file found is the file opened (and, once open, stays whole).
func (b *Backend) open(bucketName, key string) (*entry, *os.File, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	bk, ok := b.buckets[bucketName]
	if !ok {
		return nil, nil, gofakes3.BucketNotFound(bucketName)
	}
	e, ok := bk.objects[key]
	if !ok {
		return nil, nil, gofakes3.KeyNotFound(key)
	}
	if beforeOpen != nil {
		beforeOpen()
	}
	f, err := os.Open(e.path)
	if err != nil {
		return nil, nil, fmt.Errorf("open %q: %w", key, err)
	}
	return e, f, nil
}

// beforeOpen, when set (tests only), runs between finding an object and
// opening its bytes: where a concurrent overwrite must not get in.
var beforeOpen func()

func (e *entry) object(contents io.ReadCloser, rng *gofakes3.ObjectRange) *gofakes3.Object {
	meta := make(map[string]string, len(e.Meta)+1)
	for k, v := range e.Meta {
		meta[k] = v
	}
	meta["Last-Modified"] = e.Modified.Format(http.TimeFormat)
	hash, _ := hex.DecodeString(e.ETag)
	return &gofakes3.Object{Name: e.Key, Metadata: meta, Size: e.Size, Contents: contents, Hash: hash, Range: rng}
}

// GetObject opens the object (or the requested range of it).
func (b *Backend) GetObject(bucketName, key string, rr *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	e, f, err := b.open(bucketName, key)
	if err != nil {
		return nil, err
	}
	rng, err := rr.Range(e.Size)
	if err != nil {
		f.Close()
		return nil, err
	}
	var body io.ReadCloser = f
	if rng != nil {
		body = struct {
			io.Reader
			io.Closer
		}{io.NewSectionReader(f, rng.Start, rng.Length), f}
	}
	return e.object(body, rng), nil
}

// HeadObject answers the object's headers.
func (b *Backend) HeadObject(bucketName, key string) (*gofakes3.Object, error) {
	e, _, err := b.find(bucketName, key)
	if err != nil {
		return nil, err
	}
	return e.object(io.NopCloser(strings.NewReader("")), nil), nil
}

// DeleteObject deletes the object; a missing key is no error (as in S3).
func (b *Backend) DeleteObject(bucketName, key string) (gofakes3.ObjectDeleteResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, ok := b.buckets[bucketName]
	if !ok {
		return gofakes3.ObjectDeleteResult{}, gofakes3.BucketNotFound(bucketName)
	}
	e, ok := bk.objects[key]
	if !ok {
		return gofakes3.ObjectDeleteResult{}, nil
	}
	base := b.objectPath(bucketName, key)
	if err := os.Remove(base + ".json"); err != nil {
		return gofakes3.ObjectDeleteResult{}, fmt.Errorf("delete %q: %w", key, err)
	}
	_ = os.Remove(e.path)
	b.unlinkView(bucketName, key)
	delete(bk.objects, key)
	bk.removeKey(key)
	return gofakes3.ObjectDeleteResult{}, nil
}

// DeleteMulti deletes each key, reporting each.
func (b *Backend) DeleteMulti(bucketName string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	var res gofakes3.MultiDeleteResult
	for _, k := range keys {
		if _, err := b.DeleteObject(bucketName, k); err != nil {
			res.Error = append(res.Error, gofakes3.ErrorResult{Key: k, Code: gofakes3.ErrInternal, Message: err.Error()})
			continue
		}
		res.Deleted = append(res.Deleted, gofakes3.ObjectID{Key: k})
	}
	return res, nil
}
