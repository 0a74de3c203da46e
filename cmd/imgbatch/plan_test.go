package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/localstack"
	"github.com/imgbatch/imgbatch/localstack/eventbus"
)

// cmdEnv is an in-process S3 (buckets source, work, output) and a local
// EventBridge bus without rules, with the environment that points this
// process's SDK clients (and children's) at them.
type cmdEnv struct {
	env   []string
	cl    *clients
	bus   *eventbus.Bus
	store *batch.Store // the work bucket
}

func newCmdEnv(t testing.TB) *cmdEnv {
	t.Helper()
	srv, err := localstack.StartS3("", "source", "work", "output")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	bus := eventbus.New(eventbus.Config{})
	busSrv := httptest.NewServer(bus)
	t.Cleanup(busSrv.Close)
	env, cl := setLocalAWSEnv(t, srv.URL, busSrv.URL, "IMGBATCH_EVENT_BUS=imgbatch")
	return &cmdEnv{env: env, cl: cl, bus: bus, store: cl.store("work")}
}

// imgbatch runs the CLI in this process.
func (e *cmdEnv) imgbatch(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"imgbatch", "--log-level", "warn"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// events are the bus's accepted events of one detail type.
func (e *cmdEnv) events(detailType string) []ebus.Envelope {
	var out []ebus.Envelope
	for _, env := range e.bus.Events() {
		if env.DetailType == detailType {
			out = append(out, env)
		}
	}
	return out
}

func writeTemp(t testing.TB, name, body string) string {
	t.Helper()
	return testutil.WriteTemp(t, name, body)
}

func TestPlanDryRunPrintsThePlanAndWritesNothing(t *testing.T) {
	e := newCmdEnv(t)
	var keys strings.Builder
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&keys, "photos/%02d.jpg\n", i)
	}
	keys.WriteString("photos/03.jpg\nphotos/07.jpg\n")  // lines 11, 12: duplicates
	keys.WriteString("bad\x01key.jpg\n# a comment\n\n") // line 13: malformed
	keys.WriteString("s3://bad bucket/x.jpg\n")         // line 16: malformed
	path := writeTemp(t, "keys.txt", keys.String())

	code, out, errs := e.imgbatch(t, "plan", "--dry-run", "--manifest", path, "--bucket", "source", "--output-bucket", "output", "--shard-size", "4")
	if code != 0 {
		t.Fatalf("plan --dry-run exited %d: %s", code, errs)
	}
	for _, want := range []string{
		"dry run (nothing written)",
		"items       10 (0 B)",
		"shards      3 of up to 4 items",
		"shard sizes 2–4 items",
		"14 records: 10 items, 0 filtered out, 2 bad lines, 2 duplicates",
		"bad lines   2 (skipped)",
		"keys.txt:13: control character in key",
		"keys.txt:16: invalid bucket name",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	n := 0
	if err := e.store.List(context.Background(), "", func(string, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("plan --dry-run wrote %d objects to the work bucket", n)
	}

	// --json carries the same plan for machines.
	code, out, errs = e.imgbatch(t, "plan", "--dry-run", "--json", "--manifest", path, "--bucket", "source", "--output-bucket", "output", "--shard-size", "4")
	if code != 0 {
		t.Fatalf("plan --dry-run --json exited %d: %s", code, errs)
	}
	var j struct {
		Run      imgbatch.Run     `json:"run"`
		Shards   batch.ShardStats `json:"shards"`
		BadLines []string         `json:"badLines"`
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if j.Run.Items != 10 || j.Run.Duplicates != 2 || j.Run.BadLines != 2 || j.Shards.Count != 3 || len(j.BadLines) != 2 {
		t.Errorf("--json plan: %+v", j)
	}
}

func TestPlanShardsByBytesAndTargetDuration(t *testing.T) {
	e := newCmdEnv(t)
	var lines strings.Builder
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&lines, `{"bucket":"source","key":"big/%02d.jpg","size":%d}`+"\n", i, 300<<10) // 300 KiB each
	}
	path := writeTemp(t, "items.jsonl", lines.String())
	plan := func(args ...string) batch.ShardStats {
		t.Helper()
		code, out, errs := e.imgbatch(t, append([]string{"plan", "--dry-run", "--json", "--manifest", path, "--output-bucket", "output"}, args...)...)
		if code != 0 {
			t.Fatalf("plan %v exited %d: %s", args, code, errs)
		}
		var j struct {
			Run    imgbatch.Run     `json:"run"`
			Shards batch.ShardStats `json:"shards"`
		}
		if err := json.Unmarshal([]byte(out), &j); err != nil {
			t.Fatal(err)
		}
		if j.Shards.Count != j.Run.Shards || j.Run.Items != 12 {
			t.Fatalf("plan %v: %+v", args, j)
		}
		return j.Shards
	}
	if st := plan("--shard-size", "5"); st.Count != 3 || st.MaxItems != 5 || st.CutByBytes != 0 {
		t.Errorf("--shard-size 5: %+v", st)
	}
	// 1 MiB holds three 300 KiB items and a fourth crosses it: shards of 4.
	if st := plan("--shard-size", "10", "--shard-bytes", "1MiB"); st.Count != 3 || st.MaxItems != 4 || st.CutByBytes != 3 || st.ByteLimit != 1<<20 {
		t.Errorf("--shard-bytes 1MiB: %+v", st)
	}
	// 2 s at 1 item/s: 2 items; at 10 MiB/s the byte limit (20 MiB) does not bite.
	if st := plan("--target-shard-duration", "2s", "--assumed-items-per-second", "1", "--assumed-bytes-per-second", "10MiB"); st.Count != 6 || st.ItemLimit != 2 || st.EstimatedMax != 2*time.Second {
		t.Errorf("--target-shard-duration 2s: %+v", st)
	}
	if code, _, errs := e.imgbatch(t, "plan", "--dry-run", "--manifest", path, "--output-bucket", "output", "--shard-bytes", "lots"); code != exitUsage {
		t.Errorf("--shard-bytes lots exited %d, want %d: %s", code, exitUsage, errs)
	}
}

