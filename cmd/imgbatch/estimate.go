package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch/batch"
)

// Price defaults: us-east-1 public list prices per vCPU-hour, read for
// 2026-11 and rounded; Spot is a typical discount, not a quote. The S3
// request prices are in quote.go. Override them with the flags (or
// IMGBATCH_PRICE_*) for your region and contract.
const (
	pricesDate             = "2026-12 (us-east-1 list prices, S3 Standard; Spot is a typical discount, not a quote)"
	defaultPriceOnDemand   = 0.0510 // c7a.large $0.1020/h ÷ 2 vCPU
	defaultPriceEC2Spot    = 0.0190 // c7a/c6a/c6i large Spot, ~63% off
	defaultPriceFargate    = 0.0494 // $0.04048/vCPU-h + 2 GiB × $0.004445/GiB-h
	defaultPriceFargateSpt = 0.0155 // Fargate Spot, ~69% off
	// defaultImagesPerVCPUSecond is a conservative reading of what `make
	// bench` measured for the pipeline with the default two-variant recipe
	// (img/CPU-s of "default: pipeline" in bench/results/latest/results.md);
	// --calibrate reads the measured figure itself.
	defaultImagesPerVCPUSecond = 8.0
)

// markets are the compute prices of the estimate, by estimate.CostUSD's names.
var markets = []struct{ name, flag, label string }{
	{"ec2Spot", "price-ec2-spot", "EC2 Spot"},
	{"fargateSpot", "price-fargate-spot", "Fargate Spot"},
	{"onDemand", "price-on-demand", "EC2 On-Demand"},
	{"fargate", "price-fargate", "Fargate"},
}

func estimateFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.Float64Flag{Name: "images-per-vcpu-second", Value: defaultImagesPerVCPUSecond, EnvVars: []string{"IMGBATCH_IMAGES_PER_VCPU_SECOND"}, Usage: "throughput per vCPU for the estimate (measure yours with imgbatch bench; see --calibrate)"},
		&cli.StringFlag{Name: "calibrate", EnvVars: []string{"IMGBATCH_CALIBRATE"}, Usage: "take the throughput from an imgbatch bench results.json (e.g. bench/results/latest/results.json): the pipeline row of the run's recipe"},
		&cli.StringFlag{Name: "calibrate-row", Usage: "the results.json row --calibrate reads, by label (e.g. \"default: pipeline\")"},
		&cli.IntFlag{Name: "vcpus-per-child", Value: 2, Usage: "vCPUs of one array child (the job definition's JobVcpus)"},
		&cli.DurationFlag{Name: "target-duration", Value: time.Hour, Usage: "wall time the suggested array width aims for"},
		&cli.Float64Flag{Name: "price-ec2-spot", Value: defaultPriceEC2Spot, EnvVars: []string{"IMGBATCH_PRICE_EC2_SPOT"}, Usage: "USD per vCPU-hour, EC2 Spot"},
		&cli.Float64Flag{Name: "price-fargate-spot", Value: defaultPriceFargateSpt, EnvVars: []string{"IMGBATCH_PRICE_FARGATE_SPOT"}, Usage: "USD per vCPU-hour (memory included), Fargate Spot"},
		&cli.Float64Flag{Name: "price-on-demand", Value: defaultPriceOnDemand, EnvVars: []string{"IMGBATCH_PRICE_ON_DEMAND"}, Usage: "USD per vCPU-hour, EC2 On-Demand"},
		&cli.Float64Flag{Name: "price-fargate", Value: defaultPriceFargate, EnvVars: []string{"IMGBATCH_PRICE_FARGATE"}, Usage: "USD per vCPU-hour (memory included), Fargate On-Demand"},
		&cli.Float64Flag{Name: "price-s3-put", Value: defaultPricePut1k, EnvVars: []string{"IMGBATCH_PRICE_S3_PUT"}, Usage: "USD per 1,000 S3 PUT/COPY/POST/LIST requests"},
		&cli.Float64Flag{Name: "price-s3-get", Value: defaultPriceGet1k, EnvVars: []string{"IMGBATCH_PRICE_S3_GET"}, Usage: "USD per 1,000 S3 GET/HEAD requests"},
		&cli.Float64Flag{Name: "price-kms", Value: defaultPriceKMS10k, EnvVars: []string{"IMGBATCH_PRICE_KMS"}, Usage: "USD per 10,000 KMS requests"},
		&cli.Float64Flag{Name: "price-transfer-gb", Value: defaultPriceTransferGB, EnvVars: []string{"IMGBATCH_PRICE_TRANSFER_GB"}, Usage: "USD per GB read from a source bucket in another region"},
		&cli.BoolFlag{Name: "cross-region-source", Usage: "the source bucket is in another region than the workers: price its bytes as transfer"},
		&cli.StringFlag{Name: "market", Value: "ec2Spot", EnvVars: []string{"IMGBATCH_MARKET"}, Usage: "compute price of the total and of --max-cost: ec2Spot, fargateSpot, onDemand or fargate (+Arm64 for Graviton, e.g. ec2SpotArm64)"},
		&cli.Float64Flag{Name: "max-cost", EnvVars: []string{"IMGBATCH_MAX_COST"}, Usage: "refuse to start (exit 1) a run whose estimated total exceeds this many USD (0 = no limit)"},
	}, arm64EstimateFlags()...)
}

