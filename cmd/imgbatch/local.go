package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/heic"
	"github.com/imgbatch/imgbatch/localstack"
	"github.com/imgbatch/imgbatch/worker"
)

// localUsage and localHelp are `imgbatch local --help`.
const (
	localUsage = "run the whole pipeline on this machine: embedded S3, event bus and array runner (no AWS account)"
	localHelp  = `Starts the embedded stack in this process — an S3-compatible server on
127.0.0.1 whose data lives under --dir, a local EventBridge bus routing with the
CloudFormation template's own rules, and a local AWS Batch array runner — then
uploads --images into the "source" bucket, submits a run exactly as "imgbatch
submit" does, lets the bus rule start --width "imgbatch work" children, shows
progress and prints a summary. The children are the production code with the
real AWS SDK clients pointed at the local endpoints.

Afterwards, open the directory: <dir>/s3/buckets/output/<variant>/... are the
outputs, <dir>/s3/buckets/work/runs/<run-id>/report.csv is the report,
<dir>/logs/ has every child's JSON log. A second run over the same --dir skips
the images whose outputs are already current.

Ctrl-C or SIGTERM stops the run: the children get SIGTERM (they checkpoint)
and SIGKILL 5 s later, a second Ctrl-C kills them at once; local then says
where the data is and exits 130 (SIGINT) or 143 (SIGTERM). With --serve,
the signal after the run is the normal end: the run's own exit code.
--images must be a directory and --dir writable with room for the images:
both are checked before anything starts. A full or read-only --dir fails
the S3 writes at once (507 InsufficientStorage, the cause named).

Examples:
   imgbatch local --images ./photos
   imgbatch local --images ./photos --width 4 --variant thumb:256x256:webp --variant web:1600x:jpeg:82
   imgbatch local --dir /tmp/run1 --images ./photos --manifest keys.txt
   imgbatch local --images ./photos --serve      # keep S3 up afterwards, for the aws CLI`
)

