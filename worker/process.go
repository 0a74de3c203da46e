package worker

import (
	"context"
	"net/http"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/vips"
)

// process guards the item from its header bytes, then renders every
// variant within the item deadline (--item-timeout).
//
// libvips cannot be interrupted. When the deadline passes, the call is
// abandoned: the item fails with Timeout, the processor slot moves on, and
// the call keeps its OS thread until it returns on its own (counted in
// w.stuck). Once MaxStuck calls are stuck, this process is losing CPUs to
// them, so the attempt ends with a retryable FatalError and a fresh
// process resumes from the checkpoint.
func (w *Worker) process(ctx context.Context, run *imgbatch.Run, j *job) error {
	info, err := w.guard(j.data)
	if err != nil {
		return err
	}
	if n := w.stuck.Load(); int(n) >= w.cfg.MaxStuck {
		return fatal(true, "%d image operations are stuck past their deadline (--item-timeout %s); ending the attempt so a fresh process resumes", n, w.cfg.ItemTimeout)
	}
	type out struct {
		rs    []vips.Result
		facts *vips.Info
		err   error
	}
	done := make(chan out, 1) // buffered: an abandoned call never blocks
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	data, render := j.data, w.render
	variants, caps := run.Recipe.Variants, byteCaps(run.Recipe.Variants, j.size) // outputs.go
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- out{err: &panicError{p}}
			}
		}()
		rs, facts, err := render(rctx, data, info, variants, caps, len(run.Recipe.Placeholders) > 0)
		done <- out{rs, facts, err}
	}()
	deadline := w.cfg.itemTimeout(run)
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	select {
	case o := <-done:
		if o.err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return renderErr(info, o.err)
		}
		if len(o.rs) != len(run.Recipe.Variants) {
			return itemErr(CodeInternal, http.StatusInternalServerError, "rendered %d of %d variants", len(o.rs), len(run.Recipe.Variants))
		}
		j.outputs, err = w.outputs(run, j, info, o.rs)
		if err != nil {
			return err
		}
		j.image = w.imageInfo(j, info, o.facts, run.Recipe.Placeholders)
		return nil
	case <-timer.C:
		w.stuck.Add(1)
		go func() { <-done; w.stuck.Add(-1) }()
		w.cfg.Log.Warn("image processing passed the item deadline; the libvips call is abandoned",
			"item", j.task.Item.String(), "format", info.Format, "width", info.Width, "height", info.Height,
			"deadline", deadline, "stuck", w.stuck.Load())
		return itemErr(CodeTimeout, http.StatusRequestTimeout, "timed out after %s: %s %dx%d image processing passed the item deadline (--item-timeout)",
			deadline, info.Format, info.Width, info.Height)
	case <-ctx.Done():
		return ctx.Err()
	}
}
