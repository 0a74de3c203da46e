package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch/batch"
	"github.com/imgbatch/imgbatch/metrics"
	"github.com/imgbatch/imgbatch/vips"
	"github.com/imgbatch/imgbatch/worker"
)

// workUsage and workHelp are `imgbatch work --help`.
const (
	workUsage = "be one child of a Batch array job: claim shards of a run and process them"
	workHelp  = `Run by every AWS Batch array child (the job definition's command is
"work --run-id Ref::runId"). The child reads AWS_BATCH_JOB_ARRAY_INDEX, claims
shard i, i+W, i+2W ... (W = AWS_BATCH_JOB_ARRAY_SIZE), then steals shards that
are unclaimed or whose lease expired, until every shard of the run is done.
Each item is fetched, guarded (format from magic bytes, pixel budget, byte cap),
turned into every recipe variant with libvips shrink-on-load, and uploaded.
Progress is checkpointed to S3: a retried attempt resumes where it stopped.

Per item, a permanent problem (missing or unreadable source, not an allowed
image, corrupt, too many pixels, over the byte cap, past --item-timeout) is a
failed row with a code and a reason; S3 errors that outlast the SDK's retries
are S3Error rows. What no item can get past ends the attempt: exit 75 (the job
definition retries) when a fresh attempt may succeed (no credentials yet, an
expired session, libvips calls stuck past their deadline), exit 1 when only a
person can fix it (missing output bucket, access denied on the outputs).

On SIGTERM (Spot reclaim, Fargate stop) the child stops taking work, finishes
what it can within --grace, checkpoints and exits 75, which the job definition
retries. On EC2 the child also polls the Spot two-minute notice in instance
metadata (--spot-notice) and drains the same way as soon as it comes.
The last child to finish writes report.csv and sends "Run Completed".

Between items (one GET every --control-every) the child reads the run's
control object: after "imgbatch pause" it checkpoints like on SIGTERM and exits
76, which the job definition does not retry ("imgbatch resume" starts the array
again); after "imgbatch cancel", or once the failure tolerance broke (the child
that sees it ends the run: Run Failed, reason tolerance, remaining.csv), it
checkpoints and exits 0: the run is over.

Example (what Batch runs; locally "imgbatch local" sets all of this up):
   AWS_BATCH_JOB_ARRAY_INDEX=0 AWS_BATCH_JOB_ARRAY_SIZE=4 \
     imgbatch work --run-id 20261123t020000z-1a2b3c4d --work-bucket my-work-bucket`
)

