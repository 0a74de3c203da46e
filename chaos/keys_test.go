package chaos

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/sniff"
)

// hostileKeys are S3 keys a real bucket can hold and a naive pipeline
// mangles. Each source has its own aspect ratio, so an output made from the
// wrong source (two keys aliased) shows in its dimensions.
func hostileKeys() []string {
	return []string{
		"uni/ünïcödé 日本語.jpg",
		"sp/with space.jpg",
		"sp/trailing space.jpg ",
		" leading-space.jpg",
		"plus/a+b.jpg",
		"pct/100%.jpg",
		"pct/%41%42.jpg",
		"pct/%2F.jpg",
		"dots/a/../b.jpg", // a distinct object from dots/b.jpg, not a path
		"dots/b.jpg",
		"dots/./c.jpg",
		"/leading-slash.jpg",
		"dbl//slash.jpg",
		"q/what?x=1#frag&y=2.jpg",
		"=cmd|' /C calc'!A0.jpg",
		"+SUM(1+1).jpg",
		"-2+3.jpg",
		"@SUM(1).jpg",
		"tab\tinside.jpg",
		strings.Repeat("k", 996) + ".jpg", // 1,000 bytes: outputs fit in 1,024
		longKey,                           // 1,024 bytes (multi-byte): its outputs would not fit
	}
}

// longKey is as long as S3 allows, 1,024 bytes.
var longKey = "long/x" + strings.Repeat("é", 507) + ".jpg"

// hostileDataset uploads a small JPEG per hostile key and writes the
// manifest in format ("keys" or "csv") with empty, comment, malformed and
// duplicate lines, and a key that does not exist.
func hostileDataset(t testing.TB, format string) (*dataset, map[string][2]int) {
	ds := &dataset{name: "hostile-" + format, objects: map[string][]byte{}, format: format, want: map[string]string{}, variants: defaultVariants}
	dims := map[string][2]int{}
	var lines []string
	enc := func(k string) string { return k }
	if format == "csv" {
		enc = func(k string) string { return srcBucket + "," + url.QueryEscape(k) }
	}
	for i, k := range hostileKeys() {
		if format == "keys" && strings.ContainsAny(k, "\t") {
			continue // a control character: a bad line in a key list (tested below)
		}
		w, h := 200, 40+12*i
		ds.objects[k] = picture(t, w, h, 100+i, false)
		dims[k] = [2]int{w, h}
		ds.want[k] = ""
		lines = append(lines, enc(k))
	}
	ds.want[longKey] = "OutputKeyTooLong"
	ds.want["missing/nope.jpg"] = "NotFound"
	lines = append(lines, enc("missing/nope.jpg"))
	lines = append(lines, enc("uni/ünïcödé 日本語.jpg"), enc("dots/b.jpg")) // duplicates
	ds.dups = 2
	switch format {
	case "keys":
		lines = append(lines, "", "   ", "# a comment line",
			"bad\x01control.jpg",             // control character
			strings.Repeat("x", 1025)+".jpg", // longer than S3 allows
		)
		ds.badLines = 2
	case "csv":
		ds.objects["plain/encoded/slash.jpg"] = picture(t, 200, 300, 7, false)
		dims["plain/encoded/slash.jpg"] = [2]int{200, 300}
		ds.want["plain/encoded/slash.jpg"] = ""
		ds.objects["vid/ok.jpg"] = picture(t, 200, 310, 8, false)
		lines = append(lines,
			srcBucket+",plain%2Fencoded%2Fslash.jpg",
			srcBucket+",vid/ok.jpg,=1+2", // a version id that is a formula
			"",
			srcBucket,                       // one field
			srcBucket+",a.jpg,v1,extra",     // four fields
			srcBucket+",bad%zzencoding.jpg", // bad URL encoding
			"Bad Bucket!,x.jpg",             // not a bucket name
		)
		ds.badLines = 4
	}
	for k := range ds.want {
		ds.items = append(ds.items, k)
	}
	if format == "csv" {
		ds.items = append(ds.items, "vid/ok.jpg") // its outcome depends on the store's versioning: not pinned
	}
	sortStrings(ds.items)
	ds.manifest = []byte(strings.Join(lines, "\n") + "\n")
	return ds, dims
}

// TestHostileKeysAndManifests runs hostile keys through the whole pipeline
// from a key list and from an S3 Batch Operations CSV (URL-encoded keys).
// gofakes3 in memory is the store: any byte string is a key there, while
// the on-disk gofakes3 and versitygw's posix backend map keys to file
// paths ("a/../b" would alias "b", 1,024-byte names exceed NAME_MAX).
// Every distinct key gets exactly one row; each output sits at its exact
// key and was made from its own source; the reports carry no spreadsheet
// formula; a missing source is a NotFound row.
func TestHostileKeysAndManifests(t *testing.T) {
	for _, format := range []string{"keys", "csv"} {
		t.Run(format, func(t *testing.T) {
			ds, dims := hostileDataset(t, format)
			res := run(t, runSpec{backend: memS3, data: ds, width: 2, shardSize: 5})
			check(t, res, nil)
			checkDims(t, res, dims)
			checkNoFormulas(t, res)
		})
	}
}

// checkDims: the small variant (48 px wide) of each source has the
// source's aspect ratio.
func checkDims(t *testing.T, res *runResult, dims map[string][2]int) {
	t.Helper()
	var small imgbatch.Variant
	for _, v := range res.run.Recipe.Variants {
		if v.Name == "small" {
			small = v
		}
	}
	for k, d := range dims {
		row := res.report[k]
		if row == nil || row[3] != "succeeded" {
			continue
		}
		key, err := res.run.OutputKeyOf(small, imgbatch.Item{Key: k})
		if err != nil {
			t.Errorf("%q: %v", k, err)
			continue
		}
		out, err := res.h.be.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(outBucket), Key: aws.String(key)})
		if err != nil {
			t.Errorf("output of %q at %q: %v", k, key, err)
			continue
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		info, err := sniff.Inspect(b)
		if err != nil {
			t.Errorf("output %q: %v", key, err)
			continue
		}
		wantH := (48*d[1] + d[0]/2) / d[0]
		if info.Width != 48 || info.Height < wantH-1 || info.Height > wantH+1 {
			t.Errorf("output %q is %dx%d, want 48x%d (from its source, %dx%d): made from another key?", key, info.Width, info.Height, wantH, d[0], d[1])
		}
	}
}

// checkNoFormulas: no field of report.csv or failed.csv starts with a
// character that makes a spreadsheet read a formula (= + - @ tab CR),
// unless defused with a leading apostrophe; keys still decode.
func checkNoFormulas(t *testing.T, res *runResult) {
	t.Helper()
	lay := imgbatch.Layout{RunID: res.runID}
	for _, key := range []string{lay.Report(), lay.Failed()} {
		b, err := s3test.Read(res.h.be.client, workBucket, key)
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		cr := csv.NewReader(bytes.NewReader(b))
		cr.FieldsPerRecord = -1 // failed.csv: bucket,key[,versionId]
		rows, err := cr.ReadAll()
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		for _, r := range rows {
			for i, f := range r {
				if f != "" && strings.ContainsRune("=+-@\t\r", rune(f[0])) {
					t.Errorf("%s: column %d is %q: a spreadsheet reads a formula (row %q)", key, i+1, trunc(f), trunc(fmt.Sprint(r)))
				}
			}
		}
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
