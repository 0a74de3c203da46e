package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
)

func TestPlanDryRunPrintsEstimate(t *testing.T) {
	dir := t.TempDir()
	var keys strings.Builder
	for i := 0; i < 7200; i++ {
		fmt.Fprintf(&keys, "p/%05d.jpg\n", i)
	}
	manifest := filepath.Join(dir, "keys.txt")
	if err := os.WriteFile(manifest, []byte(keys.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	args := []string{"imgbatch", "plan", "--manifest", manifest, "--bucket", "src", "--output-bucket", "out", "--dry-run",
		"--images-per-vcpu-second", "2", "--price-ec2-spot", "0.5", "--price-on-demand", "2", "--vcpus-per-child", "2", "--target-duration", "15m"}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// 7,200 images at 2 per vCPU-second = 1 vCPU-hour; 2 vCPUs per child and a
	// 15-minute target need 2 children, which then take 15 minutes.
	for _, want := range []string{"estimate    1.00 vCPU-hours at 2.00 img/vCPU-s (--images-per-vcpu-second); 15m0s wall time at a suggested array width of 2",
		"compute        EC2 Spot 0.50", "EC2 On-Demand 2.00", "S3 PUT", "14,400 × $0.005 per 1,000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan --dry-run output lacks %q:\n%s", want, out.String())
		}
	}
}

// defaultQuote is the estimate options of the flags' defaults.
func defaultQuote() estimateOptions {
	o := estimateOptions{imagesPerVCPUSecond: defaultImagesPerVCPUSecond, vcpusPerChild: 2, market: "ec2Spot",
		prices: map[string]float64{"ec2Spot": defaultPriceEC2Spot, "fargateSpot": defaultPriceFargateSpt, "onDemand": defaultPriceOnDemand, "fargate": defaultPriceFargate},
		s3:     s3Prices{Put1k: defaultPricePut1k, Get1k: defaultPriceGet1k, KMS10k: defaultPriceKMS10k, TransferGB: defaultPriceTransferGB}}
	return o
}

func millionItemPlan(source string) *batch.Plan {
	return &batch.Plan{Run: imgbatch.Run{ID: "r", Source: source, Recipe: imgbatch.DefaultRecipe, Items: 1_000_000, Bytes: 3e12, Shards: 5000}}
}

func line(e estimate, name string) (costLine, bool) {
	for _, l := range e.Requests {
		if l.Name == name {
			return l, true
		}
	}
	return costLine{}, false
}

// The figures: 1 M items × the default two variants cost ~$10 of
// PUTs at list price, more than the compute on Spot.
func TestEstimateOfAMillionItemsPricesS3Requests(t *testing.T) {
	if n := len(imgbatch.DefaultRecipe.Variants); n != 2 {
		t.Fatalf("the default recipe has %d variants; this test prices 2", n)
	}
	e, err := defaultQuote().run(millionItemPlan("keys.txt"))
	if err != nil {
		t.Fatal(err)
	}
	put, ok := line(e, "S3 PUT")
	if !ok || put.Count != 2_000_000 || math.Abs(put.USD-10) > 0.01 {
		t.Errorf("S3 PUT line = %+v, want 2,000,000 PUTs ≈ $10", put)
	}
	if get, _ := line(e, "S3 GET"); math.Abs(get.USD-0.40) > 0.001 {
		t.Errorf("S3 GET line = %+v, want ≈ $0.40", get)
	}
	if head, _ := line(e, "S3 HEAD"); head.Count != 2_000_000 {
		t.Errorf("S3 HEAD line = %+v, want one per output", head)
	}
	if _, ok := line(e, "S3 LIST"); ok {
		t.Errorf("a key list is priced with LIST requests: %+v", e.Requests)
	}
	if _, ok := line(e, "transfer"); ok {
		t.Errorf("transfer priced without --cross-region-source: %+v", e.Requests)
	}
	if w, _ := line(e, "work PUT"); w.Count != 5000*workPutsPerShard+workFixedPuts {
		t.Errorf("work PUT line = %+v, want by the shard count", w)
	}
	if e.TotalUSD["ec2Spot"] <= e.CostUSD["ec2Spot"] || e.TotalUSD["ec2Spot"] < 10 {
		t.Errorf("total %.2f, compute %.2f: want the total above compute and above the PUTs", e.TotalUSD["ec2Spot"], e.CostUSD["ec2Spot"])
	}
	var out bytes.Buffer
	printEstimate(&out, e)
	if !strings.Contains(out.String(), "S3 PUT            10.00  2,000,000 × $0.005 per 1,000") {
		t.Errorf("printed estimate lacks the PUT line:\n%s", out.String())
	}
}

func TestEstimateListingAndCrossRegion(t *testing.T) {
	o := defaultQuote()
	o.input.crossRegion = true
	p := millionItemPlan("s3://photos/2026/")
	p.Manifest.Lines = 1_500_000 // half a million keys filtered out are listed too
	e, err := o.run(p)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := line(e, "S3 LIST"); l.Count != 1500 {
		t.Errorf("S3 LIST line = %+v, want 1,500 pages for 1.5 M listed keys", l)
	}
	if l, _ := line(e, "transfer"); math.Abs(l.USD-60) > 0.01 {
		t.Errorf("transfer line = %+v, want 3,000 GB × $0.02 = $60", l)
	}
	o.input = quoteInput{kmsRequests: 3_000_000}
	e, _ = o.run(p)
	if l, _ := line(e, "KMS"); math.Abs(l.USD-9) > 0.01 {
		t.Errorf("KMS line = %+v, want 3 M requests × $0.03/10,000 = $9", l)
	}
}

