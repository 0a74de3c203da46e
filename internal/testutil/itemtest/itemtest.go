// Package itemtest makes manifest items for tests. It imports the root
// package, so it lives apart from testutil (which the root package's own
// tests may use).
package itemtest

import (
	"io"

	"github.com/imgbatch/imgbatch"
)

// Items is one item per key, all in bucket.
func Items(bucket string, keys ...string) []imgbatch.Item {
	out := make([]imgbatch.Item, len(keys))
	for i, k := range keys {
		out[i] = imgbatch.Item{Bucket: bucket, Key: k}
	}
	return out
}

// Source hands out Items in order, then Err (io.EOF when nil): a
// manifest.Reader and a batch.Source over a slice.
type Source struct {
	Items []imgbatch.Item
	Err   error
}

// NewSource is a Source over items.
func NewSource(items ...imgbatch.Item) *Source { return &Source{Items: items} }

// Next returns the next item.
func (s *Source) Next() (imgbatch.Item, error) {
	if len(s.Items) == 0 {
		if s.Err != nil {
			return imgbatch.Item{}, s.Err
		}
		return imgbatch.Item{}, io.EOF
	}
	it := s.Items[0]
	s.Items = s.Items[1:]
	return it, nil
}