func workFlags() []cli.Flag {
	return slices.Concat([]cli.Flag{
		&cli.StringFlag{Name: "run-id", EnvVars: []string{"IMGBATCH_RUN_ID"}, Usage: "run to work on (runs/<id>/run.json in the work bucket)"},
	}, runFlags(), []cli.Flag{
		&cli.IntFlag{Name: "processors", EnvVars: []string{"IMGBATCH_PROCESSORS"}, Usage: "image goroutines (default: CPUs the container may use, from the cgroup quota)"},
		&cli.IntFlag{Name: "fetchers", EnvVars: []string{"IMGBATCH_FETCHERS"}, Usage: "download goroutines (default 2 × processors; raise it for small images on high-latency S3)"},
		&cli.IntFlag{Name: "uploaders", EnvVars: []string{"IMGBATCH_UPLOADERS"}, Usage: "upload goroutines (default 4 × processors)"},
		&cli.Int64Flag{Name: "max-pixels", Value: worker.DefaultMaxPixels, EnvVars: []string{"IMGBATCH_MAX_PIXELS"}, Usage: "refuse images whose header claims more pixels than this in one frame (width × height, a GIF's canvas grown to its farthest frame), before decoding"},
		&cli.Int64Flag{Name: "max-total-pixels", EnvVars: []string{"IMGBATCH_MAX_TOTAL_PIXELS"}, Usage: "refuse images whose frames or pages together claim more pixels than this (default 10 × --max-pixels)"},
		&cli.IntFlag{Name: "max-frames", Value: worker.DefaultMaxFrames, EnvVars: []string{"IMGBATCH_MAX_FRAMES"}, Usage: "refuse animated GIFs and WebPs whose header claims more frames than this (each frame is decoded, resized and encoded)"},
		&cli.Int64Flag{Name: "max-source-bytes", Value: worker.DefaultMaxSourceBytes, EnvVars: []string{"IMGBATCH_MAX_SOURCE_BYTES"}, Usage: "refuse source objects larger than this"},
		&cli.Int64Flag{Name: "max-inflight-bytes", Value: worker.DefaultMaxInFlightBytes, EnvVars: []string{"IMGBATCH_MAX_INFLIGHT_BYTES"}, Usage: "source bytes held in memory at once (fetchers wait for room; a larger source takes all of it)"},
		&cli.DurationFlag{Name: "item-timeout", EnvVars: []string{"IMGBATCH_ITEM_TIMEOUT"}, Usage: "per-item image deadline: a file that makes libvips loop fails with Timeout (default 30s, plus 30s per variant that searches: a quality target, format auto, keepSmallerSource)"},
		&cli.DurationFlag{Name: "s3-timeout", Value: worker.DefaultS3Timeout, EnvVars: []string{"IMGBATCH_S3_TIMEOUT"}, Usage: "deadline of one S3 request, the SDK's retries included (a stalled connection fails the item with S3Error)"},
		&cli.StringFlag{Name: "cache-control", Value: worker.DefaultCacheControl, EnvVars: []string{"IMGBATCH_CACHE_CONTROL"}, Usage: "Cache-Control of every output"},
		&cli.BoolFlag{Name: "incremental", Value: true, EnvVars: []string{"IMGBATCH_INCREMENTAL"}, Usage: "skip items whose outputs already carry this source ETag and recipe hash"},
		&cli.DurationFlag{Name: "lease-ttl", Value: batch.DefaultLeaseTTL, EnvVars: []string{"IMGBATCH_LEASE_TTL"}, Usage: "shard lease; renewed every third of it, stolen once expired"},
		&cli.DurationFlag{Name: "grace", Value: batch.DefaultGrace, EnvVars: []string{"IMGBATCH_GRACE"}, Usage: "after SIGTERM: time for work in flight before checkpoint and exit 75"},
		&cli.DurationFlag{Name: "poll", Value: 5 * time.Second, EnvVars: []string{"IMGBATCH_POLL"}, Usage: "how often a child with nothing to claim looks for expired leases and the run's end"},
		&cli.DurationFlag{Name: "checkpoint-after", Value: batch.DefaultCheckpointAfter, EnvVars: []string{"IMGBATCH_CHECKPOINT_AFTER"}, Usage: "save a shard's results so far this long after the last checkpoint (what a crash can cost; each checkpoint is a PUT to the work bucket)"},
		&cli.IntFlag{Name: "checkpoint-every", EnvVars: []string{"IMGBATCH_CHECKPOINT_EVERY"}, Usage: "also save a checkpoint every this many results (default 0: by time only; a count costs fast shards a PUT every few seconds)"},
		&cli.DurationFlag{Name: "control-every", Value: batch.DefaultControlEvery, EnvVars: []string{"IMGBATCH_CONTROL_EVERY"}, Usage: "how often the child reads the run's control object (pause, cancel) between items"},
		&cli.BoolFlag{Name: "no-linger", EnvVars: []string{"IMGBATCH_NO_LINGER"}, Usage: "exit when nothing is left to claim instead of waiting to steal expired leases"},
		heicFlag,
	}, spotFlags())
}

// workOptions are work's flags and the child's identity, read once.
type workOptions struct {
	runID, workBucket string
	bus, source       string // --event-bus ("": no events), --event-source
	me                batch.Identity
	cfg               worker.Config // Log is set by the action
	leaseTTL, grace   time.Duration
	poll              time.Duration
	controlEvery      time.Duration
	checkpointAfter   time.Duration // --checkpoint-after
	checkpointEvery   int           // --checkpoint-every
	linger            bool
	spot              spotOptions
}