func TestPlanThenSubmitStartsTheRunOnce(t *testing.T) {
	e := newCmdEnv(t)
	path := writeTemp(t, "keys.txt", "a.jpg\nb.jpg\na.jpg\nc.jpg\n")
	flags := []string{"--manifest", path, "--bucket", "source", "--output-bucket", "output", "--shard-size", "2", "--client-token", "nightly-1"}
	code, out, errs := e.imgbatch(t, append([]string{"plan"}, flags...)...)
	if code != 0 {
		t.Fatalf("plan exited %d: %s", code, errs)
	}
	runID := batch.NewRunID("nightly-1", time.Time{})
	if !strings.Contains(out, "run "+runID) || !strings.Contains(out, "not started") {
		t.Errorf("plan output:\n%s", out)
	}
	ctx := context.Background()
	run, err := e.store.LoadRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Items != 3 || run.Duplicates != 1 || run.Shards != 2 {
		t.Errorf("run.json: items %d, duplicates %d, shards %d; want 3, 1, 2", run.Items, run.Duplicates, run.Shards)
	}
	if n := len(e.events(ebus.DetailTypeRunRequested)); n != 0 {
		t.Fatalf("plan sent %d Run Requested events", n)
	}
	// submit with the same token starts the planned run, once.
	for i := 0; i < 2; i++ {
		code, out, errs = e.imgbatch(t, append([]string{"submit"}, flags...)...)
		if code != 0 {
			t.Fatalf("submit %d exited %d: %s", i, code, errs)
		}
		if !strings.Contains(out, "existing run") || !strings.Contains(out, runID) {
			t.Errorf("submit %d output:\n%s", i, out)
		}
	}
	evs := e.events(ebus.DetailTypeRunRequested)
	if len(evs) != 1 {
		t.Fatalf("%d Run Requested events, want 1", len(evs))
	}
	ev, err := evs[0].Decode()
	if err != nil || ev.(ebus.RunRequested).RunID != runID {
		t.Errorf("Run Requested: %+v %v", ev, err)
	}
	if ok, err := e.store.IsRequested(ctx, runID); err != nil || !ok {
		t.Errorf("requested.json: %v %v", ok, err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "1500": 1500, "512KiB": 512 << 10, "2GiB": 2 << 30, "1.5GB": 1_500_000_000, "10 MiB": 10 << 20, "7b": 7} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"lots", "-5", "5XB", "1..2GB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) succeeded", in)
		}
	}
}

