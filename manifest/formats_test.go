package manifest

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
)

var (
	key1024 = strings.Repeat("k", 1020) + ".jpg"
	key1025 = strings.Repeat("k", 1021) + ".jpg"
)

func item(bucket, key string) imgbatch.Item { return imgbatch.Item{Bucket: bucket, Key: key} }

func TestFormats(t *testing.T) {
	type tc struct {
		name    string
		file    string // file name: drives detection
		format  Format
		bucket  string
		content string
		items   []imgbatch.Item
		bad     []badLine
	}
	tests := []tc{
		{
			name: "keys/nasty", file: "keys.txt", bucket: "bkt",
			content: "\ufeffa.jpg\r\n" + // 1 BOM + CRLF
				"# a comment\n" + // 2
				"\n" + // 3
				"  \t\n" + // 4
				"dir/with space.png\n" + // 5
				"s3://other/x/y.jpg\n" + // 6
				"é/ü/日本.jpg\n" + // 7
				"a+b%2Bc%.jpg\n" + // 8 raw: nothing decoded
				"../x\n" + // 9
				"/leading\n" + // 10
				"bad\x01key\n" + // 11
				"s3://nokey\n" + // 12
				"s3://bu cket/k\n" + // 13
				key1024 + "\n" + // 14
				key1025 + "\n" + // 15
				"tab\tin key\n" + // 16
				"s3://other/\n" + // 17
				"trailing space \n" + // 18
				"last-without-newline", // 19
			items: []imgbatch.Item{
				item("bkt", "a.jpg"), item("bkt", "dir/with space.png"), item("other", "x/y.jpg"),
				item("bkt", "é/ü/日本.jpg"), item("bkt", "a+b%2Bc%.jpg"), item("bkt", "../x"),
				item("bkt", "/leading"), item("bkt", key1024), item("bkt", "trailing space "),
				item("bkt", "last-without-newline"),
			},
			bad: []badLine{
				{"keys.txt", 11, "control character"},
				{"keys.txt", 12, "without a key"},
				{"keys.txt", 13, "invalid bucket"},
				{"keys.txt", 15, "1025 bytes"},
				{"keys.txt", 16, "control character"},
				{"keys.txt", 17, "empty key"},
			},
		},
		{
			name: "keys/no default bucket", file: "list", content: "a.jpg\ns3://b/c.jpg\n",
			items: []imgbatch.Item{item("b", "c.jpg")},
			bad:   []badLine{{"list", 1, "no bucket"}},
		},
		{
			name: "keys/invalid utf8", file: "list", bucket: "b", content: "ok\n\xff\xfe.jpg\n",
			items: []imgbatch.Item{item("b", "ok")},
			bad:   []badLine{{"list", 2, "UTF-8"}},
		},
		{
			name: "keys/too long line", file: "list", bucket: "b",
			content: "a\n" + strings.Repeat("x", maxLine+10) + "\nb\n" + strings.Repeat("y", 3*maxLine) + "\r\nc",
			items:   []imgbatch.Item{item("b", "a"), item("b", "b"), item("b", "c")},
			bad:     []badLine{{"list", 2, "line longer"}, {"list", 4, "line longer"}},
		},
		{
			name: "csv/nasty", file: "manifest.csv",
			content: "\ufeffbkt,a+b.jpg\n" + // 1
				"bkt,a%2Bb.jpg,v1\r\n" + // 2
				"bkt,100%25.jpg\n" + // 3
				"bkt,100%.jpg\n" + // 4 bad escape
				`"bkt","quoted,key.jpg"` + "\n" + // 5
				`bkt,"he said ""hi"".jpg"` + "\n" + // 6
				"bkt\n" + // 7
				"bkt,k,v,extra\n" + // 8
				",k\n" + // 9
				"bkt,\n" + // 10
				`bkt,"unterminated` + "\n" + // 11
				`bkt,a"b` + "\n" + // 12
				"bkt,%E2%82%AC.jpg\n" + // 13
				"bkt,%FF.jpg\n" + // 14
				"\n" + // 15
				"bkt,..%2Fx\n" + // 16
				"bkt,%2Fleading\n" + // 17
				"bkt,日本 raw.jpg\n" + // 18
				"bkt,tab\there\n" + // 19
				"bkt," + url.QueryEscape(key1024) + "\n" + // 20
				"Bad Bucket,k\n" + // 21
				"bkt," + url.QueryEscape(key1025) + "\n" + // 22
				"bkt,%0Anewline\n" + // 23 an encoded control character is a key like any other
				"bkt,a%zz\n" + // 24
				"bkt,k,\n" + // 25 empty version ID
				`"bkt" ,k` + "\n" + // 26
				"other,last.jpg", // 27
			items: []imgbatch.Item{
				item("bkt", "a b.jpg"),
				{Bucket: "bkt", Key: "a+b.jpg", VersionID: "v1"},
				item("bkt", "100%.jpg"),
				item("bkt", "quoted,key.jpg"),
				item("bkt", `he said "hi".jpg`),
				item("bkt", "€.jpg"),
				item("bkt", "../x"),
				item("bkt", "/leading"),
				item("bkt", "日本 raw.jpg"),
				item("bkt", key1024),
				item("bkt", "\nnewline"),
				item("bkt", "k"),
				item("other", "last.jpg"),
			},
			bad: []badLine{
				{"manifest.csv", 4, "bad URL encoding"},
				{"manifest.csv", 7, "1 fields"},
				{"manifest.csv", 8, "4 fields"},
				{"manifest.csv", 9, "empty bucket"},
				{"manifest.csv", 10, "empty key"},
				{"manifest.csv", 11, `extraneous or missing "`},
				{"manifest.csv", 12, `bare "`},
				{"manifest.csv", 14, "UTF-8"},
				{"manifest.csv", 19, "control character"},
				{"manifest.csv", 21, "invalid bucket"},
				{"manifest.csv", 22, "1025 bytes"},
				{"manifest.csv", 24, "bad URL encoding"},
				{"manifest.csv", 26, `extraneous or missing "`},
			},
		},
		{
			name: "csv/forced format on any name", file: "list.txt", format: CSV,
			content: "b,k%20k\n", items: []imgbatch.Item{item("b", "k k")},
		},
		{
			name: "jsonl/nasty", file: "items.jsonl", bucket: "dflt",
			content: "\ufeff" + `{"bucket":"b","key":"a.jpg","size":10,"etag":"\"abc\""}` + "\n" + // 1
				`{"key":"no bucket.jpg"}` + "\n" + // 2
				`{"bucket":"b","key":"v.jpg","versionId":"v1"}` + "\r\n" + // 3
				"not json\n" + // 4
				`{"bucket":"b"}` + "\n" + // 5
				`{"bucket":"b","key":"k"} trailing` + "\n" + // 6
				`{"bucket":"b","key":"k","size":-1}` + "\n" + // 7
				"[1,2]\n" + // 8
				"null\n" + // 9
				`{"bucket":"b","key":"\u0001ctl"}` + "\n" + // 10 escaped control character: fine
				"\n" + // 11
				`{"bucket":"b","key":"k","size":"12"}` + "\n" + // 12
				`{"bucket":"b","key":"a+b%2B/../x"}` + "\n" + // 13 raw
				`{"bucket":"b","key":""}` + "\n" + // 14
				`{"Bucket":"b","Key":"/日本.jpg","unknown":1}` + "\n" + // 15
				`{"bucket":"b c","key":"k"}` + "\n" + // 16
				`{"bucket":"b","key":"` + key1025 + `"}`, // 17
			items: []imgbatch.Item{
				{Bucket: "b", Key: "a.jpg", Size: 10, ETag: "abc"},
				item("dflt", "no bucket.jpg"),
				{Bucket: "b", Key: "v.jpg", VersionID: "v1"},
				item("b", "\x01ctl"),
				item("b", "a+b%2B/../x"),
				item("b", "/日本.jpg"),
			},
			bad: []badLine{
				{"items.jsonl", 4, "bad JSON"},
				{"items.jsonl", 5, `no "key"`},
				{"items.jsonl", 6, "bad JSON"},
				{"items.jsonl", 7, "negative size"},
				{"items.jsonl", 8, "bad JSON"},
				{"items.jsonl", 9, `no "key"`},
				{"items.jsonl", 12, "bad JSON"},
				{"items.jsonl", 14, "empty key"},
				{"items.jsonl", 16, "invalid bucket"},
				{"items.jsonl", 17, "1025 bytes"},
			},
		},
		{
			name: "jsonl/no bucket no default", file: "x.ndjson", content: `{"key":"k"}`,
			bad: []badLine{{"x.ndjson", 1, "no default bucket"}},
		},
		{
			name: "detect/jsonl by content", file: "list.txt", content: "  {\"bucket\":\"b\",\"key\":\"k\"}\n",
			items: []imgbatch.Item{item("b", "k")},
		},
		{
			name: "detect/keys by default", file: "list.txt", bucket: "b", content: "k,1\n",
			items: []imgbatch.Item{item("b", "k,1")},
		},
		{
			name: "detect/gzip csv", file: "manifest.csv.gz", content: string(gz(t, []byte("b,k%2B\nb\n"))),
			items: []imgbatch.Item{item("b", "k+")},
			bad:   []badLine{{"manifest.csv.gz", 2, "1 fields"}},
		},
		{
			name: "empty", file: "empty.csv", content: "",
		},
		{
			name: "only a BOM", file: "bom.txt", content: "\ufeff",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := openFile(t, tt.file, tt.content, Options{Format: tt.format, DefaultBucket: tt.bucket})
			d := drain(t, r)
			checkItems(t, d.items, tt.items)
			checkBad(t, d.bad, tt.bad)
			st := StatsOf(r)
			if st.Items != int64(len(tt.items)) || st.BadLines != int64(len(tt.bad)) || st.Lines != st.Items+st.BadLines+st.Filtered {
				t.Errorf("stats %+v for %d items and %d bad lines", st, len(tt.items), len(tt.bad))
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next after EOF = %v", err)
			}
		})
	}
}

