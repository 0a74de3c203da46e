package main

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch"
)

// Price defaults: us-east-1 public list prices per vCPU-hour, read for
// 2026-11 and rounded; Spot is a typical discount, not a quote. Override
// them with the flags (or IMGBATCH_PRICE_*) for your region and contract.
const (
	pricesDate             = "2026-11 (us-east-1 list prices; Spot is a typical discount, not a quote)"
	defaultPriceOnDemand   = 0.0510 // c7a.large $0.1020/h ÷ 2 vCPU
	defaultPriceEC2Spot    = 0.0190 // c7a/c6a/c6i large Spot, ~63% off
	defaultPriceFargate    = 0.0494 // $0.04048/vCPU-h + 2 GiB × $0.004445/GiB-h
	defaultPriceFargateSpt = 0.0155 // Fargate Spot, ~69% off
	// defaultImagesPerVCPUSecond is a conservative reading of what `make
	// bench` measured for the pipeline with the default two-variant recipe
	// (img/CPU-s of "default: pipeline" in bench/results/latest/results.md);
	// users measure their own with imgbatch bench.
	defaultImagesPerVCPUSecond = 8.0
)

func estimateFlags() []cli.Flag {
	return []cli.Flag{
		&cli.Float64Flag{Name: "images-per-vcpu-second", Value: defaultImagesPerVCPUSecond, EnvVars: []string{"IMGBATCH_IMAGES_PER_VCPU_SECOND"}, Usage: "throughput per vCPU for the estimate (measure yours with imgbatch bench)"},
		&cli.IntFlag{Name: "vcpus-per-child", Value: 2, Usage: "vCPUs of one array child (the job definition's JobVcpus)"},
		&cli.DurationFlag{Name: "target-duration", Value: time.Hour, Usage: "wall time the suggested array width aims for"},
		&cli.Float64Flag{Name: "price-ec2-spot", Value: defaultPriceEC2Spot, EnvVars: []string{"IMGBATCH_PRICE_EC2_SPOT"}, Usage: "USD per vCPU-hour, EC2 Spot"},
		&cli.Float64Flag{Name: "price-fargate-spot", Value: defaultPriceFargateSpt, EnvVars: []string{"IMGBATCH_PRICE_FARGATE_SPOT"}, Usage: "USD per vCPU-hour (memory included), Fargate Spot"},
		&cli.Float64Flag{Name: "price-on-demand", Value: defaultPriceOnDemand, EnvVars: []string{"IMGBATCH_PRICE_ON_DEMAND"}, Usage: "USD per vCPU-hour, EC2 On-Demand"},
		&cli.Float64Flag{Name: "price-fargate", Value: defaultPriceFargate, EnvVars: []string{"IMGBATCH_PRICE_FARGATE"}, Usage: "USD per vCPU-hour (memory included), Fargate On-Demand"},
	}
}

// estimate is the cost and time of a planned run.
type estimate struct {
	VCPUHours      float64            `json:"vcpuHours"`
	CostUSD        map[string]float64 `json:"costUsd"`
	SuggestedWidth int                `json:"suggestedArrayWidth"`
	WallTime       time.Duration      `json:"wallTimeNs"` // at the suggested width
	PricesDate     string             `json:"pricesDate"`
}

// estimateOptions are the estimate's flags (estimateFlags).
type estimateOptions struct {
	imagesPerVCPUSecond float64
	vcpusPerChild       int
	target              time.Duration
	prices              map[string]float64 // USD per vCPU-hour by estimate.CostUSD's names
}

func estimateOptionsFrom(c *cli.Context) estimateOptions {
	o := estimateOptions{imagesPerVCPUSecond: c.Float64("images-per-vcpu-second"), vcpusPerChild: c.Int("vcpus-per-child"),
		target: c.Duration("target-duration"), prices: map[string]float64{}}
	for name, flag := range map[string]string{"ec2Spot": "price-ec2-spot", "fargateSpot": "price-fargate-spot", "onDemand": "price-on-demand", "fargate": "price-fargate"} {
		o.prices[name] = c.Float64(flag)
	}
	return o
}

// run is the estimate of run r.
func (o estimateOptions) run(r imgbatch.Run) estimate {
	ips := o.imagesPerVCPUSecond
	if ips <= 0 {
		ips = defaultImagesPerVCPUSecond
	}
	vpc := max(o.vcpusPerChild, 1)
	e := estimate{PricesDate: pricesDate, CostUSD: map[string]float64{}}
	e.VCPUHours = float64(r.Items) / ips / 3600
	for name, price := range o.prices {
		e.CostUSD[name] = e.VCPUHours * price
	}
	target := o.target
	if target <= 0 {
		target = time.Hour
	}
	w := int(math.Ceil(e.VCPUHours / (float64(vpc) * target.Hours())))
	e.SuggestedWidth = min(max(w, 1), max(r.Shards, 1), 10000)
	e.WallTime = time.Duration(e.VCPUHours / float64(vpc*e.SuggestedWidth) * float64(time.Hour))
	return e
}

func printEstimate(w io.Writer, e estimate) {
	fmt.Fprintf(w, "  estimate    %.2f vCPU-hours; %s wall time at a suggested array width of %d\n", e.VCPUHours, e.WallTime.Round(time.Second), e.SuggestedWidth)
	fmt.Fprintf(w, "  cost (USD)  EC2 Spot %.2f · Fargate Spot %.2f · EC2 On-Demand %.2f · Fargate %.2f\n",
		e.CostUSD["ec2Spot"], e.CostUSD["fargateSpot"], e.CostUSD["onDemand"], e.CostUSD["fargate"])
	fmt.Fprintf(w, "              prices of %s; S3 requests and transfer not included\n", e.PricesDate)
}
