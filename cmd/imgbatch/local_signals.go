package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Exit codes of an interrupted `imgbatch local`: the shell's 128+signal,
// so scripts tell a stopped run from a failed one.
const (
	exitSIGINT  = 130
	exitSIGTERM = 143
)

// localStopGrace is a child's time between SIGTERM and SIGKILL when local
// stops (Batch gives 30 s; a person at Ctrl-C should not wait that long).
// The children's own drain (IMGBATCH_GRACE) is shorter, so they checkpoint
// before the SIGKILL.
const (
	localStopGrace  = 5 * time.Second
	localChildGrace = "3s"
)

// interrupts makes the first SIGINT or SIGTERM cancel local's context
// (the run stops, the children get SIGTERM, the stack closes) and the
// second kill the children at once and exit.
type interrupts struct {
	ch   chan os.Signal
	done chan struct{}
	kill func() // the second signal: SIGKILL every child

	mu       sync.Mutex
	first    os.Signal
	expected bool // the signal is the normal end (--serve after the run)
}

// catchInterrupts starts catching; stop with Stop. Notices go to errw.
// dir is local's --dir, named in the last words of a second signal.
func catchInterrupts(parent context.Context, errw io.Writer, dir string, kill func()) (context.Context, *interrupts) {
	ctx, cancel := context.WithCancel(parent)
	in := &interrupts{ch: make(chan os.Signal, 2), done: make(chan struct{}), kill: kill}
	signal.Notify(in.ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		defer cancel()
		var sig os.Signal
		select {
		case sig = <-in.ch:
		case <-in.done:
			return
		}
		in.mu.Lock()
		in.first = sig
		quiet := in.expected
		in.mu.Unlock()
		if !quiet {
			fmt.Fprintf(errw, "\nimgbatch: %s: stopping the run (the children get SIGTERM, SIGKILL after %s); press Ctrl-C again to kill them at once\n", signalName(sig), localStopGrace)
		}
		cancel()
		select {
		case again := <-in.ch:
			in.kill()
			fmt.Fprintf(errw, "imgbatch: %s again: the children were killed\n", signalName(again))
			fmt.Fprintln(errw, "imgbatch:", interruptedErr(sig, dir))
			os.Exit(signalExit(sig))
		case <-in.done:
		}
	}()
	return ctx, in
}

// Expect marks a signal from now on as the normal end (not an interruption).
func (in *interrupts) Expect() {
	in.mu.Lock()
	in.expected = true
	in.mu.Unlock()
}

// Interrupted is the first signal if it interrupted the run, else nil.
func (in *interrupts) Interrupted() os.Signal {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.expected {
		return nil
	}
	return in.first
}

// Stop stops catching: signals kill the process again.
func (in *interrupts) Stop() {
	signal.Stop(in.ch)
	close(in.done)
}

func signalName(s os.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

func signalExit(s os.Signal) int {
	if s == syscall.SIGTERM {
		return exitSIGTERM
	}
	return exitSIGINT
}

// interruptedErr is local's last word after a signal: what was stopped,
// where the data is, how to go on.
func interruptedErr(sig os.Signal, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return withCode(signalExit(sig), fmt.Errorf(`interrupted by %s: the children were stopped.
  data   %s (S3 objects under s3/buckets/, run state under s3/buckets/work/runs/, children's logs under logs/)
  resume run the same command again: images whose outputs are current are skipped
  look   add --serve to keep the embedded S3 up for the aws CLI after the run`, signalName(sig), abs))
}