func workOptionsFrom(c *cli.Context) (workOptions, error) {
	o := workOptions{bus: c.String("event-bus"), source: c.String("event-source"),
		leaseTTL: c.Duration("lease-ttl"), grace: c.Duration("grace"), poll: c.Duration("poll"), controlEvery: c.Duration("control-every"), linger: !c.Bool("no-linger"),
		checkpointAfter: c.Duration("checkpoint-after"), checkpointEvery: c.Int("checkpoint-every")}
	var err error
	if o.runID, err = needFlag(c, "run-id"); err != nil {
		return o, err
	}
	if o.workBucket, err = needFlag(c, "work-bucket"); err != nil {
		return o, err
	}
	if o.me, err = identityFromEnv(); err != nil {
		return o, usageErr(err)
	}
	if o.spot, err = spotOptionsFrom(c); err != nil {
		return o, err
	}
	heicDec, err := heicDecoder(c)
	if err != nil {
		return o, err
	}
	o.cfg = worker.Config{
		Processors: c.Int("processors"), Fetchers: c.Int("fetchers"), Uploaders: c.Int("uploaders"),
		MaxPixels: c.Int64("max-pixels"), MaxTotalPixels: c.Int64("max-total-pixels"), MaxFrames: c.Int("max-frames"),
		MaxSourceBytes: c.Int64("max-source-bytes"), MaxInFlightBytes: c.Int64("max-inflight-bytes"),
		ItemTimeout: c.Duration("item-timeout"), S3Timeout: c.Duration("s3-timeout"), CacheControl: c.String("cache-control"),
		Incremental: c.Bool("incremental"), HEIC: heicDec,
	}
	return o, nil
}

func workAction(c *cli.Context, cl *clients, o workOptions) error {
	me := o.me
	log := slog.Default().With("runId", o.runID, "arrayIndex", me.Index, "attempt", me.Attempt, "jobId", me.JobID)

	// SIGTERM/SIGINT: stop taking work; the runner finishes what it can within --grace.
	stop, cancel := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	// The EC2 Spot two-minute notice (spot.go) stops it the same way.
	stop, cancelSpot := o.spot.watchSpot(stop, log)
	defer cancelSpot()

	vips.Start(vips.Config{Concurrency: 1, Log: log})
	wcfg := o.cfg
	wcfg.Log = log
	gogc := worker.DefaultGC()
	p, f, u := wcfg.Sizes()
	log.Info("worker starting", "libvips", vips.Version(), "processors", p, "fetchers", f, "uploaders", u, "gogc", gogc,
		"usableCPUs", worker.UsableCPUs(), "maxInflightBytes", wcfg.MaxInFlightBytes, "itemTimeout", wcfg.ItemTimeout.String(), "arraySize", me.ArraySize)
	logHEIC(c.Context, log, wcfg.HEIC)

	if cl.limiter != nil {
		cl.limiter.Control(o.workBucket) // leases and checkpoints are not paced at a data bucket's share
	}
	var n batch.Notifier = noNotifier{}
	if o.bus != "" {
		n = notifier{pub: cl.publisher(o.bus, o.source)}
	}
	// One CloudWatch EMF line per shard and per run on stdout (Batch sends it
	// to CloudWatch Logs, which makes the metrics): dashboards need no agent.
	n = metricsNotifier{next: n, emf: &metrics.Writer{W: c.App.Writer,
		Dimensions: map[string]string{"JobQueue": envOr("AWS_BATCH_JQ_NAME", "none")}}}
	cl.req.SetWorkBucket(o.workBucket) // its requests are the control plane (summary.json "requests")
	r := &batch.Runner{
		Store: cl.store(o.workBucket), RunID: o.runID, Me: me, Requests: cl.req,
		Processor: worker.New(cl.s3r, wcfg), Notifier: n, Log: log,
		LeaseTTL: o.leaseTTL, Grace: o.grace, Linger: o.linger, Poll: o.poll, ControlEvery: o.controlEvery,
		CheckpointAfter: o.checkpointAfter, CheckpointEvery: o.checkpointEvery,
		Ramp: batch.DefaultRamp(me.ArraySize),
	}
	if cl.limiter != nil && me.ArraySize > 1 {
		// Fewer children left working: the child's share of S3's budgets grows.
		r.Fleet = func(live int) { cl.limiter.Widen(float64(me.ArraySize) / float64(live)) }
	}
	st, err := r.Run(stop)
	log.Info("worker done", "shards", st.Shards, "succeeded", st.Counts.Succeeded, "failed", st.Counts.Failed,
		"skipped", st.Counts.Skipped, "finalized", st.Finalized)
	return workExit(err)
}