func localFlags() []cli.Flag {
	return slices.Concat(localPlanningFlags(), []cli.Flag{
		&cli.StringFlag{Name: "dir", Value: ".imgbatch", EnvVars: []string{"IMGBATCH_LOCAL_DIR"}, Usage: "data directory of the embedded stack (S3 objects, logs)"},
		&cli.StringFlag{Name: "images", Usage: "directory of images to upload into the source bucket (keys are the relative paths)"},
		&cli.DurationFlag{Name: "timeout", Value: 30 * time.Minute, Usage: "give up waiting for the run after this long"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print the children's logs"},
		&cli.BoolFlag{Name: "serve", Usage: "keep the embedded S3 and bus running after the run until interrupted"},
	}, startFlags(), []cli.Flag{
		&cli.BoolFlag{Name: "schedule-now", Usage: "fire the template's EventBridge Scheduler schedule once, now: its planner job plans the objects new since the last scheduled run and starts them"},
		&cli.StringFlag{Name: "scheduled-time", Usage: "with --schedule-now: the firing's scheduled time (RFC 3339; default now)"},
		&cli.StringSliceFlag{Name: "child-env", Usage: "extra NAME=VALUE for the children (e.g. IMGBATCH_PROCESSORS=1)"},
		heicFlag,
	})
}

// localPlanningFlags are the planning flags with local's own defaults
// (two array children, small shards), so that --help shows what local
// does.
func localPlanningFlags() []cli.Flag {
	fs := planningFlags()
	for _, f := range fs {
		if f, ok := f.(*cli.IntFlag); ok {
			switch f.Name {
			case "width":
				f.Value = localWidth
			case "shard-size":
				f.Value = localShardSize
			}
		}
	}
	return fs
}

// local's defaults: two children on a 2-core machine, shards small
// enough that a few images show stealing and checkpoints.
const (
	localWidth     = 2
	localShardSize = 10
)

// The embedded stack's buckets.
const (
	localSource = "source"
	localWork   = "work"
	localOutput = "output"
)

// localOptions are local's flags with local's defaults, read once.
type localOptions struct {
	dir, images    string
	timeout        time.Duration
	verbose, serve bool
	width          int    // array children (default 2)
	heic           string // --heic of the children
	childEnv       []string
	// scheduleNow fires the schedule for scheduledAt instead of submitting.
	scheduleNow bool
	scheduledAt time.Time
	submit      submitOptions // the run to submit, unless scheduleNow
}

func localOptionsFrom(c *cli.Context) (localOptions, error) {
	o := localOptions{dir: c.String("dir"), images: c.String("images"), timeout: c.Duration("timeout"),
		verbose: c.Bool("verbose"), serve: c.Bool("serve"), width: c.Int("width"), heic: c.String("heic"),
		childEnv: c.StringSlice("child-env"), scheduleNow: c.Bool("schedule-now")}
	if _, err := heicDecoder(c); err != nil {
		return o, err
	}
	if o.scheduleNow {
		at, err := parseScheduledTime(c.String("scheduled-time"), time.Now().Truncate(time.Second))
		if c.String("scheduled-time") == "" {
			at = time.Now().UTC().Truncate(time.Second)
		}
		o.scheduledAt = at
		return o, usageErr(err)
	}
	// Without flags, the run is every object of the source bucket, in
	// small shards, into the output bucket, by the template's worker job
	// definition on the local queue for --via batch.
	a := planArgsFrom(c)
	if !c.IsSet("manifest") {
		a.manifest = "s3://" + localSource + "/"
	}
	if !c.IsSet("bucket") {
		a.bucket = localSource
	}
	if !c.IsSet("output-bucket") {
		a.outputBucket = localOutput
	}
	a.width, a.workBucket, a.start.bus = o.width, localWork, "imgbatch"
	if a.start.via == "batch" && !c.IsSet("job-queue") {
		a.start.jobQueue = "imgbatch-local-queue"
	}
	if a.start.via == "batch" && !c.IsSet("job-definition") {
		a.start.jobDef = "WorkerJobDefinition"
	}
	so, err := a.submitOptions()
	if err != nil {
		return o, usageErr(err)
	}
	if so.start.via != "events" && so.start.via != "batch" {
		return o, usageErr(fmt.Errorf("local --via %q: use events or batch", so.start.via))
	}
	o.submit = so
	return o, nil
}

func localAction(c *cli.Context) error {
	o, err := localOptionsFrom(c)
	if err != nil {
		return err
	}
	if err := checkLocalDirs(o); err != nil {
		return err
	}
	var stack atomic.Pointer[localstack.Stack]
	ctx, in := catchInterrupts(c.Context, c.App.ErrWriter, o.dir, func() {
		if st := stack.Load(); st != nil {
			st.Kill()
		}
	})
	defer in.Stop()
	err = localRun(ctx, c, o, in, &stack)
	if sig := in.Interrupted(); sig != nil {
		// The stack is closed (localRun's defer): the children are gone.
		return interruptedErr(sig, o.dir)
	}
	return err
}

// localRun starts the stack, uploads, runs and (with --serve) serves.
func localRun(ctx context.Context, c *cli.Context, o localOptions, in *interrupts, stack *atomic.Pointer[localstack.Stack]) error {
	out := c.App.Writer
	childOut := io.Writer(nil)
	if o.verbose {
		childOut = c.App.ErrWriter
	}
	st, err := startLocalStack(o, childOut)
	if err != nil {
		return err
	}
	stack.Store(st)
	defer st.Close()
	fmt.Fprintf(out, "embedded stack: S3 %s (data in %s), event bus %s, %s\n", st.S3.URL, st.S3.Dir, st.BusURL, plural(o.width, "array child", "array children"))

	// This process talks to the stack through the same SDK clients as the children.
	for _, kv := range st.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	cl, err := loadClients(ctx)
	if err != nil {
		return err
	}
	if o.images != "" {
		n, skipped, err := uploadDir(ctx, cl.s3, localSource, o.images)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "uploaded %d images to s3://%s/ (%d already there)\n", n, localSource, skipped)
	}
	if o.scheduleNow {
		return localScheduled(ctx, out, o, st, cl)
	}
	return localSubmit(ctx, out, o, st, cl, in)
}