func TestLineErrorText(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes
	r := openFile(t, "m.csv", "b\x01,"+long+"\n", Options{})
	_, err := r.Next()
	var le *LineError
	if !errors.As(err, &le) || !IsLineError(err) {
		t.Fatalf("err = %v", err)
	}
	if len(le.Text) > maxText+len("…") || !strings.HasPrefix(long, strings.TrimPrefix(strings.TrimSuffix(le.Text, "…"), "b\x01,")[:10]) {
		t.Errorf("text %q (%d bytes)", le.Text, len(le.Text))
	}
	if !strings.Contains(le.Error(), "m.csv:1: control character") {
		t.Errorf("Error() = %q", le.Error())
	}
}

func TestFilter(t *testing.T) {
	since := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	content := `{"bucket":"b","key":"a.JPG","size":100,"lastModified":"2024-02-01T00:00:00Z"}
{"bucket":"b","key":"b.jpeg","size":5}
{"bucket":"b","key":"c.png","size":100000}
{"bucket":"b","key":"d.gif","size":100}
{"bucket":"b","key":"e.jpg","size":100,"lastModified":"2023-02-01T00:00:00Z"}
{"bucket":"b","key":"f.jpg"}
{"bucket":"b","key":"dir.jpg/noext"}
{"bucket":"b","key":".jpg"}
{"bucket":"b","key":"g.tar.gz","size":100}
`
	r := openFile(t, "x.jsonl", content, Options{Filter: Filter{
		Extensions:    []string{"jpg", ".JPEG", "png", " tar.gz ", ""},
		MinSize:       10,
		MaxSize:       1000,
		ModifiedSince: since,
	}})
	d := drain(t, r)
	var keys []string
	for _, it := range d.items {
		keys = append(keys, it.Key)
	}
	if got, want := strings.Join(keys, " "), "a.JPG f.jpg g.tar.gz"; got != want {
		t.Errorf("kept %q, want %q", got, want)
	}
	if st := StatsOf(r); st.Filtered != 6 || st.Lines != 9 {
		t.Errorf("stats %+v", st)
	}

	for _, f := range []Filter{{MinSize: 10, MaxSize: 5}, {MinSize: -1}} {
		if _, _, err := Open(context.Background(), "x", Options{Filter: f}); err == nil {
			t.Errorf("filter %+v accepted", f)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, c := range []struct {
		uri  string
		opt  Options
		want string
	}{
		{filepath.Join(dir, "missing.csv"), Options{}, "no such file"},
		{dir, Options{}, "is a directory"},
		{"x", Options{Format: "xml"}, "unknown format"},
		{"x", Options{Format: Listing}, "s3://bucket/prefix/"},
		{"s3://b/k", Options{}, "S3 client"},
	} {
		_, _, err := Open(ctx, c.uri, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q, %+v) = %v, want %q", c.uri, c.opt, err, c.want)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := testutil.WriteFile(t, filepath.Join(t.TempDir(), "k"), []byte(strings.Repeat("a\n", 10000)))
	r, c, err := Open(ctx, p, Options{DefaultBucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	n := 0
	for {
		_, err := r.Next()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v", err)
			}
			break
		}
		n++
	}
	if n > 2000 {
		t.Errorf("%d items after cancel", n)
	}
}

func TestClose(t *testing.T) {
	p := testutil.WriteFile(t, filepath.Join(t.TempDir(), "k"), []byte("a\nb\n"))
	r, c, err := Open(context.Background(), p, Options{DefaultBucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil || err == io.EOF {
		t.Errorf("Next after Close = %v", err)
	}
}

// TestStdin reads "-".
func TestStdin(t *testing.T) {
	p := testutil.WriteFile(t, filepath.Join(t.TempDir(), "in"), []byte("b,k%21\n"))
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	r, c, err := Open(context.Background(), "-", Options{Format: CSV})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkItems(t, drain(t, r).items, []imgbatch.Item{item("b", "k!")})
}

func TestDetect(t *testing.T) {
	for _, c := range []struct {
		name, content string
		want          Format
	}{
		{"manifest.json", "", Inventory},
		{"a/b/MANIFEST.JSON", "", Inventory},
		{"inv.json", `{"sourceBucket":"x","files":[]}`, Inventory},
		{"inv.json", `{"version":"2016-11-30", "extra": {"files": 1}, "files":[]}`, Inventory},
		{"-", "\ufeff\n{\"files\":[", Inventory},
		{"x.jsonl", `{"files":[]}`, JSONL},
		{"x.NDJSON.gz", "", JSONL},
		{"x.csv", "", CSV},
		{"x.CSV.gz", "", CSV},
		{"x.txt", `{"bucket":"b","key":"k"}`, JSONL},
		{"x.txt", "a.jpg", Keys},
		{"", "", Keys},
	} {
		br := bufioString(c.content)
		if got := detect(c.name, br); got != c.want {
			t.Errorf("detect(%q, %q) = %q, want %q", c.name, c.content, got, c.want)
		}
	}
}

// TestSplitCSVMatchesEncodingCSV checks splitCSV against encoding/csv on
// single lines; FuzzSplitCSV does the same on random input.
func TestSplitCSVMatchesEncodingCSV(t *testing.T) {
	for _, s := range splitCSVSeeds {
		compareCSV(t, s)
	}
}

var splitCSVSeeds = []string{
	"a,b,c", `"a","b"`, `"a""b",c`, `a"b`, `"a"b`, `"abc`, `,`, `,,`, `""`, `"",""`,
	` "a"`, `"a" `, `a,"b,c",d`, `"""",x`, "é,ü", `a,`, `"a,b"`, `x,"y""z"""`, `"`, `a""`,
}

func FuzzSplitCSV(f *testing.F) {
	for _, s := range splitCSVSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { compareCSV(t, s) })
}

func compareCSV(t *testing.T, s string) {
	if s == "" || strings.ContainsAny(s, "\r\n") {
		return // lines are split before; encoding/csv skips empty lines
	}
	cr := csv.NewReader(strings.NewReader(s))
	cr.FieldsPerRecord = -1
	want, werr := cr.Read()
	got, _, gerr := splitCSV([]byte(s), nil, nil)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%q: encoding/csv %q %v, splitCSV %q %v", s, want, werr, got, gerr)
	}
	if werr != nil {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%q: encoding/csv %q, splitCSV %q", s, want, got)
	}
	for i := range got {
		if string(got[i]) != want[i] {
			t.Fatalf("%q: encoding/csv %q, splitCSV %q", s, want, got)
		}
	}
}

var decodeSeeds = []string{"a+b", "%2B", "%25", "%", "%2", "%zz", "%E2%82%AC", "%ff", "a%2fb", "++", "%%41", "plain"}

func TestFormDecodeMatchesQueryUnescape(t *testing.T) {
	for _, s := range decodeSeeds {
		compareDecode(t, s)
	}
}

func FuzzFormDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { compareDecode(t, s) })
}

func compareDecode(t *testing.T, s string) {
	want, werr := url.QueryUnescape(s)
	got, gerr := formDecode(nil, []byte(s))
	if (werr != nil) != (gerr != nil) || werr == nil && string(got) != want || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("%q: QueryUnescape %q %v, formDecode %q %v", s, want, werr, got, gerr)
	}
}
