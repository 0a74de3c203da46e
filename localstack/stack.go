package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/imgbatch/imgbatch/cloudformation"
	"github.com/imgbatch/imgbatch/localstack/eventbus"
)

// Options configure the embedded stack.
type Options struct {
	Dir         string // data directory: S3 objects under Dir/s3, child logs under Dir/logs; "" keeps S3 in memory
	Width       int    // array width of the Batch target (the template's ArrayWidth parameter); 0 = template default
	Exe         string // the imgbatch binary the array children run
	Source      string // bucket names (default source, work, output)
	Work        string
	Output      string
	EventBus    string   // bus name (default imgbatch)
	ChildEnv    []string // extra environment for children (e.g. IMGBATCH_LOG_LEVEL=debug)
	ChildOutput io.Writer
	Log         *slog.Logger
	// S3URL, when set, is an S3 endpoint to use instead of starting the
	// embedded server (a fault-injecting proxy, a second S3 implementation);
	// its buckets must exist. S3AccessKey and S3SecretKey are its
	// credentials (default "local").
	S3URL                    string
	S3AccessKey, S3SecretKey string
	// Hooks of the array runner (tests: kill schedules, memory probes).
	Hooks ArrayHooks
	// StopGrace is a child's time between SIGTERM and SIGKILL when the
	// stack closes (0: Batch's 30 s).
	StopGrace time.Duration
}

// Stack is the running embedded stack.
type Stack struct {
	S3     *S3Server
	Bus    *eventbus.Bus
	BusURL string
	Runner *ArrayRunner
	opts   Options

	ctx    context.Context
	cancel context.CancelFunc
	busSrv *http.Server
	notifs sync.Mutex

	stopRecord func()
	recorded   chan struct{}
}

// Start starts S3, the bus with the template's rules, and the array runner.
func Start(o Options) (*Stack, error) {
	if o.Source == "" {
		o.Source = "source"
	}
	if o.Work == "" {
		o.Work = "work"
	}
	if o.Output == "" {
		o.Output = "output"
	}
	if o.EventBus == "" {
		o.EventBus = "imgbatch"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Exe = exe
	}
	s3dir, logdir := "", ""
	if o.Dir != "" {
		s3dir, logdir = filepath.Join(o.Dir, "s3"), filepath.Join(o.Dir, "logs")
	}
	if o.S3AccessKey == "" {
		o.S3AccessKey, o.S3SecretKey = "local", "local"
	}
	var srv *S3Server
	if o.S3URL != "" {
		srv = &S3Server{URL: o.S3URL} // not ours: Close leaves it running
	} else {
		var err error
		if srv, err = StartS3(s3dir, o.Source, o.Work, o.Output); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := &Stack{S3: srv, opts: o, ctx: ctx, cancel: cancel}
	st.Bus = eventbus.New(eventbus.Config{
		Logger:         o.Log.With("component", "local-bus"),
		RetryBaseDelay: 200 * time.Millisecond,
		OnDeadLetter: func(d eventbus.DeadLetter) {
			o.Log.Error("event dead-lettered", "rule", d.Rule, "target", d.Target, "detailType", d.Event.DetailType, "err", d.Err)
		},
	})
	st.Runner = &ArrayRunner{Exe: o.Exe, LogDir: logdir, QueueName: "imgbatch-local-queue", CEName: "imgbatch-local-ce",
		Log: o.Log.With("component", "local-batch"), Output: o.ChildOutput, Hooks: o.Hooks, Events: st.Bus, StopGrace: o.StopGrace}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return nil, err
	}
	st.BusURL = "http://" + ln.Addr().String()
	defs, err := cloudformation.JobDefinitions()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("read the template's job definitions: %w", err)
	}
	// One endpoint serves EventBridge (POST / with X-Amz-Target) and the
	// Batch REST API (/v1/...).
	mux := http.NewServeMux()
	mux.Handle("/v1/", &batchAPI{stack: st, defs: defs})
	mux.Handle("/", st.Bus)
	st.busSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = st.busSrv.Serve(ln) }()
	st.Runner.Env = append(st.Env(), o.ChildEnv...)
	if err := st.addTemplateRules(); err != nil {
		st.Close()
		return nil, err
	}
	if o.Dir != "" {
		st.recordEvents(filepath.Join(o.Dir, "events.jsonl"))
	}
	return st, nil
}

