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
	Failures []FailureGroup `json:"failures"`

	// For report.html (not in summary.json): shard timings and a few outputs.
	shards  []htmlreport.Shard
	samples []imgbatch.Output
	unsent  []DoneMarker // shards whose "Shard Completed" is still in their outbox
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
type shardResults struct {
	m   *DoneMarker
	rs  []imgbatch.Result
	err error
}

// fetchResults reads every shard's done marker and results file, a window
// of them at a time, and delivers them in shard order.
func fetchResults(ctx context.Context, s *Store, run *imgbatch.Run) (<-chan chan shardResults, func()) {
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
			go func() {
				m, err := s.LoadDone(ctx, run.ID, n)
				if err != nil {
					ch <- shardResults{err: fmt.Errorf("shard %d: %w", n, err)}
					return
				}
				rs, err := s.ReadResults(ctx, m.Results)
				ch <- shardResults{m: m, rs: rs, err: err}
			}()
		}
	}()
	return order, func() {
		cancel()
		for ch := range order { // let the fetches in flight end
			<-ch
		}
	}
}

// writeReports streams every shard's results into report.csv and
// failed.csv (via temporary files: constant memory) and returns the counts.
func writeReports(ctx context.Context, s *Store, run *imgbatch.Run) (Final, Summary, error) {
	lay := imgbatch.Layout{RunID: run.ID}
	fin := Final{RunID: run.ID, Shards: run.Shards, Report: lay.Report(), Failed: lay.Failed(), Summary: lay.Summary()}
	var sum Summary
	rep, err := os.CreateTemp("", "imgbatch-report-*.csv")
	if err != nil {
		return fin, sum, err
	}
	defer os.Remove(rep.Name())
	defer rep.Close()
	fail, err := os.CreateTemp("", "imgbatch-failed-*.csv")
	if err != nil {
		return fin, sum, err
	}
	defer os.Remove(fail.Name())
	defer fail.Close()
	rb, fb := bufio.NewWriter(rep), bufio.NewWriter(fail)
	rw, fw := csv.NewWriter(rb), csv.NewWriter(fb)
	groups := map[string]*FailureGroup{}
	order, stop := fetchResults(ctx, s, run)
	defer stop()
	for ch := range order {
		sr := <-ch
		if sr.err != nil {
			return fin, sum, sr.err
		}
		if m := sr.m; m != nil && !m.EventSent {
			sum.unsent = append(sum.unsent, *m)
		}
		if m := sr.m; m != nil && len(sum.shards) < maxReportShards {
			sum.shards = append(sum.shards, htmlreport.Shard{N: m.Shard, Owner: m.Owner, Epoch: m.Epoch,
				Start: m.StartedAt, End: m.FinishedAt, Items: m.Counts.Items, Failed: m.Counts.Failed})
		}
		for _, res := range sr.rs {
			fin.Counts.Add(res)
			if res.Status == imgbatch.StatusSucceeded && len(res.Outputs) > 0 && len(sum.samples) < maxReportSamples {
				sum.samples = append(sum.samples, smallestOutput(res.Outputs))
			}
			row := ReportRow(res)
			if res.Status == imgbatch.StatusFailed {
				g := groups[res.ErrorCode]
				if g == nil {
					g = &FailureGroup{ErrorCode: res.ErrorCode, Example: res.Message}
					groups[res.ErrorCode] = g
				}
				g.Count++
				if len(g.Keys) < 5 {
					g.Keys = append(g.Keys, res.Item.Key)
				}
				// failed.csv is an S3 Batch Operations manifest: bucket,key[,versionId].
				frow := []string{res.Item.Bucket, EncodeKey(res.Item.Key)}
				if res.Item.VersionID != "" {
					frow = append(frow, csvSafe(res.Item.VersionID))
				}
				_ = fw.Write(frow)
			}
			_ = rw.Write(row)
		}
	}
	if err := ctx.Err(); err != nil {
		return fin, sum, err
	}
	rw.Flush()
	fw.Flush()
	if err := rw.Error(); err != nil {
		return fin, sum, err
	}
	if err := fw.Error(); err != nil {
		return fin, sum, err
	}
	if err := rb.Flush(); err != nil {
		return fin, sum, err
	}
	if err := fb.Flush(); err != nil {
		return fin, sum, err
	}
	if err := s.PutFile(ctx, lay.Report(), rep, "text/csv"); err != nil {
		return fin, sum, err
	}
	if err := s.PutFile(ctx, lay.Failed(), fail, "text/csv"); err != nil {
		return fin, sum, err
	}
	fin.Status = RunCompleted
	if run.Tolerance.Exceeded(fin.Counts.Items, fin.Counts.Failed) {
		fin.Status = RunFailed
		fin.Reason = toleranceReason(run.Tolerance, fin.Counts)
	}
	for _, g := range groups {
		sum.Failures = append(sum.Failures, *g)
	}
	sort.Slice(sum.Failures, func(i, j int) bool {
		if sum.Failures[i].Count != sum.Failures[j].Count {
			return sum.Failures[i].Count > sum.Failures[j].Count
		}
		return sum.Failures[i].ErrorCode < sum.Failures[j].ErrorCode
	})
	return fin, sum, nil
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
