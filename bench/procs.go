package bench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procGroup starts the processes of one case and accounts for them: CPU
// time from wait4's rusage, memory from /proc (see rssSampler).
type procGroup struct {
	sampler *rssSampler

	mu    sync.Mutex
	cpu   time.Duration
	count int
}

func newProcGroup() *procGroup { return &procGroup{sampler: startRSSSampler(50 * time.Millisecond)} }

// run starts cmd, waits for it and adds its usage. Its stderr is kept for
// errors (its last 2 KB).
func (g *procGroup) run(cmd *exec.Cmd) error {
	var stderr tailBuffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	g.sampler.add(cmd.Process.Pid)
	err := cmd.Wait()
	g.sampler.remove(cmd.Process.Pid)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		g.mu.Lock()
		g.cpu += cpuTime(ru)
		g.count++
		g.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return nil
}

// usage is what a finished group used.
type usage struct {
	cpu       time.Duration
	peak      int64 // of all processes at once (sum of their VmHWM, sampled)
	samples   []RSSSample
	processes int
}

func (g *procGroup) finish() usage {
	samples, peak := g.sampler.finish()
	g.mu.Lock()
	defer g.mu.Unlock()
	return usage{cpu: g.cpu, peak: peak, samples: samples, processes: g.count}
}

// tailBuffer keeps the last 2 KB written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = append(t.b[:0], t.b[len(t.b)-2048:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(bytes.ToValidUTF8(t.b, nil)))
}

// command makes an exec.Cmd with exactly env as its environment.
func command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	return cmd
}
