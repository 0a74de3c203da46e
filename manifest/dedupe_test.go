package manifest

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
)

// genReader yields n items; every tenth one repeats the key of the item five
// before it (with a different Size, to tell which occurrence is kept). Item i
// has Size i, so a kept item has Size == its number in the key.
type genReader struct {
	n, i int
	buf  []byte
}

func (g *genReader) Next() (imgbatch.Item, error) {
	if g.i >= g.n {
		return imgbatch.Item{}, io.EOF
	}
	i := g.i
	g.i++
	id := i
	if i%10 == 9 {
		id = i - 5
	}
	g.buf = append(g.buf[:0], "photos/2024/06/"...)
	g.buf = strconv.AppendInt(g.buf, int64(id), 10)
	g.buf = append(g.buf, "/original.jpg"...)
	return imgbatch.Item{Bucket: "source-bucket", Key: string(g.buf), Size: int64(i), ETag: "d41d8cd98f00b204e9800998ecf8427e"}, nil
}

func genID(t testing.TB, key string) int {
	s := strings.TrimSuffix(strings.TrimPrefix(key, "photos/2024/06/"), "/original.jpg")
	id, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("key %q", key)
	}
	return id
}

// dedupeAll runs Dedupe over r and checks the output of a genReader: each
// distinct item once, its first occurrence. It returns a hash of the order.
func dedupeAll(t testing.TB, n, mem int) (uint64, Stats) {
	t.Helper()
	dir := t.TempDir()
	d := Dedupe(&genReader{n: n}, dir, mem)
	seen := make([]bool, n)
	h := fnv.New64a()
	count := 0
	each(t, d, func(it imgbatch.Item) {
		id := genID(t, it.Key)
		if seen[id] {
			t.Fatalf("%s twice", it.Key)
		}
		seen[id] = true
		if it.Size != int64(id) || it.Bucket != "source-bucket" || it.ETag != "d41d8cd98f00b204e9800998ecf8427e" {
			t.Fatalf("not the first occurrence: %+v", it)
		}
		h.Write([]byte(it.Key))
		count++
	})
	for id, ok := range seen {
		if ok == (id%10 == 9) {
			t.Fatalf("item %d seen=%v", id, ok)
		}
	}
	st := d.Stats()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	return h.Sum64(), st
}

func TestDedupe(t *testing.T) {
	const n = 200000
	for _, mem := range []int{0, 64 << 10} { // the second forces partitions to be split
		t.Run(fmt.Sprint("mem=", mem), func(t *testing.T) {
			h1, st := dedupeAll(t, n, mem)
			if st.Items != n*9/10 || st.Duplicates != n/10 {
				t.Errorf("stats %+v, want %d items and %d duplicates", st, n*9/10, n/10)
			}
			if h2, _ := dedupeAll(t, n, mem); h1 != h2 {
				t.Errorf("output order differs between two runs")
			}
		})
	}
}

func TestDedupeIdentity(t *testing.T) {
	items := []imgbatch.Item{
		{Bucket: "b", Key: "k"},
		{Bucket: "b", Key: "k", VersionID: "v1"},
		{Bucket: "b", Key: "k", VersionID: "v1", Size: 9}, // duplicate
		{Bucket: "b2", Key: "k"},
		{Bucket: "b", Key: "k\x00"},
		{Bucket: "b", Key: "k", VersionID: "\x00"},
		{Bucket: "b", Key: "k"}, // duplicate
		{Bucket: "b", Key: "K"},
	}
	d := Dedupe(itemtest.NewSource(items...), t.TempDir(), 0)
	defer d.Close()
	got := drain(t, d).items
	if len(got) != 6 || d.Stats().Duplicates != 2 {
		t.Errorf("got %+v, stats %+v", got, d.Stats())
	}
	for _, it := range got {
		if it.Size != 0 {
			t.Errorf("kept a later occurrence: %+v", it)
		}
	}
}

// TestDedupeOneKey: a partition full of one key never needs splitting.
func TestDedupeOneKey(t *testing.T) {
	var items []imgbatch.Item
	for i := range 100000 {
		items = append(items, imgbatch.Item{Bucket: "b", Key: "same.jpg"})
		if i%10000 == 0 {
			items = append(items, imgbatch.Item{Bucket: "b", Key: fmt.Sprint(i)})
		}
	}
	d := Dedupe(itemtest.NewSource(items...), t.TempDir(), 16<<10)
	defer d.Close()
	if got := drain(t, d).items; len(got) != 11 || d.Stats().Duplicates != 99999 {
		t.Errorf("%d items, stats %+v", len(got), d.Stats())
	}
}

