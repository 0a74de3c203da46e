package localstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ExitRetry is the exit code with which `imgbatch work` asks to be retried
// (stopped by SIGTERM, or stuck libvips calls): the job definition's retry
// strategy retries it, like a lost Spot host.
const ExitRetry = 75

// ArrayRunner stands in for AWS Batch array jobs: it starts Size children
// of a command with the variables Batch sets, and retries a child's attempt
// the way the job definition's retry strategy does (exit code 75 or a
// signal-killed child are retried; any other non-zero exit is final).
type ArrayRunner struct {
	Exe       string   // the imgbatch binary children run
	Env       []string // extra environment of every child (endpoints, buckets)
	LogDir    string   // child output goes to <LogDir>/<job id>/<index>.log
	QueueName string
	CEName    string
	Log       *slog.Logger
	// Output, when set, also receives every child's output (for `local -v`).
	Output io.Writer
	// Hooks let tests watch and disturb the children (kill schedules,
	// memory probes); all optional.
	Hooks ArrayHooks
	// Events, when set, receives the "Batch Job State Change" event of
	// every job that ended for good (jobevents.go), as AWS Batch sends it
	// to the default bus.
	Events EventPutter
	// StopGrace is how long a child has between SIGTERM (the stack
	// stopping) and SIGKILL; 0 is Batch's 30 s.
	StopGrace time.Duration

	mu      sync.Mutex
	jobs    []*ArrayJob
	running map[*exec.Cmd]bool
	kill    chan struct{} // closed by Kill
	killed  sync.Once
}

// Kill SIGKILLs every running child (and its process group) before it
// returns, and every child started from now on: the second Ctrl-C.
func (r *ArrayRunner) Kill() {
	r.killed.Do(func() { close(r.killChan()) })
	r.mu.Lock()
	defer r.mu.Unlock()
	for cmd := range r.running {
		killGroup(cmd)
	}
}

// killGroup SIGKILLs cmd's process group: the child and its own helpers.
func killGroup(cmd *exec.Cmd) {
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		_ = cmd.Process.Kill()
	}
}

// track adds (or with on false removes) a started child to what Kill kills.
func (r *ArrayRunner) track(cmd *exec.Cmd, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running == nil {
		r.running = map[*exec.Cmd]bool{}
	}
	if on {
		r.running[cmd] = true
	} else {
		delete(r.running, cmd)
	}
}

func (r *ArrayRunner) killChan() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kill == nil {
		r.kill = make(chan struct{})
	}
	return r.kill
}

func (r *ArrayRunner) stopGrace() time.Duration {
	if r.StopGrace > 0 {
		return r.StopGrace
	}
	return 30 * time.Second
}

// ArrayHooks are optional callbacks around every attempt of every child.
// They run on the runner's goroutine of that child and must return quickly
// (start goroutines for anything slow).
type ArrayHooks struct {
	// AttemptEnv adds NAME=VALUE variables to one attempt, after every
	// other variable (so they win), e.g. a per-attempt AWS_SDK_UA_APP_ID
	// that lets an S3 proxy tell the attempts' requests apart.
	AttemptEnv func(jobID string, index, attempt int) []string
	// OnStart is called once the attempt's process started. a.Cmd is the
	// running command: signal a.Cmd.Process, or start a copy of it
	// (a.Cmd.Path, a.Cmd.Args, a.Cmd.Env); never Wait on it.
	OnStart func(a Attempt)
	// OnExit is called when the attempt's process ended, with its state
	// (exit code or signal; SysUsage is its *syscall.Rusage, whose Maxrss
	// is the peak resident memory in KiB), before the runner decides on a
	// retry.
	OnExit func(a Attempt, st *os.ProcessState)
}

// Attempt is one started attempt of an array child, as the hooks see it.
type Attempt struct {
	JobID    string
	Index    int // AWS_BATCH_JOB_ARRAY_INDEX
	Attempt  int // AWS_BATCH_JOB_ATTEMPT, 1-based
	Attempts int // the retry strategy's attempts: the last one is not retried
	Cmd      *exec.Cmd
}

