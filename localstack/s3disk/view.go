package s3disk

import (
	"os"
	"path/filepath"
	"strings"
)

func (b *Backend) viewDir(bucketName string) string {
	return filepath.Join(b.root, "buckets", bucketName)
}

// viewPath is where a person finds key as a file, or "" when key is not a
// clean relative path (leading or doubled "/", "." or "..", trailing "/").
func (b *Backend) viewPath(bucketName, key string) string {
	if key == "" || strings.HasSuffix(key, "/") || strings.ContainsRune(key, 0) {
		return ""
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." || len(seg) > 255 {
			return ""
		}
	}
	return filepath.Join(b.viewDir(bucketName), filepath.FromSlash(key))
}

// linkView points the view at data, best effort: a key whose path clashes
// with another key's directory (or file) just stays out of the view.
func (b *Backend) linkView(bucketName, key, data string) {
	p := b.viewPath(bucketName, key)
	if p == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return
	}
	tmp := p + ".s3disk-link"
	_ = os.Remove(tmp)
	if err := os.Link(data, tmp); err != nil {
		return
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
	}
}

func (b *Backend) unlinkView(bucketName, key string) {
	if p := b.viewPath(bucketName, key); p != "" {
		_ = os.Remove(p)
	}
}
