package batch

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/htmlreport"
	"github.com/imgbatch/imgbatch/manifest"
)

// Summary is summary.json: counts and failures grouped by reason.
type Summary struct {
	Final
	// EventSent hides Final's: summary.json is written before the run's
	// event is sent, so a false there would be stale by the time anyone
	// reads it; final.json says whether the event went out.
	EventSent *struct{}      `json:"eventSent,omitempty"`
	Failures  []FailureGroup `json:"failures"`
	// Variants: bytes in and out, copies and the format mix per variant.
	Variants []VariantFigures `json:"variants,omitempty"`

	// For report.html (not in summary.json): shard timings and a few outputs.
	shards  []htmlreport.Shard
	samples []imgbatch.Output
	unsent  []DoneMarker // shards whose "Shard Completed" is still in their outbox
	figures map[string]*VariantFigures
	picture *Picture // the first source's, for report.html
}

// FailureGroup is the failures of one error code.
type FailureGroup struct {
	ErrorCode string   `json:"errorCode"`
	Count     int64    `json:"count"`
	Example   string   `json:"example"` // a message
	Keys      []string `json:"keys"`    // up to 5 example keys
}

// ReportColumns are S3 Batch Operations' completion report columns (the
// report itself has no header row, like S3's).
var ReportColumns = []string{"Bucket", "Key", "VersionId", "TaskStatus", "ErrorCode", "HTTPStatusCode", "ResultMessage"}

// EncodeKey URL-encodes a key the way S3 Batch Operations manifests and
// reports carry keys.
//
// A leading space or minus sign is percent-encoded as well (S3 would leave
// them "+" and "-"), so that no spreadsheet reads the key as a formula.
func EncodeKey(k string) string {
	e := url.QueryEscape(k)
	switch {
	case strings.HasPrefix(e, "+"):
		return "%20" + e[1:]
	case strings.HasPrefix(e, "-"):
		return "%2D" + e[1:]
	}
	return e
}

// csvSafe defuses spreadsheet formulas (CSV injection) in report fields.
// Keys need none of it: EncodeKey leaves no formula.
var csvSafe = manifest.DefuseFormula

// reportWindow is how many shards' results are fetched at once while the
// reports are written (in shard order).
const reportWindow = 16

// shardResults are the final results of one shard, or why they are missing.
// When a run ends early, a shard without a done marker has no results: its
// items (left) go to remaining.csv.
type shardResults struct {
	m    *DoneMarker
	rs   []imgbatch.Result
	left []imgbatch.Item
	err  error
}

// fetchResults reads every shard's done marker and results file, a window
// of them at a time, and delivers them in shard order. With partial (a run
// ended early) a shard without a done marker delivers its items instead.
func fetchResults(ctx context.Context, s *Store, run *imgbatch.Run, partial bool) (<-chan chan shardResults, func()) {
	ctx, cancel := context.WithCancel(ctx)
	order := make(chan chan shardResults, reportWindow)
	go func() {
		defer close(order)
		for n := 0; n < run.Shards; n++ {
			ch := make(chan shardResults, 1)
			select {
			case order <- ch:
			case <-ctx.Done():
				return
			}
			go func() { ch <- fetchShard(ctx, s, run, n, partial) }()
		}
	}()
	return order, func() {
		cancel()
		for ch := range order { // let the fetches in flight end
			<-ch
		}
	}
}

// fetchShard reads the results of shard n, or with partial the items of a
// shard that is not done.
func fetchShard(ctx context.Context, s *Store, run *imgbatch.Run, n int, partial bool) shardResults {
	m, err := s.LoadDoneAt(ctx, imgbatch.LayoutOf(run), n)
	if partial && IsNotFound(err) {
		left, err := s.LoadShard(ctx, run.ID, n)
		if err != nil {
			return shardResults{err: fmt.Errorf("shard %d: %w", n, err)}
		}
		return shardResults{left: left}
	}
	if err != nil {
		return shardResults{err: fmt.Errorf("shard %d: %w", n, err)}
	}
	rs, err := s.ReadResults(ctx, m.Results)
	return shardResults{m: m, rs: rs, err: err}
}

