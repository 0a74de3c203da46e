package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// planUsage and planHelp are `imgbatch plan --help`.
const (
	planUsage = "plan a manifest into a run without starting it (--dry-run: print the plan, write nothing)"
	planHelp  = `Plans exactly as "imgbatch submit" does — streams the manifest, drops
duplicate keys, skips and reports malformed lines, cuts shards by item count
and by source bytes — but does not start the run.

With --dry-run nothing is written: it prints the items, their bytes, the
shard count and sizes (and how long the largest takes one child at the
assumed throughput), the malformed lines with their line numbers, and the
duplicates. Without it, the plan is written to s3://WORK/runs/<run-id>/ and
"imgbatch submit" with the same --client-token (and the same flags) starts
it later; a client token is made up when none is given.

Shard sizing: a shard ends after --shard-size items or once it holds
--shard-bytes source bytes; --target-shard-duration lowers both so a shard
takes one child about that long at --assumed-items-per-second and
--assumed-bytes-per-second.

The estimate prices what the run will cost, line by line: S3 PUTs (one per
output), GETs (one per source), HEADs (the incremental check, up to one per
output), LIST pages of a listed source, the work bucket's requests (by shard
count), KMS requests, transfer from a source in another region
(--cross-region-source), and compute at --images-per-vcpu-second — or at
the img/CPU-s that "imgbatch bench" measured for the run's recipe
(--calibrate results.json), on x86_64 and on arm64 (Graviton: its list
prices, at --arm64-throughput-ratio times the x86 img/vCPU-s, 1 unless you
measured otherwise). Prices are dated list prices, overridable with
--price-* flags or IMGBATCH_PRICE_*. --max-cost USD refuses (exit 1) a run
whose total on --market exceeds it, in plan, submit and scheduled runs.

Scheduled runs (what the template's EventBridge Scheduler schedule starts):
--from-schedule reads --source for objects modified since the previous
scheduled time (s3://WORK/schedules/<name>/watermark.json), names the run after
--scheduled-time (a retried firing finds the same run) and starts it. --source
may be an S3 Inventory destination (s3://dest/prefix/source-bucket/config-id/):
the newest complete delivery is read (manifest.checksum present and matching,
every data file present) and newer incomplete ones are logged and passed over.
--recipe may be s3://bucket/key ("none" = the built-in default); the recipe is
copied into run.json, so a later change never alters a planned run.

Examples:
   imgbatch plan --manifest keys.txt --bucket photos --output-bucket thumbs --dry-run
   imgbatch plan --manifest keys.txt --bucket photos --output-bucket thumbs --dry-run --calibrate bench/results/latest/results.json
   imgbatch plan --from-schedule --scheduled-time 2026-11-24T02:00:00Z --source s3://photos/uploads/ --output-bucket thumbs --work-bucket imgbatch-work
   imgbatch plan --manifest s3://inv/photos/2026-11-22T00-00Z/manifest.json --output-bucket thumbs \
       --target-shard-duration 3m --shard-bytes 4GiB --dry-run --json | jq .shards
   imgbatch plan --manifest keys.txt --bucket photos --output-bucket thumbs --work-bucket imgbatch-work --client-token nightly-2026-11-23
   imgbatch submit --manifest keys.txt --bucket photos --output-bucket thumbs --work-bucket imgbatch-work --client-token nightly-2026-11-23`
)

func planFlags() []cli.Flag {
	return slices.Concat(planningFlags(),
		[]cli.Flag{dryRunFlag("read the manifest and print the plan; write nothing"), jsonFlag("print the plan as JSON")},
		scheduleFlags(), estimateFlags())
}

// planOptions are plan's flags, read once.
type planOptions struct {
	submit   submitOptions
	json     bool
	schedule *scheduleOptions // --from-schedule
}

func planOptionsFrom(c *cli.Context) (planOptions, error) {
	o := planOptions{json: c.Bool("json")}
	quote, err := estimateOptionsFrom(c)
	if err != nil {
		return o, err
	}
	a := planArgsFrom(c)
	if c.Bool("from-schedule") {
		// The nightly planner job: new objects since the last scheduled run.
		if _, err := needFlag(c, "work-bucket"); err != nil {
			return o, err
		}
		s, err := scheduleOptionsFrom(c)
		if err != nil {
			return o, usageErr(err)
		}
		o.schedule = &s
		a.manifest = s.source
		if a.recipe == "none" { // the template's ScheduleRecipe left empty
			a.recipe = ""
		}
		o.submit, err = a.submitOptions()
		o.submit.quote = quote
		return o, usageErr(err)
	}
	so, err := a.submitOptions()
	if err != nil {
		return o, usageErr(err)
	}
	so.start.via, so.quote = "none", quote
	dry := so.plan.DryRun
	if so.workBucket == "" && !dry {
		return o, usageErr(fmt.Errorf("--work-bucket is required (or --dry-run)"))
	}
	if so.plan.ClientToken == "" && !dry {
		so.plan.ClientToken = newPlanToken(time.Now())
	}
	o.submit = so
	return o, nil
}

func planAction(c *cli.Context, cl *clients, o planOptions) error {
	plannerGC()
	so, w := o.submit, c.App.Writer
	if o.schedule != nil {
		plan, err := runScheduled(c.Context, cl, so, *o.schedule)
		if err != nil {
			return err
		}
		printPlan(w, plan, so.plan.DryRun)
		return nil
	}
	plan, err := submitRun(c.Context, cl, so)
	if err != nil {
		return err
	}
	dry := so.plan.DryRun
	est, err := so.quote.run(plan)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"dryRun": dry, "existing": plan.Existing, "clientToken": so.plan.ClientToken,
			"run": plan.Run, "shards": plan.Shards, "manifest": plan.Manifest, "badLines": plan.BadLines,
			"estimate": est,
		})
	}
	printPlan(w, plan, dry)
	printEstimate(w, est)
	if !dry {
		fmt.Fprintf(w, "  not started: imgbatch submit --client-token %s with the same manifest and flags starts it\n", so.plan.ClientToken)
	}
	return nil
}

// plannerGC halves the garbage collector's headroom (GOGC=50) unless GOGC
// is set: planning holds little live memory (the dedupe budget, a few
// shards) but allocates much, and at 10 M keys the default headroom alone
// is ~20 MB of a ~100 MB peak RSS, for ~20% more CPU.
func plannerGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
}

// newPlanToken makes a client token for a plan written without one, so
// that submit can name the run later.
func newPlanToken(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "plan-" + now.UTC().Format("20060102t150405z") + "-" + hex.EncodeToString(b[:])
}

// parseBytes reads a size: a number of bytes with an optional unit, e.g.
// 1500000, 512KiB, 2GiB, 1.5GB ("" = 0).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[strings.ToLower(unit)]
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || f < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 1500000, 512MiB, 2GiB, 1.5GB)", s)
	}
	return int64(f * mult), nil
}
