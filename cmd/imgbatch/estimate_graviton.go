package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// arm64 (Graviton) compute prices, USD per vCPU-hour, us-east-1, for the
// template's Architecture=arm64. Read 2026-12 from the list prices AWS
// publishes (aws.amazon.com/ec2/pricing/on-demand/: c7g.large $0.0725/h;
// aws.amazon.com/fargate/pricing/: Linux/ARM $0.03238 per vCPU-hour and
// $0.00356 per GB-hour), through copies of those pages (no live access
// here): check them for your region. The Spot figures are not quotes: they
// apply the x86 lines' typical discounts (~63% EC2 Spot, ~69% Fargate Spot)
// to the arm64 list prices. Fargate Spot runs ARM64 tasks from platform
// version 1.4.0 (the template's job definitions use LATEST).
const (
	defaultPriceOnDemandArm64    = 0.0363 // c7g.large $0.0725/h ÷ 2 vCPU
	defaultPriceEC2SpotArm64     = 0.0134 // c7g/c6g/m7g large Spot, ~63% off (assumed like x86)
	defaultPriceFargateArm64     = 0.0395 // $0.03238/vCPU-h + 2 GiB × $0.00356/GiB-h
	defaultPriceFargateSpotArm64 = 0.0122 // Fargate Spot ARM64, ~69% off (assumed like x86)
	// defaultArm64ThroughputRatio is a Graviton vCPU's images per second
	// over an x86 vCPU's. Not measured: there is no Graviton machine here
	// (the arm64 build is only proven to run, under qemu, which says nothing
	// of speed). 1 assumes equal throughput per vCPU; a Graviton vCPU is a
	// whole core where an x86 vCPU is a hyperthread, so the real figure may
	// well be higher. Bench on one Graviton instance and pass the ratio.
	defaultArm64ThroughputRatio = 1.0
)

// arm64Markets are the compute prices of the arm64 lines, by
// estimate.CostUSD's names (the x86 market's name + "Arm64").
var arm64Markets = []struct{ name, flag, label string }{
	{"ec2SpotArm64", "price-ec2-spot-arm64", "EC2 Spot"},
	{"fargateSpotArm64", "price-fargate-spot-arm64", "Fargate Spot"},
	{"onDemandArm64", "price-on-demand-arm64", "EC2 On-Demand"},
	{"fargateArm64", "price-fargate-arm64", "Fargate"},
}

func arm64EstimateFlags() []cli.Flag {
	price := func(name string, value float64, env, usage string) cli.Flag {
		return &cli.Float64Flag{Name: name, Value: value, EnvVars: []string{env}, Usage: usage}
	}
	return []cli.Flag{
		&cli.Float64Flag{Name: "arm64-throughput-ratio", Value: defaultArm64ThroughputRatio, EnvVars: []string{"IMGBATCH_ARM64_THROUGHPUT_RATIO"},
			Usage: "img/s of a Graviton vCPU ÷ img/s of an x86 vCPU for the arm64 lines (default 1: assumed equal, not measured)"},
		price("price-ec2-spot-arm64", defaultPriceEC2SpotArm64, "IMGBATCH_PRICE_EC2_SPOT_ARM64", "USD per vCPU-hour, EC2 Spot, Graviton"),
		price("price-fargate-spot-arm64", defaultPriceFargateSpotArm64, "IMGBATCH_PRICE_FARGATE_SPOT_ARM64", "USD per vCPU-hour (memory included), Fargate Spot ARM64"),
		price("price-on-demand-arm64", defaultPriceOnDemandArm64, "IMGBATCH_PRICE_ON_DEMAND_ARM64", "USD per vCPU-hour, EC2 On-Demand, Graviton"),
		price("price-fargate-arm64", defaultPriceFargateArm64, "IMGBATCH_PRICE_FARGATE_ARM64", "USD per vCPU-hour (memory included), Fargate ARM64"),
	}
}

// allMarkets are the x86 markets, then the arm64 ones.
func allMarkets() []struct{ name, flag, label string } {
	return append(append(markets[:0:0], markets...), arm64Markets...)
}

// marketNames lists every --market value, for usage errors.
func marketNames() string {
	var names []string
	for _, m := range allMarkets() {
		names = append(names, m.name)
	}
	return strings.Join(names, ", ")
}

func isArm64Market(name string) bool { return strings.HasSuffix(name, "Arm64") }

// arm64Ratio reads --arm64-throughput-ratio: a positive factor.
func arm64Ratio(c *cli.Context) (float64, error) {
	r := c.Float64("arm64-throughput-ratio")
	if r <= 0 {
		return 0, usageErr(fmt.Errorf("--arm64-throughput-ratio %g: want a positive factor (1 = a Graviton vCPU as fast as an x86 vCPU)", r))
	}
	return r, nil
}

// byMarkets writes the figures of m for the markets of list, in order.
func byMarkets(list []struct{ name, flag, label string }, m map[string]float64) string {
	parts := make([]string, len(list))
	for i, mk := range list {
		parts[i] = fmt.Sprintf("%s %.2f", mk.label, m[mk.name])
	}
	return strings.Join(parts, " · ")
}

// printArm64Estimate adds the Graviton lines under the x86 ones, saying
// what they assume.
func printArm64Estimate(w io.Writer, e estimate) {
	fmt.Fprintf(w, "    %-14s %s\n", "compute arm64", byMarkets(arm64Markets, e.CostUSD))
	fmt.Fprintf(w, "    %-14s %s\n", "total arm64", byMarkets(arm64Markets, e.TotalUSD))
	fmt.Fprintf(w, "    %-14s Graviton (template Architecture=arm64): %.2f vCPU-hours at %.2f × the x86 img/vCPU-s (%s)\n",
		"", e.VCPUHoursArm64, e.Arm64ThroughputRatio, arm64RatioSource(e.Arm64ThroughputRatio))
}

func arm64RatioSource(r float64) string {
	if r == defaultArm64ThroughputRatio {
		return "assumed, not measured: --arm64-throughput-ratio"
	}
	return "--arm64-throughput-ratio"
}
