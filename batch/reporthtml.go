package batch

import (
	"bytes"
	"context"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/htmlreport"
)

// Limits of report.html: shard rows and contact-sheet images.
const (
	maxReportShards  = 2000
	maxReportSamples = 24
)

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
		RunID: run.ID, Status: sum.Status, Reason: sum.Reason, Detail: sum.Detail, Source: run.Source,
		Output:     "s3://" + run.OutputBucket + "/" + run.OutputPrefix,
		WorkBucket: run.WorkBucket, Created: run.CreatedAt, Finished: sum.FinishedAt, Counts: sum.Counts,
		NotRun: sum.NotRun, Remaining: workURI(run, sum.Remaining), FailedCSV: workURI(run, sum.Failed),
		Tolerance: run.Tolerance, Recipe: run.Recipe, RecipeHash: run.RecipeHash,
		ShardCount: run.Shards, Shards: sum.shards,
	}
	d.Variants, d.Picture = htmlFigures(sum)
	for _, g := range sum.Failures {
		d.Failures = append(d.Failures, htmlreport.Failure{Code: g.ErrorCode, Count: g.Count, Example: g.Example, Keys: g.Keys})
	}
	for _, o := range sum.samples {
		if o.Bytes > htmlreport.MaxSampleBytes {
			continue
		}
		in := &s3.GetObjectInput{Bucket: &run.OutputBucket, Key: &o.Key}
		if run.Access.OutputOwner != "" {
			in.ExpectedBucketOwner = &run.Access.OutputOwner
		}
		if run.Access.OutputRequesterPays {
			in.RequestPayer = types.RequestPayerRequester
		}
		out, err := s.S3.GetObject(ctx, in)
		if err != nil {
			continue // a missing sample only leaves a gap in the contact sheet
		}
		b, err := io.ReadAll(io.LimitReader(out.Body, htmlreport.MaxSampleBytes+1))
		out.Body.Close()
		if err != nil {
			continue
		}
		d.Samples = append(d.Samples, htmlreport.Sample{Key: o.Key, Variant: o.Variant, Width: o.Width, Height: o.Height,
			ContentType: contentTypeOf(run.Recipe, o), Data: b})
	}
	var buf bytes.Buffer
	if err := htmlreport.Render(&buf, d); err != nil {
		return err
	}
	_, err := s.Put(ctx, imgbatch.LayoutOf(run).HTML(), buf.Bytes(), "text/html; charset=utf-8", Cond{})
	return err
}

// contentTypeOf is the type of an output: of the format it was written in
// (an auto variant's choice, a copy's source format), else its variant's.
func contentTypeOf(r imgbatch.Recipe, o imgbatch.Output) string {
	if o.Format != "" {
		return imgbatch.ContentType(o.Format)
	}
	for _, v := range r.Variants {
		if v.Name == o.Variant {
			return imgbatch.ContentType(v.Format)
		}
	}
	return "application/octet-stream"
}

// workURI is the s3:// URI of a work-bucket key, or "" for no key.
func workURI(run *imgbatch.Run, key string) string {
	if key == "" {
		return ""
	}
	return "s3://" + run.WorkBucket + "/" + key
}
