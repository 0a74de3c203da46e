package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// planDryRun runs plan --dry-run on 7,200 keys (1 vCPU-hour at 2
// img/vCPU-s) with extra flags.
func planDryRun(t *testing.T, extra ...string) (string, string, int) {
	t.Helper()
	var keys strings.Builder
	for i := 0; i < 7200; i++ {
		fmt.Fprintf(&keys, "p/%05d.jpg\n", i)
	}
	manifest := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(manifest, []byte(keys.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	args := append([]string{"imgbatch", "plan", "--manifest", manifest, "--bucket", "src", "--output-bucket", "out", "--dry-run",
		"--images-per-vcpu-second", "2"}, extra...)
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestPlanDryRunPricesBothArchitectures: the quote prints the compute and
// the total on x86_64 and on arm64 (Graviton), and says that the arm64
// throughput is an assumption until --arm64-throughput-ratio says
// otherwise.
func TestPlanDryRunPricesBothArchitectures(t *testing.T) {
	out, errs, code := planDryRun(t, "--price-ec2-spot", "0.5", "--price-ec2-spot-arm64", "0.3", "--price-fargate-arm64", "0.4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	requests := requestsOf(t, out)
	for _, want := range []string{
		"compute        EC2 Spot 0.50 · ",
		"compute arm64  EC2 Spot 0.30 · Fargate Spot ",
		" · Fargate 0.40\n",
		fmt.Sprintf("total arm64    EC2 Spot %.2f · ", requests+0.30),
		"Graviton (template Architecture=arm64): 1.00 vCPU-hours at 1.00 × the x86 img/vCPU-s (assumed, not measured: --arm64-throughput-ratio)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan --dry-run lacks %q:\n%s", want, out)
		}
	}
	// A measured ratio: 1.5 × the images per vCPU-second = 2/3 of the vCPU-hours.
	out, errs, code = planDryRun(t, "--price-ec2-spot-arm64", "0.3", "--arm64-throughput-ratio", "1.5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"compute arm64  EC2 Spot 0.20 · ", "0.67 vCPU-hours at 1.50 × the x86 img/vCPU-s (--arm64-throughput-ratio)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan --dry-run --arm64-throughput-ratio 1.5 lacks %q:\n%s", want, out)
		}
	}
	if _, errs, code = planDryRun(t, "--arm64-throughput-ratio", "0"); code != exitUsage || !strings.Contains(errs, "--arm64-throughput-ratio") {
		t.Errorf("--arm64-throughput-ratio 0: exit %d (%s), want a usage error", code, errs)
	}
}

// requestsOf is the "requests" line's USD of a printed quote.
func requestsOf(t *testing.T, out string) float64 {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		var usd float64
		if f := strings.Fields(l); len(f) > 1 && f[0] == "requests" {
			if _, err := fmt.Sscanf(f[1], "%g", &usd); err == nil {
				return usd
			}
		}
	}
	t.Fatalf("no requests line:\n%s", out)
	return 0
}

// TestArm64MarketsInJSONAndMaxCost: --json carries every market of both
// architectures, and --market ec2SpotArm64 is what --max-cost judges.
func TestArm64MarketsInJSONAndMaxCost(t *testing.T) {
	out, errs, code := planDryRun(t, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var v struct {
		Estimate estimate `json:"estimate"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	e := v.Estimate
	for _, m := range allMarkets() {
		if e.CostUSD[m.name] <= 0 || e.TotalUSD[m.name] <= e.CostUSD[m.name] {
			t.Errorf("market %s: compute %g, total %g", m.name, e.CostUSD[m.name], e.TotalUSD[m.name])
		}
	}
	if e.VCPUHoursArm64 != e.VCPUHours || e.Arm64ThroughputRatio != 1 {
		t.Errorf("arm64 vCPU-hours %g (ratio %g), want the x86 %g at the default ratio 1", e.VCPUHoursArm64, e.Arm64ThroughputRatio, e.VCPUHours)
	}
	_, errs, code = planDryRun(t, "--market", "ec2SpotArm64", "--price-ec2-spot-arm64", "50", "--max-cost", "10")
	if code != 1 || !strings.Contains(errs, "ec2SpotArm64") || !strings.Contains(errs, "exceeds --max-cost") {
		t.Errorf("--market ec2SpotArm64 over --max-cost: exit %d: %s", code, errs)
	}
	if _, errs, code = planDryRun(t, "--market", "graviton"); code != exitUsage || !strings.Contains(errs, "fargateArm64") {
		t.Errorf("--market graviton: exit %d (%s), want a usage error listing the markets", code, errs)
	}
}

// TestArm64DefaultPricesBelowX86: Graviton's list prices are below the
// x86 ones market by market (the reason to offer it); equal throughput
// then makes every arm64 line cheaper.
func TestArm64DefaultPricesBelowX86(t *testing.T) {
	pairs := map[float64]float64{
		defaultPriceEC2SpotArm64:     defaultPriceEC2Spot,
		defaultPriceFargateSpotArm64: defaultPriceFargateSpt,
		defaultPriceOnDemandArm64:    defaultPriceOnDemand,
		defaultPriceFargateArm64:     defaultPriceFargate,
	}
	for arm, x86 := range pairs {
		if arm >= x86 || arm < x86/2 {
			t.Errorf("arm64 %g vs x86 %g per vCPU-hour: want below, within 2×", arm, x86)
		}
	}
	// Fargate ARM64 = $0.03238/vCPU-h + 2 GiB × $0.00356/GiB-h.
	if math.Abs(defaultPriceFargateArm64-(0.03238+2*0.00356)) > 0.0001 {
		t.Errorf("Fargate ARM64 %g per vCPU-hour, want 0.0395", defaultPriceFargateArm64)
	}
}