// JobSpec is what SubmitJob would carry.
type JobSpec struct {
	Name     string
	Command  []string // arguments after the binary, Ref:: parameters already substituted
	Size     int      // array size
	Attempts int      // retry strategy attempts (default 1)
	Env      map[string]string
	// Definition is the job definition's name and Parameters the job's
	// parameters (defaults included), for the job's state change event.
	Definition string
	Parameters map[string]string
	// Array marks an array job (arrayProperties) even when Size is 1.
	Array bool
}

// Child is the state of one array child.
type Child struct {
	Index    int
	Attempts int
	ExitCode int
	Err      string
	// LastWords is the last line the child's last attempt wrote (its
	// exit reason), kept in memory: its log file may be cut off by the
	// very fault that stopped it (a full disk).
	LastWords string
}

// ArrayJob is a submitted array job.
type ArrayJob struct {
	ID       string
	Spec     JobSpec
	created  time.Time
	done     chan struct{}
	mu       sync.Mutex
	children []Child
}

// Submit starts the array job's children and returns at once.
func (r *ArrayRunner) Submit(ctx context.Context, spec JobSpec) (*ArrayJob, error) {
	if spec.Size < 1 {
		return nil, fmt.Errorf("array size %d: must be at least 1", spec.Size)
	}
	if spec.Attempts < 1 {
		spec.Attempts = 1
	}
	if ctx.Err() != nil { // the stack is stopping: Batch would not start it either
		return nil, fmt.Errorf("array job %s not started: %w", spec.Name, ctx.Err())
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	j := &ArrayJob{ID: "local-" + hex.EncodeToString(b[:]), Spec: spec, created: time.Now(), done: make(chan struct{}), children: make([]Child, spec.Size)}
	r.mu.Lock()
	r.jobs = append(r.jobs, j)
	r.mu.Unlock()
	log := r.logger().With("jobId", j.ID, "job", spec.Name)
	log.Debug("array job submitted", "size", spec.Size, "attempts", spec.Attempts, "command", spec.Command)
	var wg sync.WaitGroup
	for i := 0; i < spec.Size; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r.runChild(ctx, j, i, log)
		}(i)
	}
	go func() {
		wg.Wait()
		if ctx.Err() == nil { // not stopped with the stack: the job ended on its own
			r.jobEnded(j)
		}
		close(j.done)
	}()
	return j, nil
}

func (r *ArrayRunner) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

func (r *ArrayRunner) runChild(ctx context.Context, j *ArrayJob, i int, log *slog.Logger) {
	for attempt := 1; attempt <= j.Spec.Attempts; attempt++ {
		tail := &lastLine{}
		code, err := r.start(ctx, j, i, attempt, tail)
		j.mu.Lock()
		j.children[i] = Child{Index: i, Attempts: attempt, ExitCode: code, LastWords: tail.String()}
		if err != nil {
			j.children[i].Err = err.Error()
		}
		j.mu.Unlock()
		if code == 0 && err == nil {
			return
		}
		retryable := code == ExitRetry || code < 0
		if ctx.Err() != nil {
			log.Debug("array child stopped with the stack", "index", i, "attempt", attempt, "exitCode", code)
			return
		}
		log.Warn("array child ended", "index", i, "attempt", attempt, "exitCode", code, "err", err, "retry", retryable && attempt < j.Spec.Attempts)
		if !retryable {
			return
		}
	}
}