// The 10-million-key plan: a generator streams a plain key list (with a few
// duplicates and bad lines) into `imgbatch plan --manifest -` run as a
// child process of this test binary, against the in-process S3 of the
// test (memory backend); the child's peak RSS is the planner's alone. Run
//
//	go test -run '^$' -bench Plan10M -benchtime 1x -timeout 30m ./cmd/imgbatch/
//
// IMGBATCH_PLAN_KEYS=N plans N keys instead of 10,000,000.
func BenchmarkPlan10M(b *testing.B) {
	keys := 10_000_000
	if v := os.Getenv("IMGBATCH_PLAN_KEYS"); v != "" {
		fmt.Sscan(v, &keys)
	}
	for _, mode := range []string{"dry-run", "write"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				e := newCmdEnv(b)
				res := planGenerated(b, e, keys, mode == "dry-run")
				b.ReportMetric(res.wall.Seconds(), "s/plan")
				b.ReportMetric(float64(res.maxRSS)/(1<<20), "peak-RSS-MiB")
				b.ReportMetric(res.cpu.Seconds(), "cpu-s")
				r := res.run
				if r.Items != int64(keys) || r.Duplicates != int64(keys/1000) || r.BadLines != 2 || r.Shards != (keys+199)/200 {
					b.Fatalf("plan of %d keys: items %d duplicates %d bad lines %d shards %d\n%s", keys, r.Items, r.Duplicates, r.BadLines, r.Shards, res.out)
				}
				b.Logf("%s: %d keys (+%d duplicates, %d bad lines) into %d shards: %s wall, %s CPU (user+sys), peak RSS %.1f MiB",
					mode, r.Items, r.Duplicates, r.BadLines, r.Shards, res.wall.Round(time.Millisecond), res.cpu.Round(time.Millisecond), float64(res.maxRSS)/(1<<20))
			}
		})
	}
}

// TestPlanGeneratedKeysInAChildProcess is the benchmark's harness at a
// small size: the streamed manifest, duplicates, bad lines, shards in S3.
func TestPlanGeneratedKeysInAChildProcess(t *testing.T) {
	e := newCmdEnv(t)
	res := planGenerated(t, e, 20_000, false)
	if res.run.Items != 20_000 || res.run.Duplicates != 20 || res.run.BadLines != 2 || res.run.Shards != 100 {
		t.Fatalf("plan of 20,000 generated keys: items %d duplicates %d bad %d shards %d\n%s",
			res.run.Items, res.run.Duplicates, res.run.BadLines, res.run.Shards, res.out)
	}
	n := 0
	if err := e.store.List(context.Background(), imgbatch.Layout{RunID: res.run.ID}.ShardsPrefix(), func(string, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 100 {
		t.Errorf("%d shard objects, want 100", n)
	}
}

type planResult struct {
	wall, cpu time.Duration
	maxRSS    int64 // bytes
	out       string
	run       imgbatch.Run
}

// planGenerated pipes n generated keys (plus one duplicate per thousand and
// two bad lines) into `imgbatch plan --manifest -` in a child process.
func planGenerated(t testing.TB, e *cmdEnv, n int, dry bool) planResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--log-level", "warn", "plan", "--manifest", "-", "--format", "keys", "--bucket", "source",
		"--output-bucket", "output", "--width", "100", "--max-bad-lines", "10", "--json"}
	if dry {
		args = append(args, "--dry-run")
	} else {
		args = append(args, "--client-token", fmt.Sprintf("gen-%d-%d", n, time.Now().UnixNano()))
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "IMGBATCH_BE_MAIN=1", "TMPDIR="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stdin.Close()
		w := bufio.NewWriterSize(stdin, 1<<20)
		writeKeys(w, n)
		w.Flush()
	}()
	err = cmd.Wait()
	wall := time.Since(start)
	wg.Wait()
	if err != nil {
		t.Fatalf("imgbatch plan: %v\n%s", err, errb.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	res := planResult{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), maxRSS: ru.Maxrss << 10, out: out.String()}
	var j struct {
		Run imgbatch.Run `json:"run"`
	}
	if err := json.Unmarshal(out.Bytes(), &j); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out.String())
	}
	res.run = j.Run
	return res
}

// writeKeys writes n distinct keys shaped like a photo library, one
// repeat of an earlier key after every thousand, and two malformed lines.
func writeKeys(w io.Writer, n int) {
	buf := make([]byte, 0, 128)
	for i := 0; i < n; i++ {
		buf = fmt.Appendf(buf[:0], "photos/%04d/%02d/%02d/IMG_%08d-%x.jpg\n", 2000+i%27, 1+i%12, 1+i%28, i, uint32(i)*2654435761)
		w.Write(buf)
		if i%1000 == 999 {
			j := i / 2
			buf = fmt.Appendf(buf[:0], "photos/%04d/%02d/%02d/IMG_%08d-%x.jpg\n", 2000+j%27, 1+j%12, 1+j%28, j, uint32(j)*2654435761)
			w.Write(buf)
		}
		if i == n/3 || i == 2*n/3 {
			w.Write([]byte("photos/broken\x01name.jpg\n"))
		}
	}
}