// workExit maps how the runner ended to the child's exit: 75 (the job
// definition retries the attempt) when stopped early or when a fresh
// attempt may succeed (no credentials yet, an expired session, libvips
// calls stuck past their deadline); 1 (the job definition exits) for what
// only a person can fix (missing output bucket, access denied on outputs,
// rejected keys) and for anything else; 76 (not retried) when the run was
// paused; 0 when the run was ended early (cancel, tolerance): nothing to retry.
func workExit(err error) error {
	var fe *worker.FatalError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, batch.ErrPaused):
		return withCode(exitPaused, err)
	case errors.Is(err, batch.ErrRunEnded):
		slog.Info("the run was ended early; this child's work is over", "why", err.Error())
		return nil
	case errors.Is(err, batch.ErrStopped):
		return withCode(exitRetry, err)
	case errors.As(err, &fe):
		if fe.Retry {
			return withCode(exitRetry, err)
		}
		return err // configuration (output bucket, permissions): a retry will not help
	case batch.IsNotFound(err):
		return err // no such run: a retry will not help
	}
	// Anything else is S3 (or the network) failing the run's own objects
	// after the SDK's retries: the attempt ends and the job definition's
	// retry strategy starts a new one, which resumes from the checkpoints.
	return withCode(exitRetry, err)
}

// identityFromEnv reads the variables AWS Batch sets in every array child.
// Outside Batch (no variables) the child is index 0 of an array of 1.
func identityFromEnv() (batch.Identity, error) {
	id := batch.Identity{JobID: os.Getenv("AWS_BATCH_JOB_ID"), ArraySize: 1, Attempt: 1}
	if id.JobID == "" {
		host, _ := os.Hostname()
		id.JobID = "manual-" + host + "-" + strconv.Itoa(os.Getpid())
	}
	// Array children's job id is <parent>:<index>: the lease owner uses the parent.
	if i := strings.LastIndexByte(id.JobID, ':'); i > 0 {
		id.JobID = id.JobID[:i]
	}
	var err error
	geti := func(name string, dst *int) {
		if v := os.Getenv(name); v != "" && err == nil {
			n, e := strconv.Atoi(v)
			if e != nil || n < 0 {
				err = fmt.Errorf("%s=%q is not a non-negative integer", name, v)
				return
			}
			*dst = n
		}
	}
	geti("AWS_BATCH_JOB_ARRAY_INDEX", &id.Index)
	geti("AWS_BATCH_JOB_ARRAY_SIZE", &id.ArraySize)
	geti("AWS_BATCH_JOB_ATTEMPT", &id.Attempt)
	if err == nil && id.ArraySize < 1 {
		id.ArraySize = 1
	}
	if err == nil && id.Index >= id.ArraySize {
		err = fmt.Errorf("AWS_BATCH_JOB_ARRAY_INDEX=%d is not below AWS_BATCH_JOB_ARRAY_SIZE=%d", id.Index, id.ArraySize)
	}
	return id, err
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