// estimate is the cost and time of a planned run.
type estimate struct {
	VCPUHours           float64            `json:"vcpuHours"`
	ImagesPerVCPUSecond float64            `json:"imagesPerVcpuSecond"`
	ThroughputFrom      string             `json:"throughputFrom"`
	CostUSD             map[string]float64 `json:"costUsd"` // compute, by market
	Requests            []costLine         `json:"requests"`
	RequestsUSD         float64            `json:"requestsUsd"`
	TotalUSD            map[string]float64 `json:"totalUsd"` // requests + compute, by market
	Market              string             `json:"market"`
	SuggestedWidth      int                `json:"suggestedArrayWidth"`
	WallTime            time.Duration      `json:"wallTimeNs"` // at the suggested width
	PricesDate          string             `json:"pricesDate"`
	// VCPUHoursArm64 prices the *Arm64 markets: VCPUHours ÷ the assumed
	// Graviton throughput ratio (estimate_graviton.go).
	VCPUHoursArm64       float64 `json:"vcpuHoursArm64"`
	Arm64ThroughputRatio float64 `json:"arm64ThroughputRatio"`
}

// estimateOptions are the estimate's flags (estimateFlags).
type estimateOptions struct {
	imagesPerVCPUSecond     float64
	calibrate, calibrateRow string
	vcpusPerChild           int
	target                  time.Duration
	prices                  map[string]float64 // USD per vCPU-hour by estimate.CostUSD's names
	s3                      s3Prices
	input                   quoteInput
	market                  string
	maxCost                 float64
	arm64Ratio              float64 // Graviton img/vCPU-s ÷ x86 (0 = the default)
}

func estimateOptionsFrom(c *cli.Context) (estimateOptions, error) {
	o := estimateOptions{imagesPerVCPUSecond: c.Float64("images-per-vcpu-second"), vcpusPerChild: c.Int("vcpus-per-child"),
		calibrate: c.String("calibrate"), calibrateRow: c.String("calibrate-row"),
		target: c.Duration("target-duration"), prices: map[string]float64{},
		s3:     s3Prices{Put1k: c.Float64("price-s3-put"), Get1k: c.Float64("price-s3-get"), KMS10k: c.Float64("price-kms"), TransferGB: c.Float64("price-transfer-gb")},
		input:  quoteInput{crossRegion: c.Bool("cross-region-source")},
		market: c.String("market"), maxCost: c.Float64("max-cost")}
	known := false
	for _, m := range allMarkets() {
		o.prices[m.name] = c.Float64(m.flag)
		known = known || m.name == o.market
	}
	if !known {
		return o, usageErr(fmt.Errorf("--market %q: use one of %s", o.market, marketNames()))
	}
	var err error
	if o.arm64Ratio, err = arm64Ratio(c); err != nil {
		return o, err
	}
	if o.maxCost < 0 {
		return o, usageErr(fmt.Errorf("--max-cost %g: want a positive number of USD (0 = no limit)", o.maxCost))
	}
	return o, nil
}