// start runs one attempt of child i and returns its exit code (-1 when it
// was killed by a signal, like a lost host).
func (r *ArrayRunner) start(ctx context.Context, j *ArrayJob, i, attempt int, tail *lastLine) (int, error) {
	cmd := exec.Command(r.Exe, j.Spec.Command...)
	// The job definition's environment first; the stack's endpoints and
	// buckets win over what the template resolves from its resources.
	cmd.Env = os.Environ()
	for k, v := range j.Spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, r.Env...)
	cmd.Env = append(cmd.Env,
		"AWS_BATCH_JOB_ID="+j.ID+":"+strconv.Itoa(i),
		"AWS_BATCH_JOB_ARRAY_INDEX="+strconv.Itoa(i),
		"AWS_BATCH_JOB_ARRAY_SIZE="+strconv.Itoa(j.Spec.Size),
		"AWS_BATCH_JOB_ATTEMPT="+strconv.Itoa(attempt),
		"AWS_BATCH_JQ_NAME="+r.QueueName,
		"AWS_BATCH_CE_NAME="+r.CEName,
	)
	if r.Hooks.AttemptEnv != nil {
		cmd.Env = append(cmd.Env, r.Hooks.AttemptEnv(j.ID, i, attempt)...)
	}
	var out io.Writer = tail
	if r.LogDir != "" {
		dir := filepath.Join(r.LogDir, j.ID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 1, err
		}
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(i)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return 1, err
		}
		defer f.Close()
		// A log write that fails (disk full) must not stop the tail or -v.
		out = io.MultiWriter(tail, bestEffort{f})
	}
	if r.Output != nil {
		out = io.MultiWriter(out, r.Output)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A child killed like a lost host may leave processes of its own that
	// hold its output pipe: do not wait for them once the child is gone.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("start child %d: %w", i, err)
	}
	a := Attempt{JobID: j.ID, Index: i, Attempt: attempt, Attempts: j.Spec.Attempts, Cmd: cmd}
	if r.Hooks.OnStart != nil {
		r.Hooks.OnStart(a)
	}
	stopped := make(chan struct{})
	r.track(cmd, true)
	go r.stopOnCancel(ctx, cmd, stopped)
	err := cmd.Wait()
	r.track(cmd, false)
	close(stopped)
	if r.Hooks.OnExit != nil && cmd.ProcessState != nil {
		r.Hooks.OnExit(a, cmd.ProcessState)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, fmt.Errorf("killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

// stopOnCancel stops cmd like Batch a cancelled job once ctx ends:
// SIGTERM, then SIGKILL to its process group (its own helpers too) after
// the stop grace, or at once on Kill. stopped closes when cmd has ended.
func (r *ArrayRunner) stopOnCancel(ctx context.Context, cmd *exec.Cmd, stopped <-chan struct{}) {
	kill := r.killChan()
	select {
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(r.stopGrace())
		defer t.Stop()
		select {
		case <-t.C:
			killGroup(cmd)
		case <-kill:
			killGroup(cmd)
		case <-stopped:
		}
	case <-kill:
		killGroup(cmd)
	case <-stopped:
	}
}

// Wait blocks until every child ended for good.
func (j *ArrayJob) Wait(ctx context.Context) error {
	select {
	case <-j.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	var failed []string
	for _, c := range j.Children() {
		if c.ExitCode != 0 || c.Err != "" {
			failed = append(failed, fmt.Sprintf("child %d exit %d after %d attempts %s", c.Index, c.ExitCode, c.Attempts, c.Err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("array job %s: %v", j.ID, failed)
	}
	return nil
}

// Done is closed when every child ended.
func (j *ArrayJob) Done() <-chan struct{} { return j.done }

// Children is a snapshot of the children's states.
func (j *ArrayJob) Children() []Child {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Child(nil), j.children...)
}

// Jobs lists the submitted jobs.
func (r *ArrayRunner) Jobs() []*ArrayJob {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*ArrayJob(nil), r.jobs...)
}

// Ended reports whether array jobs were started and all of them ended.
func (r *ArrayRunner) Ended() bool {
	jobs := r.Jobs()
	if len(jobs) == 0 {
		return false
	}
	for _, j := range jobs {
		select {
		case <-j.Done():
		default:
			return false
		}
	}
	return true
}
