package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/manifest"
)

func TestPlanRunDedupesAndCountsDuplicates(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	its := items(30)
	its = append(its, its[3], its[3], its[17]) // three repeats
	its = append(its, imgbatch.Item{Bucket: "src", Key: its[5].Key, VersionID: "v2", Size: 1000})
	o := planOpts()
	o.Dedupe = true
	o.DedupeDir = t.TempDir()
	p := mustPlan(t, s, itemtest.NewSource(its...), o)
	if p.Run.Items != 31 || p.Run.Duplicates != 3 {
		t.Fatalf("plan: %d items, %d duplicates; want 31 (30 keys + another version) and 3", p.Run.Items, p.Run.Duplicates)
	}
	run, err := s.LoadRun(ctx, p.Run.ID)
	if err != nil || run.Duplicates != 3 {
		t.Fatalf("run.json duplicates %d (%v), want 3", run.Duplicates, err)
	}
	seen := map[string]int{}
	for n := 0; n < p.Run.Shards; n++ {
		sh, err := s.LoadShard(ctx, p.Run.ID, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range sh {
			seen[it.Key+"?"+it.VersionID]++
		}
	}
	if len(seen) != 31 {
		t.Errorf("shards hold %d distinct items, want 31", len(seen))
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%s is planned %d times", k, c)
		}
	}
}

func TestPlanRunDryRunWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := planOpts()
	o.DryRun = true
	o.ClientToken = "dry"
	p := mustPlan(t, s, withErrs(items(25), map[int]error{7: badLine(8)}), o)
	if p.Run.Items != 24 || p.Run.Shards != 3 || p.Shards.Count != 3 || len(p.BadLines) != 1 || !strings.Contains(p.BadLines[0], "keys.txt:8") {
		t.Fatalf("dry run: %+v", p)
	}
	n := 0
	if err := s.List(ctx, "", func(string, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("a dry run wrote %d objects", n)
	}
}

func TestShardSizingByItemsBytesAndDuration(t *testing.T) {
	cases := []struct {
		name      string
		sizing    ShardSizing
		wantItems int
		wantBytes int64
	}{
		{"defaults", ShardSizing{}, DefaultShardSize, 0},
		{"items and bytes", ShardSizing{Items: 500, Bytes: 1 << 30}, 500, 1 << 30},
		// 60 s at 10 items/s = 600 > 500: the item limit stays; 60 s at 1 MB/s = 60 MB < 1 GiB.
		{"duration lowers bytes", ShardSizing{Items: 500, Bytes: 1 << 30, TargetDuration: time.Minute, ItemsPerSecond: 10, BytesPerSecond: 1e6}, 500, 60e6},
		// 30 s at 2 items/s = 60 items.
		{"duration lowers items", ShardSizing{Items: 500, TargetDuration: 30 * time.Second, ItemsPerSecond: 2, BytesPerSecond: 1e9}, 60, 30e9},
		{"at least one item", ShardSizing{TargetDuration: time.Millisecond, ItemsPerSecond: 1}, 1, int64(DefaultBytesPerSecond / 1000)},
	}
	for _, c := range cases {
		items, bytes := c.sizing.Limits()
		if items != c.wantItems || bytes != c.wantBytes {
			t.Errorf("%s: limits %d items, %d bytes; want %d, %d", c.name, items, bytes, c.wantItems, c.wantBytes)
		}
	}
	if d := (ShardSizing{ItemsPerSecond: 10, BytesPerSecond: 1e6}).Estimate(100, 50e6); d != 50*time.Second {
		t.Errorf("estimate of 100 items, 50 MB at 10/s and 1 MB/s: %s, want 50s (bytes are slower)", d)
	}
}