func TestDedupeLineErrorsAndStats(t *testing.T) {
	r := openFile(t, "keys.txt", "a\nb\n\x01\na\ns3://other/a\n\nb\ns3://x\n# c\nc.png\n", Options{DefaultBucket: "bkt", Filter: Filter{Extensions: []string{"png"}}})
	d := Dedupe(r, t.TempDir(), 0)
	defer d.Close()
	// Before reading anything, the stats are zero.
	if st := d.Stats(); st != (Stats{}) {
		t.Errorf("stats %+v", st)
	}
	r2 := openFile(t, "keys.txt", "a\nb\n\x01\na\ns3://other/a\n\nb\ns3://x\n# c\nc.png\n", Options{DefaultBucket: "bkt"})
	d2 := Dedupe(r2, t.TempDir(), 0)
	defer d2.Close()
	got := drain(t, d2)
	checkBad(t, got.bad, []badLine{{"keys.txt", 3, "control"}, {"keys.txt", 8, "without a key"}})
	if len(got.items) != 4 {
		t.Errorf("items %+v", got.items)
	}
	if st := d2.Stats(); st != (Stats{Lines: 8, Items: 4, BadLines: 2, Duplicates: 2}) {
		t.Errorf("stats %+v", st)
	}
	got = drain(t, d)
	if st := d.Stats(); len(got.items) != 1 || st != (Stats{Lines: 8, Items: 1, BadLines: 2, Filtered: 5}) {
		t.Errorf("items %+v stats %+v", got.items, st)
	}
}

func TestDedupeErrors(t *testing.T) {
	boom := errors.New("boom")
	d := Dedupe(&itemtest.Source{Items: []imgbatch.Item{{Bucket: "b", Key: "k"}}, Err: boom}, t.TempDir(), 0)
	if _, err := d.Next(); err != boom {
		t.Errorf("err = %v", err)
	}
	if _, err := d.Next(); err != boom {
		t.Errorf("second err = %v", err)
	}
	d.Close()

	dir := t.TempDir()
	d = Dedupe(&genReader{n: 1000}, dir, 0)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	d.Close() // mid-stream
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, err := d.Next(); err == nil || err == io.EOF {
		t.Errorf("Next after Close = %v", err)
	}

	d = Dedupe(&genReader{n: 10}, filepath.Join(dir, "missing", "dir"), 0)
	if _, err := d.Next(); err == nil || err == io.EOF {
		t.Errorf("missing dir: %v", err)
	}
}

// peakRSS resets the process's peak RSS (where Linux allows) and returns a
// function reading it, in bytes; 0 where unknown.
func peakRSS() func() int64 {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return func() int64 {
		f, err := os.Open("/proc/self/status")
		if err != nil {
			return 0
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb << 10
			}
		}
		return 0
	}
}

// TestDedupeLarge: 10 M keys (10 % duplicates) in < 60 s and < 100 MB RSS.
func TestDedupeLarge(t *testing.T) {
	testutil.Long(t, "10 M keys")
	const n = 10_000_000
	runtime.GC()
	peak := peakRSS()
	start := time.Now()
	d := Dedupe(&genReader{n: n}, t.TempDir(), 0)
	defer d.Close()
	var items int64
	each(t, d, func(imgbatch.Item) { items++ })
	took := time.Since(start)
	rss := peak()
	t.Logf("10 M keys deduped in %v, peak RSS %d MB, stats %+v", took.Round(time.Millisecond), rss>>20, d.Stats())
	if items != n*9/10 || d.Stats().Duplicates != n/10 {
		t.Errorf("%d items, stats %+v", items, d.Stats())
	}
	if rss > 100<<20 {
		t.Errorf("peak RSS %d MB > 100 MB", rss>>20)
	}
	if !raceEnabled && took > 60*time.Second {
		t.Errorf("took %v > 60 s", took)
	}
}

func BenchmarkDedupe(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	for b.Loop() {
		d := Dedupe(&genReader{n: n}, dir, 0)
		for {
			if _, err := d.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
		d.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/key")
}

// TestKeysConstantMemory streams a 2 M-line key list: the heap stays small.
func TestKeysConstantMemory(t *testing.T) {
	const n = 2_000_000
	p := filepath.Join(t.TempDir(), "keys.txt")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		fmt.Fprintf(w, "photos/2024/06/%08d/original.jpg\n", i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	runtime.GC()
	r := mustOpen(t, p, Options{DefaultBucket: "b"})
	var ms runtime.MemStats
	var peak uint64
	count := 0
	each(t, r, func(imgbatch.Item) {
		if count++; count%100000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	})
	if count != n {
		t.Fatalf("%d items", count)
	}
	t.Logf("peak heap in use %d KB over %d lines", peak>>10, n)
	if peak > 32<<20 {
		t.Errorf("peak heap %d MB", peak>>20)
	}
}