// writeReports streams every shard's results into report.csv,
// failed.csv and the catalog (via temporary files: constant memory) and
// returns the counts.
// With partial (the run ends early) the items of shards without a done
// marker go to remaining.csv and the counts are those of the items that ran.
func writeReports(ctx context.Context, s *Store, run *imgbatch.Run, partial bool) (Final, Summary, error) {
	lay := imgbatch.LayoutOf(run)
	fin := Final{RunID: run.ID, Shards: run.Shards, Report: lay.Report(), Failed: lay.Failed(), Summary: lay.Summary(),
		Catalog: lay.CatalogPrefix()}
	if partial {
		fin.Remaining = lay.Remaining()
	}
	var sum Summary
	files, err := newReportFiles()
	if err != nil {
		return fin, sum, err
	}
	defer files.remove()
	pic, err := newPictureFile()
	if err != nil {
		return fin, sum, err
	}
	defer pic.remove()
	cat := newRunCatalog(ctx, s, run)
	defer cat.remove()
	groups := map[string]*FailureGroup{}
	order, stop := fetchResults(ctx, s, run, partial)
	defer stop()
	for ch := range order {
		sr := <-ch
		if sr.err != nil {
			return fin, sum, sr.err
		}
		sum.addShard(sr.m)
		fin.addRequests(sr.m)
		for _, res := range sr.rs {
			fin.Counts.Add(res)
			sum.addSample(res)
			sum.addOutputs(res, pic)
			if res.Status == imgbatch.StatusFailed {
				addFailure(groups, res)
			}
			files.write(res)
			if err := cat.add(res); err != nil {
				return fin, sum, err
			}
		}
		for _, it := range sr.left {
			_ = files.remaining.w.Write(manifestRow(it))
			fin.NotRun++
		}
	}
	if err := ctx.Err(); err != nil {
		return fin, sum, err
	}
	if err := files.upload(ctx, s, lay, partial); err != nil {
		return fin, sum, err
	}
	if err := pic.upload(ctx, s, lay.Picture()); err != nil {
		return fin, sum, err
	}
	fin.Picture, sum.Variants = lay.Picture(), sum.variantFigures(run.Recipe)
	if err := cat.close(); err != nil {
		return fin, sum, err
	}
	fin.Status = RunCompleted
	if run.Tolerance.Exceeded(fin.Counts.Items, fin.Counts.Failed) {
		fin.Status = RunFailed
		fin.Reason = imgbatch.ReasonTolerance
		fin.Detail = toleranceReason(run.Tolerance, fin.Counts)
	}
	for _, g := range groups {
		sum.Failures = append(sum.Failures, *g)
	}
	sortFailures(sum.Failures)
	return fin, sum, nil
}

// addShard keeps what report.html shows of a shard, and its "Shard
// Completed" event if that is still in its outbox.
func (sum *Summary) addShard(m *DoneMarker) {
	if m == nil {
		return
	}
	if !m.EventSent {
		sum.unsent = append(sum.unsent, *m)
	}
	if len(sum.shards) < maxReportShards {
		sum.shards = append(sum.shards, htmlreport.Shard{N: m.Shard, Owner: m.Owner, Epoch: m.Epoch,
			Start: m.StartedAt, End: m.FinishedAt, Items: m.Counts.Items, Failed: m.Counts.Failed})
	}
}

// addSample keeps the smallest output of the first succeeded items for
// report.html's contact sheet.
func (sum *Summary) addSample(res imgbatch.Result) {
	if res.Status == imgbatch.StatusSucceeded && len(res.Outputs) > 0 && len(sum.samples) < maxReportSamples {
		sum.samples = append(sum.samples, smallestOutput(res.Outputs))
	}
}

// csvFile is one CSV report while it is written: a temporary file,
// uploaded when complete. Write errors stay in the csv.Writer until upload.
type csvFile struct {
	f *os.File
	b *bufio.Writer
	w *csv.Writer
}

func newCSVFile(pattern string) (*csvFile, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return nil, err
	}
	c := &csvFile{f: f, b: bufio.NewWriter(f)}
	c.w = csv.NewWriter(c.b)
	return c, nil
}

// upload flushes the file and puts it at key.
func (c *csvFile) upload(ctx context.Context, s *Store, key string) error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	if err := c.b.Flush(); err != nil {
		return err
	}
	return s.PutFile(ctx, key, c.f, "text/csv")
}

func (c *csvFile) remove() {
	c.f.Close()
	os.Remove(c.f.Name())
}

// reportFiles are report.csv, failed.csv and remaining.csv while they are
// written.
type reportFiles struct {
	report, failed, remaining *csvFile
}

