package manifest

import (
	"fmt"
	"io"
	"testing"

	"github.com/imgbatch/imgbatch"
)

// TestKeyIndexSpills: with a 16 KiB budget, 30,000 keys force partitions to
// split; every collision is still found exactly once, repeats of one
// source are not collisions, and the sample is bounded.
func TestKeyIndexSpills(t *testing.T) {
	x := NewKeyIndex(t.TempDir(), 16<<10, 5)
	defer x.Close()
	const n = 30000
	for i := range n {
		key := fmt.Sprintf("thumb/photos/%06d.jpg", i)
		add(t, x, key, fmt.Sprintf("s3://b/photos/%06d.jpg", i))
		if i%3 == 0 { // the same source again: a repeated line
			add(t, x, key, fmt.Sprintf("s3://b/photos/%06d.jpg", i))
		}
		if i%100 == 0 { // another source, same output: a collision
			add(t, x, key, fmt.Sprintf("s3://b/photos/%06d.png", i))
		}
	}
	count, sample, err := x.Collisions()
	if err != nil {
		t.Fatal(err)
	}
	if count != n/100 {
		t.Errorf("%d collisions, want %d", count, n/100)
	}
	if len(sample) != 5 {
		t.Fatalf("sample of %d, want 5", len(sample))
	}
	for _, c := range sample {
		if c.First == c.Second || c.First[len(c.First)-4:] != ".jpg" || c.Second[len(c.Second)-4:] != ".png" {
			t.Errorf("sample %+v: want the .jpg first, then the .png", c)
		}
	}
	if x.d.splits == 0 {
		t.Error("no partition split: the budget did not bind, the test proves nothing about spills")
	}
}

func TestKeyIndexEmptyAndClean(t *testing.T) {
	x := NewKeyIndex(t.TempDir(), 0, 5)
	if n, s, err := x.Collisions(); n != 0 || s != nil || err != nil {
		t.Errorf("empty index: %d %v %v", n, s, err)
	}
	x.Close()
	x = NewKeyIndex(t.TempDir(), 0, 5)
	defer x.Close()
	add(t, x, "a", "s3://b/a")
	add(t, x, "b", "s3://c/a") // same key, other bucket: another output
	if n, _, err := x.Collisions(); n != 0 || err != nil {
		t.Errorf("distinct keys: %d collisions, %v", n, err)
	}
}

func add(t *testing.T, x *KeyIndex, key, src string) {
	t.Helper()
	if err := x.Add(key, src); err != nil {
		t.Fatal(err)
	}
}

// TestSpoolRoundTrip: items come back in order, every field kept.
func TestSpoolRoundTrip(t *testing.T) {
	s := NewSpool(t.TempDir())
	defer s.Close()
	var want []imgbatch.Item
	for i := range 5000 {
		it := imgbatch.Item{Bucket: fmt.Sprintf("b%d", i/1000), Key: fmt.Sprintf("k/ü %d.jpg", i), Size: int64(i)}
		if i%2 == 0 {
			it.VersionID, it.ETag = "v", fmt.Sprintf("e%d", i)
		}
		want = append(want, it)
		if err := s.Add(it); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Reader()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		it, err := r.Next()
		if err == io.EOF {
			if i != len(want) {
				t.Fatalf("%d items back, want %d", i, len(want))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if it != want[i] {
			t.Fatalf("item %d = %+v, want %+v", i, it, want[i])
		}
	}
}
