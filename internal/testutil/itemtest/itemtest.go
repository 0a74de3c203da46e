// Package itemtest makes manifest items for tests. It imports the root
// package, so it lives apart from testutil (which the root package's own
// tests may use).
package itemtest

import (
	"bytes"
	"encoding/csv"
	"io"
	"net/url"
	"testing"

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

// Report is a completion report (report.csv: Bucket, Key, VersionId,
// TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage; keys URL-encoded).
type Report struct {
	ByKey map[string][]string // decoded key → its row (the last one)
	Rows  int
	Dups  []string // keys with more than one row, once per extra row
}

// ParseReport parses a report.csv; t fails on a row that does not have 7
// columns or a key that is not URL-encoded.
func ParseReport(t testing.TB, data []byte) Report {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("report.csv: %v", err)
	}
	rep := Report{ByKey: map[string][]string{}, Rows: len(rows)}
	for _, r := range rows {
		if len(r) != 7 {
			t.Fatalf("report row has %d columns, want 7 (Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage): %q", len(r), r)
		}
		key, err := url.QueryUnescape(r[1])
		if err != nil {
			t.Fatalf("report key %q is not URL-encoded: %v", r[1], err)
		}
		if _, dup := rep.ByKey[key]; dup {
			rep.Dups = append(rep.Dups, key)
		}
		rep.ByKey[key] = r
	}
	return rep
}

// CoverOnce checks that a run's report.csv and remaining.csv (S3 Batch
// Operations CSV: bucket,key[,versionId], keys URL-encoded), as an ended
// run writes them, together hold each of keys exactly once and nothing
// else; it returns the parsed report and the keys of remaining.csv.
func CoverOnce(t testing.TB, report, remaining []byte, keys []string) (Report, []string) {
	t.Helper()
	rep := ParseReport(t, report)
	seen := map[string]int{}
	for k := range rep.ByKey {
		seen[k]++
	}
	rows, err := csv.NewReader(bytes.NewReader(remaining)).ReadAll()
	if err != nil {
		t.Fatalf("remaining.csv: %v", err)
	}
	var left []string
	for _, r := range rows {
		if len(r) < 2 {
			t.Fatalf("remaining.csv row %q: want bucket,key[,versionId]", r)
		}
		k, err := url.QueryUnescape(r[1])
		if err != nil {
			t.Fatalf("remaining.csv key %q is not URL-encoded: %v", r[1], err)
		}
		left = append(left, k)
		seen[k]++
	}
	for _, k := range keys {
		if seen[k] != 1 {
			t.Errorf("%s is %d times in report.csv + remaining.csv, want once", k, seen[k])
		}
	}
	if len(seen) != len(keys) || rep.Rows != len(rep.ByKey) {
		t.Errorf("report.csv (%d rows) + remaining.csv (%d) hold %d keys, want %d", rep.Rows, len(left), len(seen), len(keys))
	}
	return rep, left
}
