package batch

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/catalog"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
)

// TestCatalogParts: the finalizer writes the catalog beside report.csv,
// a new part every catalogPartRows rows, one row per item in shard order;
// a finalizer that runs again writes the same parts.
func TestCatalogParts(t *testing.T) {
	defer func(n int) { catalogPartRows = n }(catalogPartRows)
	catalogPartRows = 40
	ctx := context.Background()
	s := newStore(t)
	p := mustPlan(t, s, itemtest.NewSource(items(95)...), planOpts())
	const width = 2
	runChildren(t, width, func(i int) *Runner {
		return &Runner{Store: s, RunID: p.Run.ID, Me: Identity{JobID: "j", Index: i, ArraySize: width, Attempt: 1},
			Processor: &echoProcessor{}, LeaseTTL: time.Second, Poll: 50 * time.Millisecond, Linger: true}
	})
	lay := imgbatch.Layout{RunID: p.Run.ID}
	read := func() ([]map[string]any, [][]byte) {
		var rows []map[string]any
		var raw [][]byte
		for n := range 3 {
			b, _, err := s.Get(ctx, lay.CatalogPart(n))
			if err != nil {
				t.Fatalf("part %d: %v", n, err)
			}
			part, err := catalog.Read(bytes.NewReader(b), int64(len(b)))
			if err != nil || len(part) != min(40, 95-40*n) {
				t.Fatalf("part %d: %d rows, %v", n, len(part), err)
			}
			rows, raw = append(rows, part...), append(raw, b)
		}
		if _, _, err := s.Get(ctx, lay.CatalogPart(3)); !IsNotFound(err) {
			t.Errorf("a fourth part: %v", err)
		}
		return rows, raw
	}
	rows, first := read()
	failed := 0
	for i, r := range rows {
		if want := fmt.Sprintf("k/%05d.jpg", i); r["key"] != want || r["run_id"] != p.Run.ID || r["bucket"] != "src" {
			t.Fatalf("row %d: %v, want key %s", i, r, want)
		}
		if r["status"] == "failed" {
			failed++
			if r["error_code"] != "CorruptImage" {
				t.Errorf("row %d: %v", i, r)
			}
		}
	}
	if failed != 9 {
		t.Errorf("%d failed rows, want 9", failed)
	}
	// The finalizer again (a retry after a lost lease): the same bytes;
	// final.json and summary.json name the catalog.
	fin, _, err := writeReports(ctx, s, &p.Run, false)
	if err != nil {
		t.Fatal(err)
	}
	if fin.Catalog != lay.CatalogPrefix() {
		t.Errorf("final says catalog %q", fin.Catalog)
	}
	if _, again := read(); !bytes.Equal(again[0], first[0]) || !bytes.Equal(again[2], first[2]) {
		t.Error("a second finalization wrote other catalog parts")
	}
}