// startLocalStack starts the embedded stack of o.width children.
func startLocalStack(o localOptions, childOut io.Writer) (*localstack.Stack, error) {
	// The children share this machine: each gets its share of the CPUs as
	// image goroutines (on Batch each child has its own vCPUs).
	childEnv := []string{"IMGBATCH_LOG_FORMAT=json", "IMGBATCH_POLL=1s", "IMGBATCH_GRACE=" + localChildGrace,
		fmt.Sprintf("IMGBATCH_PROCESSORS=%d", max(1, worker.UsableCPUs()/o.width)),
		heic.EnvMode + "=" + o.heic}
	st, err := localstack.Start(localstack.Options{
		Dir: o.dir, Width: o.width, ChildOutput: childOut, Log: slog.Default(),
		Source: localSource, Work: localWork, Output: localOutput,
		ChildEnv: append(childEnv, o.childEnv...), StopGrace: localStopGrace,
	})
	if err != nil {
		return nil, fmt.Errorf("start the embedded stack: %w", err)
	}
	return st, nil
}

// localSubmit submits o's run exactly as submit does, lets the bus rule
// start the children, and waits for the run's end; with --serve, the
// stack then stays up until interrupted (then the normal end).
func localSubmit(ctx context.Context, out io.Writer, o localOptions, st *localstack.Stack, cl *clients, in *interrupts) error {
	// Subscribe before submitting so the final event cannot be missed.
	finished, cancelSub := st.Bus.Subscribe(runEndPattern)
	defer cancelSub()
	started := time.Now()
	plan, err := submitRun(ctx, cl, o.submit)
	if err != nil {
		return err
	}
	printPlan(out, plan, false)
	if plan.Run.Items == 0 {
		return withCode(exitUsage, fmt.Errorf("the manifest %s has no items: give --images DIR or --manifest", o.submit.manifestURI))
	}
	fin, err := awaitLocalRun(ctx, out, o, st, cl, plan.Run.ID, finished, started)
	if err != nil {
		return err
	}
	if o.serve {
		fmt.Fprintf(out, "\nserving until interrupted; try:\n  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --endpoint-url %s s3 ls s3://%s/ --recursive | head\n", st.S3.URL, localOutput)
		in.Expect()
		<-ctx.Done()
	}
	return runEndErr(fin, plan.Run.ID)
}

// runEndPattern matches a run's final events on the bus.
const runEndPattern = `{"source":["imgbatch"],"detail-type":["Run Completed","Run Failed"]}`

// localScheduled stands in for EventBridge Scheduler: it fires the
// template's schedule (the universal batch:submitJob target running the
// planner job), and the planner plans what is new and sends Run Requested,
// whose rule starts the workers — the same path as on AWS.
func localScheduled(ctx context.Context, out io.Writer, o localOptions, st *localstack.Stack, cl *clients) error {
	at := o.scheduledAt
	runID := batch.NewRunID("schedule:nightly:"+at.Format(time.RFC3339), at)
	finished, cancelSub := st.Bus.Subscribe(runEndPattern)
	defer cancelSub()
	started := time.Now()
	// The template's parameters name the deployed buckets: here, the local ones.
	job, err := st.FireSchedule("", at, map[string]string{"source": "s3://" + localSource + "/", "outputBucket": localOutput})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "schedule fired for %s: planner job %s (imgbatch plan --from-schedule)\n", at.Format(time.RFC3339), job.ID)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	select {
	case <-job.Done():
	case <-ctx.Done():
		return fmt.Errorf("waiting for the planner job: %w", ctx.Err())
	}
	if err := job.Wait(ctx); err != nil {
		return fmt.Errorf("the planner job failed (see its log under the data directory's logs/): %w", err)
	}
	if run, err := cl.store(localWork).LoadRun(ctx, runID); batch.IsNotFound(err) || (err == nil && run.Items == 0) {
		fmt.Fprintln(out, "nothing new since the last scheduled run: no run started")
		return nil
	} else if err != nil {
		return err
	}
	fin, err := awaitLocalRun(ctx, out, o, st, cl, runID, finished, started)
	if err != nil {
		return err
	}
	return runEndErr(fin, runID)
}

// awaitLocalRun waits (up to --timeout) for the run's final event, then
// prints the summary.
func awaitLocalRun(ctx context.Context, out io.Writer, o localOptions, st *localstack.Stack, cl *clients, runID string, finished <-chan ebus.Envelope, started time.Time) (ebus.Envelope, error) {
	store := cl.store(localWork)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	fin, err := waitForRun(ctx, out, store, runID, finished, isTerminal(out), st.Runner)
	if err != nil {
		return fin, err
	}
	took := time.Since(started) // the run's end, not the children's exit
	// Children that were waiting to steal notice the end within their poll.
	waitJobs(st.Runner, 10*time.Second)
	status, err := store.Status(context.WithoutCancel(ctx), runID, time.Now())
	if err != nil {
		return fin, err
	}
	printLocalSummary(out, st, status, fin, took)
	return fin, nil
}

