package manifest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// drained is everything a Reader gave.
type drained struct {
	items []imgbatch.Item
	bad   []*LineError
}

// drain reads r to the end; a fatal error fails the test.
func drain(t testing.TB, r Reader) drained {
	t.Helper()
	var d drained
	for {
		it, err := r.Next()
		if err == io.EOF {
			return d
		}
		var le *LineError
		if errors.As(err, &le) {
			d.bad = append(d.bad, le)
			continue
		}
		if err != nil {
			t.Fatalf("fatal error after %d items: %v", len(d.items), err)
		}
		d.items = append(d.items, it)
	}
}

// each calls fn with every item of r as it is read (nothing is kept);
// any error fails the test.
func each(t testing.TB, r Reader, fn func(imgbatch.Item)) {
	t.Helper()
	for {
		it, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fn(it)
	}
}

// badLine is an expected LineError: its source's base name, line and a
// substring of the reason.
type badLine struct {
	source string
	line   int64
	reason string
}

func checkBad(t *testing.T, got []*LineError, want []badLine) {
	t.Helper()
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			t.Errorf("missing line error %+v", want[i])
		case i >= len(want):
			t.Errorf("unexpected line error %v", got[i])
		default:
			g, w := got[i], want[i]
			if (w.source != "" && filepath.Base(g.Source) != w.source) || g.Line != w.line || !strings.Contains(g.Reason, w.reason) {
				t.Errorf("line error %d = %v (source %q line %d), want %+v", i, g, g.Source, g.Line, w)
			}
			if len(g.Text) > maxText+len("…") {
				t.Errorf("line error text is %d bytes", len(g.Text))
			}
		}
	}
}

func checkItems(t *testing.T, got, want []imgbatch.Item) {
	t.Helper()
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			t.Errorf("missing item %d: %+v", i, want[i])
		case i >= len(want):
			t.Errorf("unexpected item %d: %+v", i, got[i])
		case got[i] != want[i]:
			t.Errorf("item %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// openFile writes content to a temporary file called name and opens it.
func openFile(t *testing.T, name, content string, opt Options) Reader {
	t.Helper()
	return mustOpen(t, testutil.WriteFile(t, filepath.Join(t.TempDir(), name), []byte(content)), opt)
}

// mustOpen opens the manifest at uri, closed when t ends.
func mustOpen(t testing.TB, uri string, opt Options) Reader {
	t.Helper()
	r, c, err := Open(context.Background(), uri, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return r
}

// fakeS3 starts an in-process S3 with buckets and returns a client for it.
func fakeS3(t testing.TB, buckets ...string) *s3.Client {
	t.Helper()
	return s3test.Start(t, buckets...).Client
}

// fakeS3Via is fakeS3 with a client that sends its requests through hc.
func fakeS3Via(t testing.TB, hc aws.HTTPClient, buckets ...string) *s3.Client {
	t.Helper()
	return s3test.New(t, s3test.Options{Buckets: buckets, Client: []func(*s3.Options){s3test.HTTPClient(hc)}}).Client
}

func bufioString(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), maxLine) }