// recordEvents appends every event the bus accepts to path (one envelope
// per line), for people and tests to see what was sent.
func (s *Stack) recordEvents(path string) {
	all, cancel := s.Bus.Subscribe(`{"version":["0"]}`)
	s.stopRecord = cancel
	s.recorded = make(chan struct{})
	go func() {
		defer close(s.recorded)
		for env := range all {
			b, err := json.Marshal(env)
			if err != nil {
				continue
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				s.opts.Log.Warn("record event", "err", err)
				continue
			}
			_, _ = f.Write(append(b, '\n'))
			f.Close()
		}
	}()
}

// Env is the environment that points AWS SDK clients (and the aws CLI) at
// this stack.
func (s *Stack) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.S3.URL,
		"AWS_ENDPOINT_URL_EVENTBRIDGE=" + s.BusURL,
		"AWS_ENDPOINT_URL_BATCH=" + s.BusURL,
		"AWS_ACCESS_KEY_ID=" + s.opts.S3AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.opts.S3SecretKey,
		"AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"IMGBATCH_WORK_BUCKET=" + s.opts.Work,
		"IMGBATCH_SOURCE_BUCKET=" + s.opts.Source,
		"IMGBATCH_OUTPUT_BUCKET=" + s.opts.Output,
		"IMGBATCH_EVENT_BUS=" + s.opts.EventBus,
		"IMGBATCH_S3_PATH_STYLE=true",
	}
}

// Buckets returns the source, work and output bucket names.
func (s *Stack) Buckets() (source, work, output string) {
	return s.opts.Source, s.opts.Work, s.opts.Output
}

// addTemplateRules routes the bus with the CloudFormation template's own
// rules: the Batch target starts the array runner with the job definition's
// command, the SNS target writes notifications.jsonl.
func (s *Stack) addTemplateRules() error {
	rules, err := cloudformation.Rules()
	if err != nil {
		return fmt.Errorf("read the template's rules: %w", err)
	}
	defs, err := cloudformation.JobDefinitions()
	if err != nil {
		return fmt.Errorf("read the template's job definitions: %w", err)
	}
	for _, r := range rules {
		// A rule of the stack's bus goes on the bus named in Options; one of
		// the default bus (AWS services' events: aws.batch) stays there.
		lr := eventbus.Rule{Name: r.Name, Pattern: r.Pattern}
		if r.EventBus != "" {
			lr.EventBus = s.opts.EventBus
		}
		if lr.Name == "" {
			lr.Name = r.LogicalID
		}
		for _, t := range r.Targets {
			lt := eventbus.Target{ID: t.ID, InputPathsMap: t.InputPathsMap, InputTemplate: t.InputTemplate,
				RetryAttempts: t.RetryAttempts, MaxEventAge: time.Duration(t.MaxEventAgeSeconds) * time.Second}
			switch t.Kind {
			case "batch":
				def, ok := defs[t.JobDefinition]
				if !ok {
					return fmt.Errorf("rule %s: target %s names job definition %q, not in the template", r.LogicalID, t.ID, t.JobDefinition)
				}
				size := t.ArraySize // 0: a single job, not an array
				if size > 0 && s.opts.Width > 0 {
					size = s.opts.Width
				}
				lt.Invoke = s.batchTarget(def, t.JobName, size)
			case "sns":
				lt.Invoke = s.notify(r.LogicalID)
			default:
				s.opts.Log.Warn("rule target kind has no local stand-in; ignored", "rule", r.LogicalID, "kind", t.Kind)
				continue
			}
			lr.Targets = append(lr.Targets, lt)
		}
		if err := s.Bus.AddRule(lr); err != nil {
			return fmt.Errorf("rule %s: %w", r.LogicalID, err)
		}
	}
	return nil
}

