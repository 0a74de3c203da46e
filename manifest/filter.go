package manifest

import (
	"fmt"
	"strings"
	"time"
)

// filter is a compiled Filter.
type filter struct {
	exts     []string // ".jpg", lower case
	min, max int64
	since    time.Time
}

func (f Filter) compile() (*filter, error) {
	c := &filter{min: f.MinSize, max: f.MaxSize, since: f.ModifiedSince}
	if f.MinSize < 0 || f.MaxSize < 0 {
		return nil, fmt.Errorf("manifest: negative size filter")
	}
	if f.MaxSize > 0 && f.MinSize > f.MaxSize {
		return nil, fmt.Errorf("manifest: MinSize %d > MaxSize %d", f.MinSize, f.MaxSize)
	}
	for _, e := range f.Extensions {
		e = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(e), "."))
		if e != "" {
			c.exts = append(c.exts, "."+e)
		}
	}
	return c, nil
}

// keep reports whether the record passes.
func (f *filter) keep(r *record) bool {
	if len(f.exts) > 0 {
		ok := false
		k := r.item.Key
		for _, e := range f.exts {
			if len(k) > len(e) && strings.EqualFold(k[len(k)-len(e):], e) && k[len(k)-len(e)-1] != '/' {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if r.hasSize {
		if r.item.Size < f.min || f.max > 0 && r.item.Size > f.max {
			return false
		}
	}
	if !f.since.IsZero() && !r.modified.IsZero() && r.modified.Before(f.since) {
		return false
	}
	return true
}
