package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	for _, want := range []string{"estimate    1.00 vCPU-hours; 15m0s wall time at a suggested array width of 2", "EC2 Spot 0.50", "EC2 On-Demand 2.00"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan --dry-run output lacks %q:\n%s", want, out.String())
		}
	}
}
