package catalog

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgbatch/imgbatch"
)

// dirParts writes parts as files of a directory.
type dirParts struct {
	dir   string
	f     *os.File
	done  []int
	fails error // Create fails with it when set
}

func (d *dirParts) Create(n int) (io.Writer, error) {
	if d.fails != nil {
		return nil, d.fails
	}
	f, err := os.Create(filepath.Join(d.dir, PartName(n)))
	d.f = f
	return f, err
}

func (d *dirParts) Done(n int) error {
	d.done = append(d.done, n)
	return d.f.Close()
}

// readFile reads a part back with Read (parquet-go's generic reader, not
// the writer's struct).
func readFile(t testing.TB, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	rows, err := Read(f, st.Size())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func results() []imgbatch.Result {
	item := func(k string) imgbatch.Item { return imgbatch.Item{Bucket: "src", Key: k, Size: 1000, ETag: `"e"`} }
	return []imgbatch.Result{
		{Item: item("a.tif"), Status: imgbatch.StatusSucceeded, BytesIn: 1000, BytesOut: 300, Millis: 40,
			Image: &imgbatch.ImageInfo{Format: "tiff", Width: 10000, Height: 6000, Frames: 1, Orientation: 1, Space: "cmyk", ICC: true,
				BlurHash: "LaJHjmVu8_~po#smR+a~xaoLWCRj", PHash: "c3c3c3c3c3c3c3c3", Color: "#ff0000", ThumbHash: "oBgODIInj2KId3mJZ4mT0P5bvA=="},
			Outputs: []imgbatch.Output{
				{Variant: "thumb", Key: "thumb/a.tif.jpg", Width: 256, Height: 154, Bytes: 100, Format: "jpeg", Quality: 80},
				{Variant: "web", Key: "web/a.tif.png", Width: 1280, Height: 768, Bytes: 200, Format: "png"},
			}},
		{Item: item("b.png"), Status: imgbatch.StatusSkipped, Message: "skipped: outputs are current"},
		{Item: item("c.jpg"), Status: imgbatch.StatusFailed, ErrorCode: "CorruptImage", HTTPStatus: 422, Message: "corrupt", BytesIn: 1000},
		{Item: item("d.png"), Status: imgbatch.StatusSucceeded, Image: &imgbatch.ImageInfo{Format: "png", Width: 20, Height: 10, Frames: 1, Space: "srgb", Alpha: true},
			Outputs: []imgbatch.Output{{Variant: "thumb", Key: "thumb/d.png.jpg", Width: 20, Height: 10, Bytes: 50, Format: "jpeg", Quality: 80, Score: 0.97}}},
		{Item: item("e.gif"), Status: imgbatch.StatusSucceeded, Image: &imgbatch.ImageInfo{Format: "gif", Width: 5, Height: 5, Frames: 12, Space: "srgb"}},
	}
}

func TestWriterParts(t *testing.T) {
	dir := t.TempDir()
	parts := &dirParts{dir: dir}
	w := NewWriter(parts, 2)
	for _, res := range results() {
		if err := w.Write(RowOf("run-1", res)); err != nil {
			t.Fatal(err)
		}
	}
	n, rows, err := w.Close()
	if err != nil || n != 3 || rows != 5 || len(parts.done) != 3 {
		t.Fatalf("close: %d parts, %d rows, done %v, %v", n, rows, parts.done, err)
	}
	var all []map[string]any
	for i := range n {
		got := readFile(t, filepath.Join(dir, PartName(i)))
		if want := min(2, 5-2*i); len(got) != want {
			t.Errorf("part %d: %d rows, want %d", i, len(got), want)
		}
		all = append(all, got...)
	}
	if len(all) != 5 {
		t.Fatalf("%d rows", len(all))
	}
	a, b, c, d := all[0], all[1], all[2], all[3]
	for col, want := range map[string]any{"run_id": "run-1", "key": "a.tif", "status": "succeeded", "format": "tiff",
		"width": int32(10000), "height": int32(6000), "megapixels": 60.0, "space": "cmyk", "icc": true, "alpha": false,
		"phash": "c3c3c3c3c3c3c3c3", "blurhash": "LaJHjmVu8_~po#smR+a~xaoLWCRj", "etag": `"e"`, "size": int64(1000)} {
		if a[col] != want {
			t.Errorf("a.tif %s = %#v, want %#v", col, a[col], want)
		}
	}
	outs, _ := a["outputs"].([]any)
	if len(outs) != 2 {
		t.Fatalf("a.tif outputs %#v", a["outputs"])
	}
	o0, _ := outs[0].(map[string]any)
	o1, _ := outs[1].(map[string]any)
	if o0["key"] != "thumb/a.tif.jpg" || o0["format"] != "jpeg" || o0["q"] != int32(80) || o0["bytes"] != int64(100) ||
		o1["format"] != "png" || o1["q"] != nil || o1["score"] != nil {
		t.Errorf("a.tif outputs %#v", outs)
	}
	// Not decoded: no image facts, null rather than zero.
	if b["status"] != "skipped" || b["format"] != nil || b["icc"] != nil || b["width"] != nil || b["error_code"] != nil {
		t.Errorf("skipped row %#v", b)
	}
	if c["status"] != "failed" || c["error_code"] != "CorruptImage" || c["http_status"] != int32(422) || c["space"] != nil {
		t.Errorf("failed row %#v", c)
	}
	if d["alpha"] != true || d["icc"] != false || d["phash"] != nil {
		t.Errorf("d.png %#v", d)
	}
}

func TestWriterEmptyAndFailing(t *testing.T) {
	dir := t.TempDir()
	parts := &dirParts{dir: dir}
	n, rows, err := NewWriter(parts, 0).Close()
	if err != nil || n != 1 || rows != 0 {
		t.Fatalf("empty: %d parts %d rows %v", n, rows, err)
	}
	if got := readFile(t, filepath.Join(dir, PartName(0))); len(got) != 0 {
		t.Errorf("empty part has %d rows", len(got))
	}
	boom := errors.New("disk full")
	w := NewWriter(&dirParts{dir: dir, fails: boom}, 0)
	if err := w.Write(RowOf("r", results()[0])); !errors.Is(err, boom) {
		t.Errorf("failing part: %v", err)
	}
}
