package main

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/human"
)

// S3, KMS and transfer list prices: us-east-1, S3 Standard, read from
// https://aws.amazon.com/s3/pricing/ and https://aws.amazon.com/kms/pricing/
// for 2026-12. Override them with the flags (or IMGBATCH_PRICE_*) for your
// region and contract.
const (
	defaultPricePut1k      = 0.005  // PUT, COPY, POST, LIST: per 1,000 requests
	defaultPriceGet1k      = 0.0004 // GET, HEAD (and all other requests): per 1,000
	defaultPriceKMS10k     = 0.03   // KMS requests (GenerateDataKey, Decrypt): per 10,000
	defaultPriceTransferGB = 0.02   // data transfer between regions: per GB out of the source's region
)

// Work-bucket requests of one shard, counted from the worker and the
// finalizer (README "S3 layout of a run"): the shard file PUT at plan time,
// the claim, two checkpoints, the results and the done marker (PUTs); the
// shard GET, the claim read, the checkpoint read on resume, the finalizer's
// results and done reads and the scanners' share (GETs); and per run the
// listings and a dozen fixed objects (run.json, requested, finalizer, final,
// reports). An estimate, not a count: retries and idle polling add to it.
const (
	workPutsPerShard = 6
	workGetsPerShard = 6
	workFixedPuts    = 12
	workFixedGets    = 12
)

// s3Prices are the request, KMS and transfer prices of the quote.
type s3Prices struct {
	Put1k, Get1k, KMS10k, TransferGB float64
}

// quoteInput is what the quote counts beyond the plan: whether the source
// is read across regions, and KMS requests beyond those of the run's own
// SSE-KMS outputs (which requestLines counts from run.json's access: one
// per PUT without an S3 Bucket Key), e.g. SSE-KMS sources.
type quoteInput struct {
	crossRegion bool
	kmsRequests int64
}

// costLine is one line of the quote: a count of requests (or GB) at a price.
type costLine struct {
	Name  string  `json:"name"`
	What  string  `json:"what"`
	Count float64 `json:"count"`
	Unit  string  `json:"unit"` // e.g. "per 1,000"
	Price float64 `json:"price"`
	USD   float64 `json:"usd"`
}

// requestLines prices the S3 requests, KMS and transfer of run r: per
// output (item × variant) one PUT and at most one HEAD (the incremental check) per item,
// one GET per source, the LIST pages of a listed source (listed records,
// not just the items kept), the work bucket's requests by shard count.
func requestLines(r imgbatch.Run, listed int64, in quoteInput, p s3Prices) []costLine {
	n := float64(r.Items)
	var lines []costLine
	add := func(name, what string, count float64, unit string, per, price float64) {
		if count <= 0 {
			return
		}
		lines = append(lines, costLine{Name: name, What: what, Count: count, Unit: unit, Price: price, USD: count / per * price})
	}
	nv := float64(len(r.Recipe.Variants))
	var names []string
	keys := 0.0 // keys the incremental check may HEAD: an auto variant's candidates each
	for _, v := range r.Recipe.Variants {
		names = append(names, v.Name)
		keys += float64(len(v.OutputFormats()))
	}
	add("S3 PUT", fmt.Sprintf("one PUT per output (%d variants: %s)", len(names), strings.Join(names, ", ")), n*nv, "per 1,000", 1000, p.Put1k)
	add("S3 GET", "one GET per source image", n, "per 1,000", 1000, p.Get1k)
	head := "incremental check: up to one HEAD per output"
	if keys > nv {
		head += " (per candidate format of an auto variant)"
	}
	add("S3 HEAD", head, n*keys, "per 1,000", 1000, p.Get1k)
	if isListing(r.Source) {
		add("S3 LIST", fmt.Sprintf("listing %s: one page per 1,000 keys", r.Source), math.Ceil(float64(listed)/1000), "per 1,000", 1000, p.Put1k)
	}
	s := float64(max(r.Shards, 1))
	add("work PUT", fmt.Sprintf("%d shards: shard files, claims, checkpoints, results, done markers, reports", r.Shards),
		s*workPutsPerShard+workFixedPuts, "per 1,000", 1000, p.Put1k)
	add("work GET", "shard reads, claim and checkpoint reads, the finalizer's reads", s*workGetsPerShard+workFixedGets, "per 1,000", 1000, p.Get1k)
	kms, what := float64(in.kmsRequests), "SSE-KMS requests"
	if kms == 0 && strings.HasPrefix(r.Access.SSE, "aws:kms") && !r.Access.BucketKey {
		// Without an S3 Bucket Key every SSE-KMS PUT asks KMS for a data key.
		kms, what = n*nv, "one GenerateDataKey per output PUT (--sse "+r.Access.SSE+", no --sse-bucket-key)"
	}
	add("KMS", what, kms, "per 10,000", 10000, p.KMS10k)
	if in.crossRegion {
		add("transfer", "source bytes read from another region", float64(r.Bytes)/1e9, "per GB", 1, p.TransferGB)
	}
	return lines
}

// isListing reports whether source is a live listing (s3://bucket/prefix/).
func isListing(source string) bool {
	rest, ok := strings.CutPrefix(source, "s3://")
	return ok && (!strings.Contains(rest, "/") || strings.HasSuffix(rest, "/"))
}

// requestsUSD is the sum of the request lines.
func requestsUSD(lines []costLine) float64 {
	var t float64
	for _, l := range lines {
		t += l.USD
	}
	return t
}

func printCostLines(w io.Writer, lines []costLine) {
	for _, l := range lines {
		fmt.Fprintf(w, "    %-14s %8.2f  %s × $%g %s: %s\n", l.Name, l.USD, formatCount(l.Count), l.Price, l.Unit, l.What)
	}
}

// formatCount writes a count with thousands separators (GB with decimals).
func formatCount(f float64) string {
	if f != math.Trunc(f) {
		return fmt.Sprintf("%.2f", f)
	}
	return human.Count(int64(f))
}