func newReportFiles() (*reportFiles, error) {
	f := &reportFiles{}
	for _, c := range []struct {
		to      **csvFile
		pattern string
	}{{&f.report, "imgbatch-report-*.csv"}, {&f.failed, "imgbatch-failed-*.csv"}, {&f.remaining, "imgbatch-remaining-*.csv"}} {
		cf, err := newCSVFile(c.pattern)
		if err != nil {
			f.remove()
			return nil, err
		}
		*c.to = cf
	}
	return f, nil
}

// write adds the rows of res: always to report.csv, and to failed.csv (an
// S3 Batch Operations manifest: bucket,key[,versionId]) when it failed.
func (f *reportFiles) write(res imgbatch.Result) {
	if res.Status == imgbatch.StatusFailed {
		_ = f.failed.w.Write(manifestRow(res.Item))
	}
	_ = f.report.w.Write(ReportRow(res))
}

// manifestRow is the S3 Batch Operations manifest row of an item:
// bucket,key[,versionId], the key URL-encoded.
func manifestRow(it imgbatch.Item) []string {
	row := []string{it.Bucket, EncodeKey(it.Key)}
	if it.VersionID != "" {
		row = append(row, csvSafe(it.VersionID))
	}
	return row
}

// upload puts the files in the run's place (remaining.csv only for a run
// ended early).
func (f *reportFiles) upload(ctx context.Context, s *Store, lay imgbatch.Layout, partial bool) error {
	if err := f.report.upload(ctx, s, lay.Report()); err != nil {
		return err
	}
	if err := f.failed.upload(ctx, s, lay.Failed()); err != nil {
		return err
	}
	if !partial {
		return nil
	}
	return f.remaining.upload(ctx, s, lay.Remaining())
}

// remove closes and deletes the files.
func (f *reportFiles) remove() {
	for _, c := range []*csvFile{f.report, f.failed, f.remaining} {
		if c != nil {
			c.remove()
		}
	}
}

// toleranceReason says which limit of t the counts broke.
func toleranceReason(t imgbatch.Tolerance, c imgbatch.Counts) string {
	if t.MaxFailed > 0 && c.Failed > t.MaxFailed {
		return fmt.Sprintf("%d of %d items failed, more than the run's limit of %d failed items", c.Failed, c.Items, t.MaxFailed)
	}
	return fmt.Sprintf("%d of %d items failed (%.1f%%), more than the run's %.4g%% once at least %d items ran",
		c.Failed, c.Items, float64(c.Failed)*100/float64(max(c.Items, 1)), t.MaxFailedPercent, t.MinTasks)
}

// ReportRow is the completion-report row of a result, in ReportColumns
// order: the key URL-encoded, the message and error code defused for
// spreadsheets.
func ReportRow(res imgbatch.Result) []string {
	status, msg := "succeeded", res.Message
	code := res.HTTPStatus
	if code == 0 {
		code = 200
	}
	switch res.Status {
	case imgbatch.StatusFailed:
		status = "failed"
		if code == 200 {
			code = 400
		}
	case imgbatch.StatusSkipped:
		if msg == "" {
			msg = "skipped: outputs are current"
		}
	default:
		if msg == "" {
			msg = strconv.Itoa(len(res.Outputs)) + " outputs"
		}
	}
	return []string{res.Item.Bucket, EncodeKey(res.Item.Key), csvSafe(res.Item.VersionID), status,
		csvSafe(res.ErrorCode), strconv.Itoa(code), csvSafe(msg)}
}

// addFailure counts a failed result in the group of its error code.
func addFailure(groups map[string]*FailureGroup, r imgbatch.Result) {
	mergeGroup(groups, FailureGroup{ErrorCode: r.ErrorCode, Example: r.Message, Count: 1, Keys: []string{r.Item.Key}})
}

func mergeGroup(groups map[string]*FailureGroup, g FailureGroup) {
	cur := groups[g.ErrorCode]
	if cur == nil {
		cur = &FailureGroup{ErrorCode: g.ErrorCode, Example: g.Example}
		groups[g.ErrorCode] = cur
	}
	cur.Count += g.Count
	for _, k := range g.Keys {
		if len(cur.Keys) < 5 {
			cur.Keys = append(cur.Keys, k)
		}
	}
}

func sortFailures(fs []FailureGroup) {
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Count != fs[j].Count {
			return fs[i].Count > fs[j].Count
		}
		return fs[i].ErrorCode < fs[j].ErrorCode
	})
}