// runEndErr is exit 3 for a run that failed its tolerance.
func runEndErr(fin ebus.Envelope, runID string) error {
	if fin.DetailType == ebus.DetailTypeRunFailed {
		return withCode(exitRunFailed, fmt.Errorf("run %s failed its failure tolerance", runID))
	}
	return nil
}

// waitForRun shows progress until the run's final event arrives.
func waitForRun(ctx context.Context, w io.Writer, store *batch.Store, runID string, finished <-chan ebus.Envelope, tty bool, runner *localstack.ArrayRunner) (ebus.Envelope, error) {
	every := 5 * time.Second
	if tty {
		every = 500 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var allEnded <-chan time.Time
	for {
		if allEnded == nil && runner.Ended() {
			// Every child has ended: the final event is due within moments.
			allEnded = time.After(5 * time.Second)
		}
		select {
		case <-allEnded:
			if !runner.Ended() { // a job started meanwhile (e.g. the workers after a planner)
				allEnded = nil
				continue
			}
			return ebus.Envelope{}, fmt.Errorf("every array child ended but run %s did not finish: %s", runID, childFailures(runner))
		case env := <-finished:
			ev, err := env.Decode()
			if err == nil && eventRunID(ev) == runID {
				if tty {
					fmt.Fprintln(w)
				}
				return env, nil
			}
		case <-tick.C:
			st, err := store.Status(ctx, runID, time.Now())
			if err != nil {
				continue
			}
			if !tty {
				// Not a terminal (CI, a log file): one JSON object per line.
				b, _ := json.Marshal(map[string]any{"msg": "progress", "runId": runID, "items": st.Counts.Items, "total": st.Run.Items,
					"succeeded": st.Counts.Succeeded, "skipped": st.Counts.Skipped, "failed": st.Counts.Failed,
					"itemsPerSecond": math.Round(st.PerSecond*10) / 10, "doneShards": st.DoneCount, "runningShards": st.Running,
					"elapsedSeconds": int(st.Elapsed.Seconds()), "etaSeconds": int(st.ETA.Seconds())})
				fmt.Fprintln(w, string(b))
				continue
			}
			fmt.Fprintf(w, "\r%s %3.0f%% %d/%d items: %d ok, %d skipped, %d failed · %.1f img/s · ETA %s   ",
				bar(st.Counts.Items, st.Run.Items, 24), pct(st.Counts.Items, st.Run.Items), st.Counts.Items, st.Run.Items,
				st.Counts.Succeeded, st.Counts.Skipped, st.Counts.Failed, st.PerSecond, st.ETA.Round(time.Second))
		case <-ctx.Done():
			return ebus.Envelope{}, fmt.Errorf("waiting for run %s: %w (see the children's logs)", runID, ctx.Err())
		}
	}
}

// bar draws a progress bar of width cells.
func bar(done, total int64, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	n := int(float64(width) * float64(min(done, total)) / float64(total))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func pct(done, total int64) float64 {
	if total <= 0 {
		return 0
	}
	return float64(done) * 100 / float64(total)
}

// waitJobs waits up to d for every array job to end.
func waitJobs(r *localstack.ArrayRunner, d time.Duration) {
	deadline := time.After(d)
	for _, j := range r.Jobs() {
		select {
		case <-j.Done():
		case <-deadline:
			return
		}
	}
}

func childFailures(r *localstack.ArrayRunner) string {
	var parts []string
	for _, j := range r.Jobs() {
		for _, c := range j.Children() {
			if c.ExitCode != 0 {
				part := fmt.Sprintf("child %d exited %d after %d attempt(s)", c.Index, c.ExitCode, c.Attempts)
				if c.LastWords != "" { // its log may be cut off (a full disk)
					part += ", last words: " + c.LastWords
				}
				parts = append(parts, part)
			}
		}
	}
	if len(parts) == 0 {
		return "no child failed (see the logs)"
	}
	return strings.Join(parts, "; ") + " (their logs are under the data directory's logs/)"
}

func eventRunID(ev ebus.Event) string {
	switch e := ev.(type) {
	case ebus.RunCompleted:
		return e.RunID
	case ebus.RunFailed:
		return e.RunID
	}
	return ""
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func printLocalSummary(w io.Writer, st *localstack.Stack, s *batch.RunStatus, fin ebus.Envelope, took time.Duration) {
	c := s.Counts
	if s.Final != nil && s.Final.DurationMs > 0 {
		// The run's own time (its creation to its reports), as report.html
		// and final.json count it.
		took = time.Duration(s.Final.DurationMs) * time.Millisecond
	}
	fmt.Fprintf(w, "\n%s: run %s in %s\n", fin.DetailType, s.Run.ID, took.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  items      %d: %d succeeded, %d skipped (outputs current), %d failed\n", c.Items, c.Succeeded, c.Skipped, c.Failed)
	fmt.Fprintf(w, "  outputs    %d files, %s in → %s out\n", c.Outputs, humanBytes(c.BytesIn), humanBytes(c.BytesOut))
	if secs := took.Seconds(); secs > 0 {
		fmt.Fprintf(w, "  throughput %.1f images/s end to end (the run's creation to its reports: planning, %s, processing)\n", float64(c.Items)/secs, plural(workerChildren(st.Runner), "child", "children"))
	}
	if len(s.Failures) > 0 {
		fmt.Fprintln(w, "  failed, by reason:")
		for _, g := range s.Failures {
			fmt.Fprintf(w, "    %3d %-18s e.g. %s: %s\n", g.Count, g.ErrorCode, firstKey(g.Keys), g.Example)
		}
	}
	counts := map[string]int{}
	for _, e := range st.Bus.Events() {
		counts[e.DetailType]++
	}
	fmt.Fprintf(w, "  events     %d Run Requested, %d Shard Completed, %d Run Completed, %d Run Failed\n",
		counts[ebus.DetailTypeRunRequested], counts[ebus.DetailTypeShardCompleted], counts[ebus.DetailTypeRunCompleted], counts[ebus.DetailTypeRunFailed])
	if dir := st.S3.Dir; dir != "" {
		_, work, output := st.Buckets()
		fmt.Fprintf(w, "  outputs in %s\n", filepath.Join(dir, "buckets", output))
		fmt.Fprintf(w, "  report     %s\n", filepath.Join(dir, "buckets", work, "runs", s.Run.ID, "report.csv"))
		fmt.Fprintf(w, "  page       %s (open it in a browser)\n", filepath.Join(dir, "buckets", work, filepath.FromSlash(imgbatch.Layout{RunID: s.Run.ID}.HTML())))
		fmt.Fprintf(w, "  catalog    %s (Parquet, one row per item)\n", filepath.Join(dir, "buckets", work, filepath.FromSlash(imgbatch.Layout{RunID: s.Run.ID}.CatalogPrefix())))
		fmt.Fprintf(w, "  logs       %s\n", filepath.Join(filepath.Dir(dir), "logs"))
	}
}

// uploadDir uploads every regular file under dir to bucket (key = the
// slash-separated relative path), skipping objects already there with the
// same size.
func uploadDir(ctx context.Context, client *s3.Client, bucket, dir string) (uploaded, skipped int, err error) {
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read --images %s: %w", dir, err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	var up, sk = make([]bool, len(files)), make([]bool, len(files))
	for i, p := range files {
		g.Go(func() error {
			rel, _ := filepath.Rel(dir, p)
			key := filepath.ToSlash(rel)
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			if h, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key}); err == nil && aws.ToInt64(h.ContentLength) == fi.Size() {
				sk[i] = true
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: f, ContentLength: aws.Int64(fi.Size())}); err != nil {
				return fmt.Errorf("upload %s: %w", p, err)
			}
			up[i] = true
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, 0, err
	}
	for i := range files {
		if up[i] {
			uploaded++
		}
		if sk[i] {
			skipped++
		}
	}
	return uploaded, skipped, nil
}

// workerChildren is the width of the last array job (the workers; a
// scheduled run starts a planner job first).
func workerChildren(r *localstack.ArrayRunner) int {
	jobs := r.Jobs()
	if len(jobs) == 0 {
		return 0
	}
	return len(jobs[len(jobs)-1].Children())
}

// plural is "1 child", "2 children".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
