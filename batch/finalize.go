package batch

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
)

// Run outcomes.
const (
	RunCompleted = "completed"
	RunFailed    = "failed"
)

// Final is the write-once marker of a finalized run (runs/<id>/final.json).
// It is also the outbox of the run's last event: EventSent turns true once
// the event was accepted, and whoever finds it false sends it again (same id).
type Final struct {
	RunID      string          `json:"runId"`
	Status     string          `json:"status"`
	Reason     string          `json:"reason,omitempty"`
	Counts     imgbatch.Counts `json:"counts"`
	Shards     int             `json:"shards"`
	Report     string          `json:"report"`
	Failed     string          `json:"failed"`
	Summary    string          `json:"summary"`
	FinishedAt time.Time       `json:"finishedAt"`
	DurationMs int64           `json:"durationMs"`
	EventSent  bool            `json:"eventSent"`
}

// Summary is summary.json: counts and failures grouped by reason.
type Summary struct {
	Final
	Failures []FailureGroup `json:"failures"`
}

// FailureGroup is the failures of one error code.
type FailureGroup struct {
	ErrorCode string   `json:"errorCode"`
	Count     int64    `json:"count"`
	Example   string   `json:"example"` // a message
	Keys      []string `json:"keys"`    // up to 5 example keys
}

// finalizeIfComplete finalizes the run when every shard is done. Several
// children may get here at once: all build the same report (it depends only
// on the done markers), and the write-once final.json picks the one that
// sends the run's event.
func (r *Runner) finalizeIfComplete(ctx context.Context, run *imgbatch.Run, log *slog.Logger) (bool, error) {
	return Finalize(ctx, r.Store, run, r.Notifier, r.Now, log)
}

// Finalize writes the run's reports and final marker if every shard is done,
// and reports whether this call finalized it. It also re-sends the final
// event of an already finalized run whose event was never confirmed.
func Finalize(ctx context.Context, s *Store, run *imgbatch.Run, n Notifier, now func() time.Time, log *slog.Logger) (bool, error) {
	if now == nil {
		now = time.Now
	}
	lay := imgbatch.Layout{RunID: run.ID}
	var existing Final
	etag, err := s.GetJSON(ctx, lay.Final(), &existing)
	if err == nil {
		if !existing.EventSent && n != nil {
			return false, sendFinal(ctx, s, run, n, existing, etag, log)
		}
		return false, nil
	}
	if !IsNotFound(err) {
		return false, err
	}
	done := 0
	if err := s.List(ctx, lay.DonePrefix(), func(string, int64) error { done++; return nil }); err != nil {
		return false, err
	}
	if done < run.Shards {
		return false, nil
	}
	fin, sum, err := writeReports(ctx, s, run)
	if err != nil {
		return false, err
	}
	fin.FinishedAt = now().UTC()
	fin.DurationMs = fin.FinishedAt.Sub(run.CreatedAt).Milliseconds()
	sum.Final = fin
	if _, err := s.PutJSON(ctx, lay.Summary(), sum, Cond{}); err != nil {
		return false, err
	}
	tag, err := s.PutJSON(ctx, lay.Final(), fin, Cond{IfNoneMatch: true})
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	log.Info("run finalized", "status", fin.Status, "succeeded", fin.Counts.Succeeded, "failed", fin.Counts.Failed, "skipped", fin.Counts.Skipped)
	if n != nil {
		if err := sendFinal(ctx, s, run, n, fin, tag, log); err != nil {
			return true, err
		}
	}
	return true, nil
}

func sendFinal(ctx context.Context, s *Store, run *imgbatch.Run, n Notifier, fin Final, etag string, log *slog.Logger) error {
	if err := n.RunFinished(ctx, run, fin); err != nil {
		return fmt.Errorf("send run event (final.json keeps it for a re-send): %w", err)
	}
	fin.EventSent = true
	if _, err := s.PutJSON(ctx, imgbatch.Layout{RunID: run.ID}.Final(), fin, Cond{IfMatch: etag}); err != nil && !errors.Is(err, ErrConflict) {
		log.Warn("event sent but outbox not updated; it may be sent again with the same id", "err", err)
	}
	return nil
}

// LoadDone reads the done marker of shard n.
func (s *Store) LoadDone(ctx context.Context, runID string, n int) (*DoneMarker, error) {
	var m DoneMarker
	if _, err := s.GetJSON(ctx, imgbatch.Layout{RunID: runID}.Done(n), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// ReportColumns are S3 Batch Operations' completion report columns (the
// report itself has no header row, like S3's).
var ReportColumns = []string{"Bucket", "Key", "VersionId", "TaskStatus", "ErrorCode", "HTTPStatusCode", "ResultMessage"}

// EncodeKey URL-encodes a key the way S3 Batch Operations manifests and
// reports carry keys.
func EncodeKey(k string) string { return url.QueryEscape(k) }

// csvSafe defuses spreadsheet formulas: a field starting with = + - @ (or a
// tab/CR) gets a leading apostrophe.
func csvSafe(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
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
	for n := 0; n < run.Shards; n++ {
		m, err := s.LoadDone(ctx, run.ID, n)
		if err != nil {
			return fin, sum, fmt.Errorf("shard %d: %w", n, err)
		}
		rs, err := s.ReadResults(ctx, m.Results)
		if err != nil {
			return fin, sum, err
		}
		for _, res := range rs {
			fin.Counts.Add(res)
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
				g := groups[res.ErrorCode]
				if g == nil {
					g = &FailureGroup{ErrorCode: res.ErrorCode, Example: res.Message}
					groups[res.ErrorCode] = g
				}
				g.Count++
				if len(g.Keys) < 5 {
					g.Keys = append(g.Keys, res.Item.Key)
				}
				_ = fw.Write([]string{res.Item.Bucket, EncodeKey(res.Item.Key), res.Item.VersionID})
			case imgbatch.StatusSkipped:
				if msg == "" {
					msg = "skipped: outputs are current"
				}
			default:
				if msg == "" {
					msg = strconv.Itoa(len(res.Outputs)) + " outputs"
				}
			}
			_ = rw.Write([]string{res.Item.Bucket, EncodeKey(res.Item.Key), res.Item.VersionID, status,
				csvSafe(res.ErrorCode), strconv.Itoa(code), csvSafe(msg)})
		}
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
		fin.Reason = fmt.Sprintf("%d of %d items failed, over the run's failure tolerance", fin.Counts.Failed, fin.Counts.Items)
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

// PutFile uploads a file (multipart through the transfer manager when the
// client supports it, so reports of any size fit).
func (s *Store) PutFile(ctx context.Context, key string, f *os.File, contentType string) error {
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	if c, ok := s.S3.(manager.UploadAPIClient); ok {
		up := manager.NewUploader(c)
		_, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key, Body: f, ContentType: aws.String(contentType)})
		if err != nil {
			return fmt.Errorf("upload s3://%s/%s: %w", s.Bucket, key, err)
		}
		return nil
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = s.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key, Body: f, ContentLength: aws.Int64(st.Size()), ContentType: aws.String(contentType)})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, err)
	}
	return nil
}
