package batch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/htmlreport"
	"github.com/imgbatch/imgbatch/manifest"
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

	// For report.html (not in summary.json): shard timings and a few outputs.
	shards  []htmlreport.Shard
	samples []imgbatch.Output
	unsent  []DoneMarker // shards whose "Shard Completed" is still in their outbox
}

// Limits of report.html: shard rows and contact-sheet images.
const (
	maxReportShards  = 2000
	maxReportSamples = 24
)

// FailureGroup is the failures of one error code.
type FailureGroup struct {
	ErrorCode string   `json:"errorCode"`
	Count     int64    `json:"count"`
	Example   string   `json:"example"` // a message
	Keys      []string `json:"keys"`    // up to 5 example keys
}

// Finalize writes the run's reports and final marker if every shard is
// done and no other child is finalizing, and reports whether this call
// finalized it. It also re-sends the final event of an already finalized
// run whose event was never confirmed (once that finalizer's lease has
// expired). me names the caller in the finalizer lease.
func Finalize(ctx context.Context, s *Store, run *imgbatch.Run, me Identity, n Notifier, log *slog.Logger) (bool, error) {
	r := &Runner{Store: s, RunID: run.ID, Me: me, Notifier: n, Log: log}
	r.defaults()
	return r.finalize(ctx, run, false, r.Log)
}

// finalize is the end of a run. The run's finalizer lease picks one child
// to build the reports (they read every shard's results, so a thousand
// children doing it at once would cost a thousand times the requests); the
// write-once final.json records the outcome and is the outbox of the run's
// event, which only the lease holder sends. With Linger, the others wait
// until the event is sent, taking the lease over if its holder dies.
func (r *Runner) finalize(ctx context.Context, run *imgbatch.Run, allDone bool, log *slog.Logger) (bool, error) {
	lay := imgbatch.Layout{RunID: run.ID}
	lea := &Leaser{Store: r.Store, RunID: run.ID, Me: r.Me, TTL: r.LeaseTTL, Now: r.Now}
	for {
		var existing Final
		_, err := r.Store.GetJSON(ctx, lay.Final(), &existing)
		switch {
		case err == nil && (existing.EventSent || r.Notifier == nil):
			return false, nil
		case err != nil && !IsNotFound(err):
			return false, err
		}
		lease, holder, err := lea.AcquireFinalizer(ctx)
		if err != nil {
			return false, err
		}
		if lease != nil {
			fin, err := r.finalizeHolding(ctx, run, lea, lease, allDone, log)
			if errors.Is(err, ErrLeaseLost) {
				log.Warn("finalizer lease lost; another child finalizes the run")
				continue
			}
			return fin, err
		}
		if !r.Linger {
			return false, nil
		}
		// Another child is finalizing: look again once its lease could
		// have expired (it renews it until the event is sent).
		wait := r.LeaseTTL
		if holder != nil {
			wait = min(max(holder.ExpiresAt.Sub(r.Now()), r.Poll), r.LeaseTTL)
		}
		if !sleep(ctx, jitter(wait)) {
			return false, ctx.Err()
		}
	}
}

// finalizeHolding finalizes the run under the finalizer lease.
func (r *Runner) finalizeHolding(ctx context.Context, run *imgbatch.Run, lea *Leaser, lease *Lease, allDone bool, log *slog.Logger) (bool, error) {
	lay := imgbatch.Layout{RunID: run.ID}
	// The lease is kept (renewed) until the event is sent and final.json's
	// outbox says so: no other child reads an unsent final.json meanwhile.
	hb := lea.keep(ctx, lease, log)
	hbCtx, stopHeartbeat := hb.ctx, hb.stop
	defer stopHeartbeat()
	// fail prefers ErrLeaseLost: a lost lease cancels the work in flight.
	fail := func(err error) (bool, error) {
		if lerr := stopHeartbeat(); lerr != nil {
			return false, lerr
		}
		return false, err
	}

	var existing Final
	etag, err := r.Store.GetJSON(hbCtx, lay.Final(), &existing)
	switch {
	case err == nil: // finalized, but its event was never confirmed
		if existing.EventSent || r.Notifier == nil {
			return false, stopHeartbeat()
		}
		serr := r.sendFinal(hbCtx, run, hb.check, existing, etag, log)
		if lerr := stopHeartbeat(); lerr != nil {
			return false, lerr
		}
		return false, serr
	case !IsNotFound(err):
		return fail(err)
	}
	if !allDone {
		done := 0
		if err := r.Store.List(hbCtx, lay.DonePrefix(), func(string, int64) error { done++; return nil }); err != nil {
			return fail(err)
		}
		if done < run.Shards {
			return false, nil
		}
	}
	fin, sum, err := writeReports(hbCtx, r.Store, run)
	if err != nil {
		return fail(err)
	}
	fin.FinishedAt = r.Now().UTC()
	fin.DurationMs = fin.FinishedAt.Sub(run.CreatedAt).Milliseconds()
	sum.Final = fin
	if _, err := r.Store.PutJSON(hbCtx, lay.Summary(), sum, Cond{}); err != nil {
		return fail(err)
	}
	if r.Notifier != nil {
		// Shard events a child could not send (it died, or EventBridge said no)
		// go out now, with their deterministic ids, before the run's event.
		for _, m := range sum.unsent {
			if err := r.Notifier.ShardCompleted(hbCtx, run, m); err != nil {
				log.Warn("shard event still not sent", "shard", m.Shard, "err", err)
				continue
			}
			r.Store.markEventSent(hbCtx, run.ID, m)
		}
	}
	if err := writeHTMLReport(hbCtx, r.Store, run, sum); err != nil {
		// The CSV and JSON reports are the contract; the page is a courtesy.
		log.Warn("report.html not written", "err", err)
	}
	tag, err := r.Store.PutJSON(hbCtx, lay.Final(), fin, Cond{IfNoneMatch: true})
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	if err != nil {
		return fail(err)
	}
	log.Info("run finalized", "status", fin.Status, "succeeded", fin.Counts.Succeeded, "failed", fin.Counts.Failed, "skipped", fin.Counts.Skipped)
	var serr error
	if r.Notifier != nil {
		serr = r.sendFinal(hbCtx, run, hb.check, fin, tag, log)
	}
	if lerr := stopHeartbeat(); lerr != nil {
		serr = lerr // what cancelled the send, if it failed
	}
	return true, serr
}