// run is the estimate of plan p: its requests and its compute at the
// flat or calibrated throughput.
func (o estimateOptions) run(p *batch.Plan) (estimate, error) {
	r := p.Run
	e := estimate{PricesDate: pricesDate, CostUSD: map[string]float64{}, TotalUSD: map[string]float64{}, Market: o.market,
		ImagesPerVCPUSecond: o.imagesPerVCPUSecond, ThroughputFrom: "--images-per-vcpu-second"}
	if o.calibrate != "" {
		cal, err := loadCalibration(o.calibrate, o.calibrateRow, r.Recipe)
		if err != nil {
			return e, err
		}
		e.ImagesPerVCPUSecond, e.ThroughputFrom = cal.imagesPerVCPUSecond, cal.source
	}
	if e.ImagesPerVCPUSecond <= 0 {
		e.ImagesPerVCPUSecond, e.ThroughputFrom = defaultImagesPerVCPUSecond, "default"
	}
	listed := max(p.Manifest.Lines, r.Items)
	e.Requests = requestLines(r, listed, o.input, o.s3)
	e.RequestsUSD = requestsUSD(e.Requests)
	e.VCPUHours = float64(r.Items) / e.ImagesPerVCPUSecond / 3600
	e.Arm64ThroughputRatio = cmp.Or(o.arm64Ratio, defaultArm64ThroughputRatio)
	e.VCPUHoursArm64 = e.VCPUHours / e.Arm64ThroughputRatio
	for name, price := range o.prices {
		hours := e.VCPUHours
		if isArm64Market(name) {
			hours = e.VCPUHoursArm64
		}
		e.CostUSD[name] = hours * price
		e.TotalUSD[name] = e.CostUSD[name] + e.RequestsUSD
	}
	vpc := max(o.vcpusPerChild, 1)
	target := o.target
	if target <= 0 {
		target = time.Hour
	}
	w := int(math.Ceil(e.VCPUHours / (float64(vpc) * target.Hours())))
	e.SuggestedWidth = min(max(w, 1), max(r.Shards, 1), 10000)
	e.WallTime = time.Duration(e.VCPUHours / float64(vpc*e.SuggestedWidth) * float64(time.Hour))
	return e, nil
}

// checkMaxCost refuses a run whose estimated total on the chosen market
// exceeds --max-cost.
func (o estimateOptions) checkMaxCost(p *batch.Plan, dryRun bool) error {
	if o.maxCost <= 0 {
		return nil
	}
	e, err := o.run(p)
	if err != nil {
		return err
	}
	if t := e.TotalUSD[e.Market]; t > o.maxCost {
		kept := "; plan --dry-run prints the estimate line by line"
		switch {
		case dryRun:
		case p.Run.ClientToken != "":
			kept = "; the plan is kept: the same command (same --client-token) with a higher --max-cost starts it"
		default:
			kept = "; the plan is kept, unstarted (give --client-token to find it again when you raise --max-cost)"
		}
		return fmt.Errorf("run %s: estimated $%.2f (%s: S3 requests and transfer $%.2f + compute $%.2f, %d items) exceeds --max-cost $%.2f: not started%s",
			p.Run.ID, t, e.Market, e.RequestsUSD, e.CostUSD[e.Market], p.Run.Items, o.maxCost, kept)
	}
	return nil
}

func printEstimate(w io.Writer, e estimate) {
	fmt.Fprintf(w, "  estimate    %.2f vCPU-hours at %.2f img/vCPU-s (%s); %s wall time at a suggested array width of %d\n",
		e.VCPUHours, e.ImagesPerVCPUSecond, e.ThroughputFrom, e.WallTime.Round(time.Second), e.SuggestedWidth)
	fmt.Fprintf(w, "  cost (USD)  prices of %s\n", e.PricesDate)
	printCostLines(w, e.Requests)
	fmt.Fprintf(w, "    %-14s %8.2f  S3 requests, KMS and transfer\n", "requests", e.RequestsUSD)
	fmt.Fprintf(w, "    %-14s %s\n", "compute", byMarkets(markets, e.CostUSD))
	fmt.Fprintf(w, "    %-14s %s\n", "total", byMarkets(markets, e.TotalUSD))
	printArm64Estimate(w, e)
}
