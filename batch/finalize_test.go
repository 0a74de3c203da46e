package batch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/manifest"
)

// funcProcessor turns each task into the result fn gives.
type funcProcessor func(imgbatch.Task) imgbatch.Result

func (f funcProcessor) Process(ctx context.Context, _ *imgbatch.Run, tasks <-chan imgbatch.Task, emit func(imgbatch.Result)) error {
	for t := range tasks {
		r := f(t)
		r.Index, r.Item = t.Index, t.Item
		emit(r)
	}
	return nil
}

// runToEnd plans its items and runs them with width children.
func runToEnd(t *testing.T, s *Store, its []imgbatch.Item, o PlanOptions, width int, proc imgbatch.Processor) (*imgbatch.Run, *countingNotifier) {
	t.Helper()
	p := mustPlan(t, s, itemtest.NewSource(its...), o)
	note := &countingNotifier{}
	runChildren(t, width, func(i int) *Runner {
		return &Runner{Store: s, RunID: p.Run.ID, Me: Identity{JobID: "j", Index: i, ArraySize: width, Attempt: 1},
			Processor: proc, Notifier: note, LeaseTTL: time.Second, Poll: 20 * time.Millisecond, Linger: true}
	})
	if note.runs.Load() != 1 {
		t.Fatalf("%d run events, want 1", note.runs.Load())
	}
	return &p.Run, note
}

func TestFailureToleranceByPercentAndCount(t *testing.T) {
	cases := []struct {
		name        string
		items, fail int
		tol         imgbatch.Tolerance
		want        string
	}{
		{"S3 rule: over half of 1000 failed", 1000, 501, imgbatch.Tolerance{}, RunFailed},
		{"S3 rule: exactly half of 1000", 1000, 500, imgbatch.Tolerance{}, RunCompleted},
		{"S3 rule: all failed but under 1000 tasks", 999, 999, imgbatch.Tolerance{}, RunCompleted},
		{"count: one over the limit", 100, 11, imgbatch.Tolerance{MinTasks: 1000, MaxFailedPercent: 50, MaxFailed: 10}, RunFailed},
		{"count: at the limit", 100, 10, imgbatch.Tolerance{MinTasks: 1000, MaxFailedPercent: 50, MaxFailed: 10}, RunCompleted},
		{"percent with no minimum", 100, 6, imgbatch.Tolerance{MaxFailedPercent: 5}, RunFailed},
		{"percent with no minimum, at it", 100, 5, imgbatch.Tolerance{MaxFailedPercent: 5}, RunCompleted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			o := planOpts()
			o.ShardSize = 100
			o.Tolerance = c.tol
			proc := funcProcessor(func(tk imgbatch.Task) imgbatch.Result {
				var n int
				fmt.Sscanf(tk.Item.Key, "k/%05d.jpg", &n)
				if n < c.fail {
					return imgbatch.Result{Status: imgbatch.StatusFailed, ErrorCode: "CorruptImage", Message: "bad"}
				}
				return imgbatch.Result{Status: imgbatch.StatusSucceeded}
			})
			_, note := runToEnd(t, s, items(c.items), o, 2, proc)
			f := note.last.Load().(Final)
			if f.Status != c.want || f.Counts.Items != int64(c.items) || f.Counts.Failed != int64(c.fail) {
				t.Fatalf("final %s (%s), %d items, %d failed; want %s", f.Status, f.Reason, f.Counts.Items, f.Counts.Failed, c.want)
			}
			if (f.Status == RunFailed) != (f.Reason != "") {
				t.Errorf("status %s with reason %q", f.Status, f.Reason)
			}
		})
	}
}

func TestReportFailedCSVAndSummary(t *testing.T) {
	s := newStore(t)
	keys := []string{
		"plain/a.jpg",
		"with space/and+plus.jpg",
		"ünïcode/日本語.png",
		"comma,and\"quote\".jpg",
		"=cmd|' /C calc'!A0.jpg",
		"-2+3.jpg",
		"percent%20literal.jpg",
	}
	var its []imgbatch.Item
	for i, k := range keys {
		it := imgbatch.Item{Bucket: "src", Key: k, Size: 10}
		if i == 2 {
			it.VersionID = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
		}
		its = append(its, it)
	}
	msgs := map[string]imgbatch.Result{
		"ünïcode/日本語.png":         {Status: imgbatch.StatusFailed, ErrorCode: "UnsupportedFormat", Message: "=HYPERLINK(\"http://x\")"},
		"comma,and\"quote\".jpg":  {Status: imgbatch.StatusFailed, ErrorCode: "CorruptImage", Message: "line one\nline, two"},
		"=cmd|' /C calc'!A0.jpg":  {Status: imgbatch.StatusFailed, ErrorCode: "CorruptImage", Message: "+1 @SUM(A1)"},
		"with space/and+plus.jpg": {Status: imgbatch.StatusSkipped},
		"percent%20literal.jpg":   {Status: imgbatch.StatusFailed, ErrorCode: "AccessDenied", HTTPStatus: 403, Message: "-forbidden"},
		"plain/a.jpg":             {Status: imgbatch.StatusSucceeded, Outputs: []imgbatch.Output{{Variant: "thumb"}}},
		"-2+3.jpg":                {Status: imgbatch.StatusSucceeded, Message: "＝fullwidth"},
	}
	o := planOpts()
	o.ShardSize = 3
	run, note := runToEnd(t, s, its, o, 2, funcProcessor(func(tk imgbatch.Task) imgbatch.Result { return msgs[tk.Item.Key] }))
	f := note.last.Load().(Final)
	checkReportCSV(t, s, f, len(keys))
	checkFailedCSV(t, s, f)
	checkSummary(t, s, f, run)
}