// sendFinal sends the run's event if the finalizer lease is still ours,
// and records it as sent in final.json.
func (r *Runner) sendFinal(ctx context.Context, run *imgbatch.Run, check func(context.Context) error, fin Final, etag string, log *slog.Logger) error {
	if err := check(ctx); err != nil {
		return err
	}
	if err := r.Notifier.RunFinished(ctx, run, fin); err != nil {
		return fmt.Errorf("send run event (final.json keeps it for a re-send): %w", err)
	}
	fin.EventSent = true
	if _, err := r.Store.PutJSON(ctx, imgbatch.Layout{RunID: run.ID}.Final(), fin, Cond{IfMatch: etag}); err != nil && !errors.Is(err, ErrConflict) {
		log.Warn("event sent but outbox not updated; it may be sent again with the same id", "err", err)
	}
	return nil
}

// LoadDone reads the done marker of shard n.
func (s *Store) LoadDone(ctx context.Context, runID string, n int) (*DoneMarker, error) {
	var m DoneMarker
	tag, err := s.GetJSON(ctx, imgbatch.Layout{RunID: runID}.Done(n), &m)
	if err != nil {
		return nil, err
	}
	m.etag = tag
	return &m, nil
}

// markEventSent records in the done marker (its outbox) that the shard's
// event was accepted. Losing the race to another writer is harmless: the
// event may be sent once more, with the same id.
func (s *Store) markEventSent(ctx context.Context, runID string, m DoneMarker) {
	if m.etag == "" {
		return
	}
	m.EventSent = true
	_, _ = s.PutJSON(ctx, imgbatch.Layout{RunID: runID}.Done(m.Shard), m, Cond{IfMatch: m.etag})
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

func smallestOutput(outs []imgbatch.Output) imgbatch.Output {
	best := outs[0]
	for _, o := range outs[1:] {
		if o.Bytes < best.Bytes {
			best = o
		}
	}
	return best
}

// writeHTMLReport renders report.html beside report.csv: counts, throughput
// over time, failures by reason, a contact sheet of sample outputs (read
// back from the output bucket), the recipe and the shard timings.
func writeHTMLReport(ctx context.Context, s *Store, run *imgbatch.Run, sum Summary) error {
	d := htmlreport.Data{
		RunID: run.ID, Status: sum.Status, Reason: sum.Reason, Source: run.Source,
		Output:  "s3://" + run.OutputBucket + "/" + run.OutputPrefix,
		Created: run.CreatedAt, Finished: sum.FinishedAt, Counts: sum.Counts,
		Recipe: run.Recipe, RecipeHash: run.RecipeHash, Shards: sum.shards,
	}
	for _, g := range sum.Failures {
		d.Failures = append(d.Failures, htmlreport.Failure{Code: g.ErrorCode, Count: g.Count, Example: g.Example, Keys: g.Keys})
	}
	for _, o := range sum.samples {
		if o.Bytes > htmlreport.MaxSampleBytes {
			continue
		}
		out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &run.OutputBucket, Key: &o.Key})
		if err != nil {
			continue // a missing sample only leaves a gap in the contact sheet
		}
		b, err := io.ReadAll(io.LimitReader(out.Body, htmlreport.MaxSampleBytes+1))
		out.Body.Close()
		if err != nil {
			continue
		}
		d.Samples = append(d.Samples, htmlreport.Sample{Key: o.Key, Variant: o.Variant, Width: o.Width, Height: o.Height,
			ContentType: contentTypeOf(run.Recipe, o.Variant), Data: b})
	}
	var buf bytes.Buffer
	if err := htmlreport.Render(&buf, d); err != nil {
		return err
	}
	_, err := s.Put(ctx, imgbatch.Layout{RunID: run.ID}.HTML(), buf.Bytes(), "text/html; charset=utf-8", Cond{})
	return err
}

func contentTypeOf(r imgbatch.Recipe, variant string) string {
	for _, v := range r.Variants {
		if v.Name == variant {
			return imgbatch.ContentType(v.Format)
		}
	}
	return "application/octet-stream"
}