func TestPlanRunCutsShardsByBytes(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	its := make([]imgbatch.Item, 20)
	for i := range its {
		its[i] = imgbatch.Item{Bucket: "src", Key: fmt.Sprintf("big/%02d.jpg", i), Size: 400}
		if i >= 10 {
			its[i].Size = 10
		}
	}
	o := planOpts()
	o.ShardSize = 8
	o.ShardBytes = 1000 // 3 big items (1200 bytes) per shard
	p := mustPlan(t, s, itemtest.NewSource(its...), o)
	// big: 3+3+3+1 (then 7 small: 1+7 = 8 items) → shards of 3,3,3,8,3.
	want := []int{3, 3, 3, 8, 3}
	if p.Run.Shards != len(want) {
		t.Fatalf("%d shards, want %d; stats %+v", p.Run.Shards, len(want), p.Shards)
	}
	for n, w := range want {
		sh, err := s.LoadShard(ctx, p.Run.ID, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(sh) != w {
			t.Errorf("shard %d has %d items, want %d", n, len(sh), w)
		}
	}
	if p.Shards.CutByBytes != 3 || p.Shards.MaxItems != 8 || p.Shards.MinItems != 3 || p.Shards.MaxBytes != 1200 {
		t.Errorf("shard stats %+v", p.Shards)
	}
	if p.Run.ShardSize != 8 {
		t.Errorf("run.json shardSize %d, want 8", p.Run.ShardSize)
	}
}

func TestAppendItemJSONMatchesEncodingJSON(t *testing.T) {
	for _, it := range []imgbatch.Item{
		{Bucket: "b", Key: "plain/key.jpg"},
		{Bucket: "b", Key: `quote " back\slash <tag> & more`, VersionID: "v1", Size: 12, ETag: "abc"},
		{Bucket: "b", Key: "ünïcode/日本.jpg\x01\t", Size: -1},
		{Bucket: "b", Key: "bad utf8 \xff\xfe"},
	} {
		got := appendItemJSON(nil, it)
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(it); err != nil {
			t.Fatal(err)
		}
		if string(got) != want.String() {
			t.Errorf("item %q:\n got %s\nwant %s", it.Key, got, want.String())
		}
	}
}

// The planner reads manifests through manifest.Open; its line errors are
// the bad lines, with their numbers.
func TestPlanRunFromManifestKeysWithBadLinesAndDuplicates(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	body := "a.jpg\nb.jpg\na.jpg\nbad\x01key.jpg\nc.jpg\nb.jpg\n"
	path := testutil.WriteTemp(t, "keys.txt", body)
	r, closer, err := manifest.Open(ctx, path, manifest.Options{DefaultBucket: "src"})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	o := planOpts()
	o.Dedupe = true
	p := mustPlan(t, s, r, o)
	if p.Run.Items != 3 || p.Run.Duplicates != 2 || p.Run.BadLines != 1 {
		t.Fatalf("plan: items %d duplicates %d bad %d; want 3, 2, 1", p.Run.Items, p.Run.Duplicates, p.Run.BadLines)
	}
	if len(p.BadLines) != 1 || !strings.Contains(p.BadLines[0], "keys.txt:4") {
		t.Errorf("bad lines %q, want line 4 named", p.BadLines)
	}
	if m := p.Manifest; m.Lines != 6 || m.Items != 3 || m.Duplicates != 2 || m.BadLines != 1 {
		t.Errorf("manifest stats %+v", m)
	}
	b, _, err := s.Get(ctx, imgbatch.Layout{RunID: p.Run.ID}.BadLines())
	if err != nil || !strings.Contains(string(b), "keys.txt:4") {
		t.Errorf("bad-lines.txt: %q %v", b, err)
	}
}

// Only a *manifest.LineError is a bad line: any other error of the source
// ends the plan.
func TestPlanRunOtherSourceErrorIsFatal(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	reset := errors.New("connection reset")
	_, err := s.PlanRun(ctx, withErrs(items(5), map[int]error{2: reset}), planOpts())
	if !errors.Is(err, reset) {
		t.Fatalf("plan over a broken source: %v, want its error", err)
	}
}