// checkReportCSV checks report.csv: no header, 7 columns, URL-encoded keys,
// defused messages.
func checkReportCSV(t *testing.T, s *Store, f Final, items int) {
	t.Helper()
	b, _, err := s.Get(context.Background(), f.Report)
	if err != nil {
		t.Fatal(err)
	}
	rep := itemtest.ParseReport(t, b) // 7 columns, URL-encoded keys
	if rep.Rows != items || len(rep.ByKey) != items {
		t.Fatalf("report has %d rows for %d keys, want %d (no header, one row a key)", rep.Rows, len(rep.ByKey), items)
	}
	for key, r := range rep.ByKey {
		if len(r) != len(ReportColumns) {
			t.Fatalf("row %q has %d columns, want %d", r, len(r), len(ReportColumns))
		}
		if r[1] != EncodeKey(key) || strings.ContainsAny(r[1], "/ ") {
			t.Errorf("key %q is not URL-encoded", r[1])
		}
		// Keys stay exact (URL-encoding leaves no = + - @ in front); codes
		// and messages, free text, are defused.
		if strings.ContainsRune("=+-@", rune(r[1][0])) {
			t.Errorf("row %q: key starts a formula", r)
		}
		for _, c := range []string{r[4], r[6]} {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("row %q: field %q starts a formula", r, c)
			}
		}
	}
	want := map[string][]string{
		"plain/a.jpg":             {"src", "plain%2Fa.jpg", "", "succeeded", "", "200", "1 outputs"},
		"with space/and+plus.jpg": {"src", "with+space%2Fand%2Bplus.jpg", "", "succeeded", "", "200", "skipped: outputs are current"},
		"ünïcode/日本語.png":         {"src", url.QueryEscape("ünïcode/日本語.png"), "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "failed", "UnsupportedFormat", "400", "'=HYPERLINK(\"http://x\")"},
		"comma,and\"quote\".jpg":  {"src", "comma%2Cand%22quote%22.jpg", "", "failed", "CorruptImage", "400", "line one\nline, two"},
		"=cmd|' /C calc'!A0.jpg":  {"src", "%3Dcmd%7C%27+%2FC+calc%27%21A0.jpg", "", "failed", "CorruptImage", "400", "'+1 @SUM(A1)"},
		"-2+3.jpg":                {"src", "%2D2%2B3.jpg", "", "succeeded", "", "200", "'＝fullwidth"},
		"percent%20literal.jpg":   {"src", "percent%2520literal.jpg", "", "failed", "AccessDenied", "403", "'-forbidden"},
	}
	for k, w := range want {
		if got := rep.ByKey[k]; strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("row of %q:\n got %q\nwant %q", k, got, w)
		}
	}
}

// checkFailedCSV checks that failed.csv reads back as an S3 Batch
// Operations CSV manifest of the failed items.
func checkFailedCSV(t *testing.T, s *Store, f Final) {
	t.Helper()
	ctx := context.Background()
	fb, _, err := s.Get(ctx, f.Failed)
	if err != nil {
		t.Fatal(err)
	}
	path := testutil.WriteTemp(t, "failed.csv", string(fb))
	for _, format := range []manifest.Format{manifest.CSV, manifest.Detect} {
		r, closer, err := manifest.Open(ctx, path, manifest.Options{Format: format})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for {
			it, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("failed.csv (%q): %v\n%s", format, err, fb)
			}
			got[it.Key] = it.Bucket + "|" + it.VersionID
		}
		closer.Close()
		wantFailed := map[string]string{
			"ünïcode/日本語.png": "src|3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "comma,and\"quote\".jpg": "src|",
			"=cmd|' /C calc'!A0.jpg": "src|", "percent%20literal.jpg": "src|",
		}
		if fmt.Sprint(got) != fmt.Sprint(wantFailed) {
			t.Errorf("failed.csv read as %q: %v, want %v", format, got, wantFailed)
		}
	}
}

// checkSummary checks summary.json: counts and failures by reason, the
// largest group first.
func checkSummary(t *testing.T, s *Store, f Final, run *imgbatch.Run) {
	t.Helper()
	var sum Summary
	if _, err := s.GetJSON(context.Background(), f.Summary, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Counts.Items != 7 || sum.Counts.Failed != 4 || sum.Counts.Skipped != 1 || sum.Counts.Succeeded != 2 || sum.Status != RunCompleted || sum.RunID != run.ID {
		t.Errorf("summary %+v", sum.Final)
	}
	if len(sum.Failures) != 3 || sum.Failures[0].ErrorCode != "CorruptImage" || sum.Failures[0].Count != 2 || len(sum.Failures[0].Keys) != 2 {
		t.Errorf("summary failures %+v", sum.Failures)
	}
	// summary.json is written before the event is sent: it must not say
	// "eventSent": false beside a final.json that says true.
	raw, _, err := s.Get(context.Background(), f.Summary)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("eventSent")) {
		t.Errorf("summary.json has an eventSent field (final.json is the outbox): %s", raw)
	}
}