// batchTarget submits an array job the way EventBridge's Batch target does:
// the transformed input's "Parameters" fill the job definition's Ref::
// placeholders.
func (s *Stack) batchTarget(def cloudformation.JobDefinition, name string, size int) func(context.Context, []byte) error {
	return func(_ context.Context, input []byte) error {
		var in struct {
			Parameters map[string]string `json:"Parameters"`
		}
		if err := json.Unmarshal(input, &in); err != nil {
			return fmt.Errorf("batch target input %s: %w", input, err)
		}
		spec, err := jobSpec(def, in.Parameters, max(size, 1))
		if err != nil {
			return err
		}
		spec.Array = size > 0
		if name != "" {
			spec.Name = name
		}
		_, err = s.Runner.Submit(s.ctx, spec)
		return err
	}
}

// jobSpec makes the array job of a job definition: params (over the
// definition's defaults) fill its Ref:: placeholders.
func jobSpec(def cloudformation.JobDefinition, params map[string]string, size int) (JobSpec, error) {
	all := map[string]string{}
	for k, v := range def.DefaultParameters {
		all[k] = v
	}
	for k, v := range params {
		all[k] = v
	}
	cmd := make([]string, len(def.Command))
	for i, a := range def.Command {
		if name, ok := strings.CutPrefix(a, "Ref::"); ok {
			v, ok := all[name]
			if !ok {
				return JobSpec{}, fmt.Errorf("job definition %s: no value for %s", def.LogicalID, a)
			}
			a = v
		}
		cmd[i] = a
	}
	env := map[string]string{}
	for k, v := range def.Environment {
		env[k] = v // the runner puts the stack's own endpoints and buckets over these
	}
	return JobSpec{Name: def.LogicalID, Command: cmd, Size: size, Attempts: def.Attempts, Env: env, Definition: def.Name, Parameters: all}, nil
}

// notify appends what an SNS target would publish to notifications.jsonl.
func (s *Stack) notify(rule string) func(context.Context, []byte) error {
	return func(_ context.Context, input []byte) error {
		s.opts.Log.Debug("notification", "rule", rule, "message", string(input))
		if s.opts.Dir == "" {
			return nil
		}
		s.notifs.Lock()
		defer s.notifs.Unlock()
		f, err := os.OpenFile(filepath.Join(s.opts.Dir, "notifications.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Write(append(append([]byte(nil), input...), '\n'))
		return err
	}
}

// Kill SIGKILLs the children at once (a Close in progress then ends
// within moments).
func (s *Stack) Kill() {
	s.Runner.Kill()
	s.cancel()
}

// Close stops the children (SIGTERM, then SIGKILL after the stop grace,
// as Batch does), the bus and S3.
func (s *Stack) Close() error {
	s.cancel()
	// The runner SIGKILLs a child after the grace; its output pipes are
	// let go 2 s later (WaitDelay).
	deadline := time.NewTimer(s.Runner.stopGrace() + 5*time.Second)
	defer deadline.Stop()
wait:
	for _, j := range s.Runner.Jobs() {
		select {
		case <-j.Done():
		case <-deadline.C:
			s.opts.Log.Warn("array children still running after SIGKILL; not waiting for them")
			break wait
		}
	}
	var errs []error
	if s.busSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.busSrv.Shutdown(ctx))
		cancel()
	}
	if s.Bus != nil {
		s.Bus.Close()
	}
	if s.stopRecord != nil {
		s.stopRecord()
		<-s.recorded
	}
	errs = append(errs, s.S3.Close())
	return errors.Join(errs...)
}
