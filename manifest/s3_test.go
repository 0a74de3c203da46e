package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// countingClient counts ListObjectsV2 calls.
type countingClient struct {
	mu    sync.Mutex
	lists int
}

func (c *countingClient) Do(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2" {
		c.mu.Lock()
		c.lists++
		c.mu.Unlock()
	}
	return http.DefaultClient.Do(r)
}

func TestListing(t *testing.T) {
	ctx := context.Background()
	cc := &countingClient{}
	client := fakeS3Via(t, cc, "src")

	const n = 1234
	var want []imgbatch.Item
	for i := range n {
		key := fmt.Sprintf("photos/%05d.jpg", i)
		switch i {
		case 7:
			key = "photos/a b+c%2B%.jpg"
		case 8:
			key = "photos/日本/é.JPG"
		case 9:
			key = "photos/../x.jpg"
		}
		body := bytes.Repeat([]byte("x"), i%50)
		s3test.Put(t, client, "src", key, body)
		want = append(want, imgbatch.Item{Bucket: "src", Key: key, Size: int64(len(body))})
	}
	s3test.Put(t, client, "src", "photos/sub/", nil) // a folder placeholder
	s3test.Put(t, client, "src", "photos2/other.jpg", []byte("x"))
	s3test.Put(t, client, "src", "zzz.jpg", []byte("x"))

	open := func(uri string, opt Options) (Reader, drained) {
		t.Helper()
		opt.S3 = client
		r, c, err := Open(ctx, uri, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return r, drain(t, r)
	}
	byKey := func(items []imgbatch.Item) map[string]imgbatch.Item {
		m := map[string]imgbatch.Item{}
		for _, it := range items {
			if it.ETag == "" {
				t.Errorf("%s: no ETag", it.Key)
			}
			if strings.Contains(it.ETag, `"`) {
				t.Errorf("%s: quoted ETag %s", it.Key, it.ETag)
			}
			it.ETag = ""
			m[it.Key] = it
		}
		return m
	}

	cc.lists = 0
	r, d := open("s3://src/photos/", Options{ListPageSize: 100})
	if got := byKey(d.items); len(got) != n || len(d.items) != n {
		t.Fatalf("%d items (%d distinct), want %d", len(d.items), len(got), n)
	} else {
		for _, w := range want {
			if got[w.Key] != w {
				t.Errorf("item %+v, want %+v", got[w.Key], w)
			}
		}
	}
	if cc.lists < n/100 {
		t.Errorf("%d list calls: pagination not exercised", cc.lists)
	}
	if st := StatsOf(r); st != (Stats{Lines: n + 1, Items: n, Filtered: 1}) {
		t.Errorf("stats %+v", st)
	}

	// Filters: extension (case-insensitive) and size.
	_, d = open("s3://src/photos/", Options{ListPageSize: 500, Filter: Filter{Extensions: []string{"jpg"}, MinSize: 48}})
	for _, it := range d.items {
		if it.Size < 48 || !strings.HasSuffix(strings.ToLower(it.Key), ".jpg") {
			t.Errorf("not filtered: %+v", it)
		}
	}
	if len(d.items) == 0 || len(d.items) > n/25+2 {
		t.Errorf("%d items after filter", len(d.items))
	}

	// Detection: no object at s3://src/photos, so it is a prefix (which also
	// covers photos2/); the whole bucket; explicit format.
	_, d = open("s3://src/photos", Options{})
	if len(d.items) != n+1 {
		t.Errorf("s3://src/photos: %d items, want %d", len(d.items), n+1)
	}
	_, d = open("s3://src", Options{})
	if len(d.items) != n+2 {
		t.Errorf("s3://src: %d items, want %d", len(d.items), n+2)
	}
	_, d = open("s3://src/zzz.jpg", Options{Format: Listing})
	if len(d.items) != 1 {
		t.Errorf("explicit listing: %d items", len(d.items))
	}
	// An empty explicit prefix is an empty listing; a missing object that is
	// no prefix either is an error; so is a missing bucket.
	_, d = open("s3://src/nothing/", Options{})
	if len(d.items) != 0 {
		t.Errorf("empty prefix: %d items", len(d.items))
	}
	if _, _, err := Open(ctx, "s3://src/nothing", Options{S3: client}); err == nil || !strings.Contains(err.Error(), "no such object") {
		t.Errorf("missing object: %v", err)
	}
	if _, _, err := Open(ctx, "s3://nobucket/", Options{S3: client}); err == nil {
		t.Errorf("missing bucket: no error")
	}
}

func TestS3Manifests(t *testing.T) {
	ctx := context.Background()
	client := fakeS3(t, "man")
	s3test.Put(t, client, "man", "lists/keys.txt.gz", gz(t, []byte("a.jpg\n#c\nb c.jpg\n")))
	s3test.Put(t, client, "man", "lists/manifest.csv", []byte("src,a%2Bb.jpg,v1\nsrc\n"))
	s3test.Put(t, client, "man", "lists/items", []byte(`{"key":"k.jpg","size":3}`+"\n"))
	for _, c := range []struct {
		uri   string
		items []imgbatch.Item
		bad   []badLine
	}{
		{"s3://man/lists/keys.txt.gz", []imgbatch.Item{item("d", "a.jpg"), item("d", "b c.jpg")}, nil},
		{"s3://man/lists/manifest.csv", []imgbatch.Item{{Bucket: "src", Key: "a+b.jpg", VersionID: "v1"}}, []badLine{{"manifest.csv", 2, "1 fields"}}},
		{"s3://man/lists/items", []imgbatch.Item{{Bucket: "d", Key: "k.jpg", Size: 3}}, nil},
	} {
		r, cl, err := Open(ctx, c.uri, Options{S3: client, DefaultBucket: "d"})
		if err != nil {
			t.Fatal(err)
		}
		d := drain(t, r)
		cl.Close()
		checkItems(t, d.items, c.items)
		checkBad(t, d.bad, c.bad)
		if len(d.bad) > 0 && d.bad[0].Source != c.uri {
			t.Errorf("source %q, want %q", d.bad[0].Source, c.uri)
		}
	}
}

// flakyClient breaks the body of GETs after cut bytes, a few times.
type flakyClient struct {
	cut    int
	breaks int
	mu     sync.Mutex
	ranges []string
}

func (c *flakyClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(r)
	if err != nil || r.Method != http.MethodGet || r.URL.Query().Has("list-type") {
		return resp, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ranges = append(c.ranges, r.Header.Get("Range"))
	if c.breaks > 0 {
		c.breaks--
		resp.Body = &brokenBody{rc: resp.Body, left: c.cut}
	}
	return resp, nil
}

type brokenBody struct {
	rc   io.ReadCloser
	left int
}

func (b *brokenBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("connection reset by peer")
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= n
	return n, err
}

func (b *brokenBody) Close() error { return b.rc.Close() }

func TestS3Resume(t *testing.T) {
	defer func(d time.Duration) { resumeBackoff = d }(resumeBackoff)
	resumeBackoff = time.Millisecond
	ctx := context.Background()
	fc := &flakyClient{}
	client := fakeS3Via(t, fc, "man")
	var b strings.Builder
	const n = 60000 // 1,020,000 bytes
	for i := range n {
		fmt.Fprintf(&b, "photos/%06d.jpg\n", i)
	}
	s3test.Put(t, client, "man", "keys.txt", []byte(b.String()))

	fc.cut, fc.breaks = 300000, 3
	r, c, err := Open(ctx, "s3://man/keys.txt", Options{S3: client, DefaultBucket: "d"})
	if err != nil {
		t.Fatal(err)
	}
	d := drain(t, r)
	c.Close()
	if len(d.items) != n || d.items[n-1].Key != fmt.Sprintf("photos/%06d.jpg", n-1) {
		t.Fatalf("%d items", len(d.items))
	}
	for i, it := range d.items {
		if it.Key != fmt.Sprintf("photos/%06d.jpg", i) {
			t.Fatalf("item %d = %s", i, it.Key)
		}
	}
	if want := []string{"", "bytes=300000-", "bytes=600000-", "bytes=900000-"}; fmt.Sprint(fc.ranges) != fmt.Sprint(want) {
		t.Errorf("GET ranges %q, want %q", fc.ranges, want)
	}

	// Too many breaks: a fatal error, not a silent truncation.
	fc.cut, fc.breaks, fc.ranges = 1000, 100, nil
	r, c, err = Open(ctx, "s3://man/keys.txt", Options{S3: client, DefaultBucket: "d"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for {
		_, err := r.Next()
		if err == nil {
			continue
		}
		if err == io.EOF || !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("err = %v", err)
		}
		break
	}
}
