package s3disk

import (
	"sort"
	"strings"

	"github.com/johannesboyne/gofakes3"
)

// ListBucket lists as S3 does: keys in byte order after the marker, those
// that start with the prefix; with a delimiter, keys that hold it after the
// prefix roll up into one common prefix (counted once against max-keys). A
// marker equal to a common prefix — the NextMarker of a page that ended on
// it — resumes after all its keys.
func (b *Backend) ListBucket(name string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	bk, ok := b.buckets[name]
	if !ok {
		return nil, gofakes3.BucketNotFound(name)
	}
	var pfx, delim string
	if prefix != nil {
		pfx, delim = prefix.Prefix, prefix.Delimiter
	}
	limit := int(page.MaxKeys)
	if limit <= 0 {
		limit = gofakes3.DefaultMaxBucketKeys
	}
	keys := bk.keys
	i := sort.SearchStrings(keys, pfx)
	if page.HasMarker && page.Marker >= pfx {
		i = sort.Search(len(keys), func(j int) bool { return keys[j] > page.Marker })
	}
	out := gofakes3.NewObjectList()
	n, last := 0, ""
	for i < len(keys) && strings.HasPrefix(keys[i], pfx) {
		k := keys[i]
		cp := commonPrefix(k, pfx, delim)
		if cp != "" && page.HasMarker && cp == page.Marker {
			i = skipPrefix(keys, i, cp)
			continue
		}
		if n == limit {
			out.IsTruncated, out.NextMarker = true, last
			break
		}
		n++
		if cp != "" {
			out.AddPrefix(cp)
			last = cp
			i = skipPrefix(keys, i, cp)
			continue
		}
		e := bk.objects[k]
		out.Add(&gofakes3.Content{Key: k, LastModified: gofakes3.NewContentTime(e.Modified),
			ETag: `"` + e.ETag + `"`, Size: e.Size, StorageClass: "STANDARD"})
		last = k
		i++
	}
	return out, nil
}

// commonPrefix is the prefix key rolls up into, or "" when it does not.
func commonPrefix(key, pfx, delim string) string {
	if delim == "" {
		return ""
	}
	j := strings.Index(key[len(pfx):], delim)
	if j < 0 {
		return ""
	}
	return key[:len(pfx)+j+len(delim)]
}

// skipPrefix is the index of the first key at or after i without prefix cp
// (keys sharing a prefix are contiguous in byte order).
func skipPrefix(keys []string, i int, cp string) int {
	return i + sort.Search(len(keys)-i, func(j int) bool { return !strings.HasPrefix(keys[i+j], cp) })
}