// A run whose outputs are SSE-KMS without a Bucket Key pays one KMS request
// per output PUT; with a Bucket Key, or AES256, none is priced.
func TestEstimatePricesSSEKMSOutputs(t *testing.T) {
	for _, c := range []struct {
		access imgbatch.Access
		want   float64 // KMS requests
	}{
		{imgbatch.Access{SSE: "aws:kms"}, 2_000_000},
		{imgbatch.Access{SSE: "aws:kms:dsse"}, 2_000_000},
		{imgbatch.Access{SSE: "aws:kms", BucketKey: true}, 0},
		{imgbatch.Access{SSE: "AES256"}, 0},
	} {
		p := millionItemPlan("keys.txt")
		p.Run.Access = c.access
		e, err := defaultQuote().run(p)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := line(e, "KMS")
		if l.Count != c.want {
			t.Errorf("%+v: KMS line %+v, want %.0f requests", c.access, l, c.want)
		}
	}
}

// writeResults writes a bench results.json with a default-recipe pipeline row.
func writeResults(t *testing.T, imgPerCPUSec float64) string {
	return writeTemp(t, "results.json", fmt.Sprintf(`{"name":"test","dataset":{"summary":"3 files"},
 "recipes":[{"name":"single","variants":[{}]},{"name":"default","variants":[{},{}]}],
 "results":[{"label":"pipeline","recipe":"single","impl":"pipeline","imgPerCpuSec":50},
  {"label":"default: process","recipe":"default","impl":"process","imgPerCpuSec":1},
  {"label":"default: pipeline","recipe":"default","impl":"pipeline","imgPerCpuSec":%g}]}`, imgPerCPUSec))
}

func TestPlanCalibrateChangesTheComputeLine(t *testing.T) {
	manifest := writeTemp(t, "keys.txt", strings.Repeat("a.jpg\n", 1)+keysN(7199))
	args := []string{"imgbatch", "plan", "--manifest", manifest, "--bucket", "src", "--output-bucket", "out", "--dry-run", "--price-ec2-spot", "1"}
	var out, errb bytes.Buffer
	if code := run(append(args, "--calibrate", writeResults(t, 4)), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// 7,200 images at 4 img/vCPU-s (the "default: pipeline" row) = 0.5 vCPU-h.
	for _, want := range []string{`0.50 vCPU-hours at 4.00 img/vCPU-s (`, `row "default: pipeline"`, "compute        EC2 Spot 0.50"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan --calibrate output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run(append(args, "--calibrate", writeResults(t, 4), "--calibrate-row", "pipeline"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "compute        EC2 Spot 0.04") { // 7,200 / 50 / 3600
		t.Errorf("--calibrate-row pipeline did not read that row:\n%s", out.String())
	}
	errb.Reset()
	if code := run(append(args, "--calibrate", writeTemp(t, "bad.json", `{"results":[]}`)), &out, &errb); code != 1 || !strings.Contains(errb.String(), "no measured row") {
		t.Errorf("results without a matching row: exit %d, %s", code, errb.String())
	}
}

func keysN(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "p/%05d.jpg\n", i)
	}
	return b.String()
}

func TestMaxCostRefusesARunAboveIt(t *testing.T) {
	e := newCmdEnv(t)
	manifest := writeTemp(t, "keys.txt", keysN(100_000)) // 200,000 PUTs: $1
	base := []string{"--manifest", manifest, "--bucket", "source", "--output-bucket", "output", "--work-bucket", "work"}
	code, _, stderr := e.imgbatch(t, append([]string{"submit", "--max-cost", "0.5"}, base...)...)
	if code != 1 || !strings.Contains(stderr, "exceeds --max-cost $0.50: not started") || !strings.Contains(stderr, "estimated $1.") {
		t.Fatalf("submit over --max-cost: exit %d, stderr %s", code, stderr)
	}
	if n := len(e.events("Run Requested")); n != 0 {
		t.Fatalf("%d Run Requested events after a refused submit", n)
	}
	code, _, stderr = e.imgbatch(t, append([]string{"plan", "--dry-run", "--max-cost", "0.5"}, base...)...)
	if code != 1 || !strings.Contains(stderr, "exceeds --max-cost") {
		t.Fatalf("plan --dry-run over --max-cost: exit %d, stderr %s", code, stderr)
	}
	code, _, stderr = e.imgbatch(t, append([]string{"submit", "--max-cost", "5"}, base...)...)
	if code != 0 || len(e.events("Run Requested")) != 1 {
		t.Fatalf("submit under --max-cost: exit %d, %d events, stderr %s", code, len(e.events("Run Requested")), stderr)
	}
}

// An auto variant's output may be under any candidate's key: the
// incremental check's HEADs are priced per candidate.
func TestEstimatePricesHeadsPerAutoCandidate(t *testing.T) {
	p := millionItemPlan("keys.txt")
	p.Run.Recipe = imgbatch.Recipe{Name: "auto", Variants: []imgbatch.Variant{
		{Name: "pic", Width: 640, Format: imgbatch.FormatAuto, Formats: []string{"avif", "webp", "jpeg"}},
		{Name: "thumb", Width: 128, Format: imgbatch.FormatJPEG}}}
	e, err := defaultQuote().run(p)
	if err != nil {
		t.Fatal(err)
	}
	if head, _ := line(e, "S3 HEAD"); head.Count != 4_000_000 || !strings.Contains(head.What, "per candidate format") {
		t.Errorf("S3 HEAD line = %+v, want 4 HEADs per item", head)
	}
	if put, _ := line(e, "S3 PUT"); put.Count != 2_000_000 {
		t.Errorf("S3 PUT line = %+v, want one per output", put)
	}
}
