package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// hangOn returns a renderFunc that behaves like a libvips call looping on
// one file: for sources starting with marker it blocks, ignoring its
// context, until release is closed; everything else renders for real.
func hangOn(marker string, release <-chan struct{}, started *atomic.Int32) renderFunc {
	return func(ctx context.Context, src []byte, info sniff.Info, vs []imgbatch.Variant, caps []int64, small bool) ([]vips.Result, *vips.Info, error) {
		if strings.HasPrefix(string(src[sniffLen(src):]), marker) {
			started.Add(1)
			<-release
			return nil, nil, errors.New("released")
		}
		return RenderWith(ctx, src, info, vs, caps, RenderOptions{}, small)
	}
}

// sniffLen is where the marker goes in a "looping" test file: after a real
// JPEG, so it passes the guard (libvips ignores bytes after EOI).
func sniffLen(src []byte) int {
	for i := len(src) - 2; i >= 0; i-- {
		if src[i] == 0xFF && src[i+1] == 0xD9 {
			return i + 2
		}
	}
	return len(src)
}

// TestItemDeadline: an image whose processing never ends fails with
// Timeout at the item deadline while the rest of the shard completes.
func TestItemDeadline(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{Processors: 2, ItemTimeout: 300 * time.Millisecond})
	release := make(chan struct{})
	var started atomic.Int32
	w.render = hangOn("LOOP", release, &started)
	img := photo(t, 200, 150, false)
	var keys []string
	for i := range 8 {
		k := fmt.Sprintf("ok-%d.jpg", i)
		s.put(t, "src", k, img)
		keys = append(keys, k)
	}
	s.put(t, "src", "loops.jpg", append(append([]byte{}, img...), "LOOP"...))
	keys = append(keys[:3], append([]string{"loops.jpg"}, keys[3:]...)...)

	o := processAll(t, context.Background(), w, testRun(t), items("src", keys...))
	if o.err != nil {
		t.Fatalf("Process: %v", o.err)
	}
	if o.emits != len(keys) {
		t.Fatalf("%d results for %d items", o.emits, len(keys))
	}
	for i, k := range keys {
		r := o.results[i]
		if k == "loops.jpg" {
			if r.Status != imgbatch.StatusFailed || r.ErrorCode != CodeTimeout || r.HTTPStatus != 408 || !strings.Contains(r.Message, "timed out") {
				t.Errorf("loops.jpg: %s %s %d %q, want failed Timeout", r.Status, r.ErrorCode, r.HTTPStatus, r.Message)
			}
			continue
		}
		if r.Status != imgbatch.StatusSucceeded {
			t.Errorf("%s: %s %s %q", k, r.Status, r.ErrorCode, r.Message)
		}
	}
	if n := w.stuck.Load(); n != 1 {
		t.Errorf("%d stuck calls, want 1", n)
	}
	// The abandoned call returning on its own is no longer counted.
	close(release)
	noLeaks(t)
	if n := w.stuck.Load(); n != 0 {
		t.Errorf("%d stuck calls after the call returned, want 0", n)
	}
}

// TestTooManyStuck: once MaxStuck calls are stuck the attempt ends with a
// retryable FatalError; the stuck items have their Timeout results, the
// item that found the limit has none (the next attempt does it).
func TestTooManyStuck(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{Processors: 1, Fetchers: 1, Uploaders: 1, MaxStuck: 2, ItemTimeout: 200 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	var started atomic.Int32
	w.render = hangOn("LOOP", release, &started)
	img := photo(t, 120, 90, false)
	loop := append(append([]byte{}, img...), "LOOP"...)
	keys := []string{"a.jpg", "loop1.jpg", "loop2.jpg", "b.jpg", "c.jpg"}
	for _, k := range keys {
		if strings.HasPrefix(k, "loop") {
			s.put(t, "src", k, loop)
		} else {
			s.put(t, "src", k, img)
		}
	}
	o := processAll(t, context.Background(), w, testRun(t), items("src", keys...))
	var fe *FatalError
	if !errors.As(o.err, &fe) || !fe.Retry || !strings.Contains(fe.Error(), "stuck") {
		t.Fatalf("Process returned %v, want a retryable FatalError about stuck calls", o.err)
	}
	if r, ok := o.results[0]; ok && r.Status != imgbatch.StatusSucceeded {
		t.Errorf("a.jpg: %+v", r)
	}
	for _, i := range []int{1, 2} {
		if r := o.results[i]; r.ErrorCode != CodeTimeout {
			t.Errorf("%s: %s %s, want Timeout", keys[i], r.Status, r.ErrorCode)
		}
	}
	if r, ok := o.results[3]; ok {
		t.Errorf("b.jpg found the limit but has a result: %+v", r)
	}
}

// TestCancelLeavesNoResult: when the pipeline is cancelled (grace over,
// lease lost) the items in flight get no result, so the checkpoint
// resumes them; the finished ones keep theirs; Process returns nil and
// leaves no goroutine behind.
func TestCancelLeavesNoResult(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{Processors: 4})
	var slowStarted atomic.Int32
	w.render = func(ctx context.Context, src []byte, info sniff.Info, vs []imgbatch.Variant, caps []int64, small bool) ([]vips.Result, *vips.Info, error) {
		if strings.HasSuffix(string(src), "SLOW") {
			slowStarted.Add(1)
			<-ctx.Done() // a render that honours cancellation
			return nil, nil, ctx.Err()
		}
		return RenderWith(ctx, src, info, vs, caps, RenderOptions{}, small)
	}
	img := photo(t, 120, 90, false)
	keys := []string{"a.jpg", "slow1.jpg", "b.jpg", "slow2.jpg", "c.jpg"}
	for _, k := range keys {
		b := img
		if strings.HasPrefix(k, "slow") {
			b = append(append([]byte{}, img...), "SLOW"...)
		}
		s.put(t, "src", k, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tasks := make(chan imgbatch.Task)
	go func() {
		defer close(tasks)
		for i, k := range keys {
			tasks <- imgbatch.Task{Index: i, Item: imgbatch.Item{Bucket: "src", Key: k}}
		}
	}()
	var mu sync.Mutex
	got := map[int]imgbatch.Result{}
	fast := 0
	err := w.Process(ctx, testRun(t), tasks, func(r imgbatch.Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := got[r.Index]; dup {
			t.Errorf("two results for %d", r.Index)
		}
		got[r.Index] = r
		if fast++; fast == 3 {
			go func() {
				for slowStarted.Load() < 2 {
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
			}()
		}
	})
	if err != nil {
		t.Fatalf("Process after cancel: %v", err)
	}
	if len(got) != 3 {
		t.Errorf("%d results, want the 3 finished items", len(got))
	}
	for i, r := range got {
		if strings.HasPrefix(keys[i], "slow") || r.Status != imgbatch.StatusSucceeded {
			t.Errorf("result for %s: %s %s", keys[i], r.Status, r.ErrorCode)
		}
	}
	noLeaks(t)
}

// TestSlowEmit: a consumer that takes its time (the runner writing a
// checkpoint) slows the pipeline down but neither deadlocks it nor loses
// or repeats a result, even with room for only one source in memory.
func TestSlowEmit(t *testing.T) {
	s := newTestS3(t, "src", "out")
	img := photo(t, 160, 120, false)
	w := newTestWorker(s, Config{Processors: 2, Fetchers: 3, Uploaders: 2, MaxSourceBytes: int64(len(img)), MaxInFlightBytes: int64(len(img))})
	var keys []string
	for i := range 24 {
		k := fmt.Sprintf("k/%02d.jpg", i)
		s.put(t, "src", k, img)
		keys = append(keys, k)
	}
	tasks := make(chan imgbatch.Task)
	go func() {
		defer close(tasks)
		for i, k := range keys {
			tasks <- imgbatch.Task{Index: i, Item: imgbatch.Item{Bucket: "src", Key: k}}
		}
	}()
	results := make(chan imgbatch.Result) // unbuffered: every emit waits for the consumer
	seen := map[int]int{}
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for r := range results {
			seen[r.Index]++
			if r.Status != imgbatch.StatusSucceeded {
				t.Errorf("%s: %s %s %q", r.Item.Key, r.Status, r.ErrorCode, r.Message)
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	err := w.Process(context.Background(), testRun(t), tasks, func(r imgbatch.Result) { results <- r })
	close(results)
	<-consumed
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		if seen[i] != 1 {
			t.Errorf("task %d: %d results", i, seen[i])
		}
	}
	noLeaks(t)
}

// TestIncremental: outputs carry the source ETag and the recipe hash; an
// unchanged source is skipped, changed bytes or a changed recipe are made
// again.
func TestIncremental(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{Incremental: true})
	run := testRun(t)
	a, b := photo(t, 160, 120, false), photo(t, 120, 160, true)
	s.put(t, "src", "a.jpg", a)
	s.put(t, "src", "b.png", b)
	its := items("src", "a.jpg", "b.png")
	status := func(o outcome) string {
		if o.err != nil {
			t.Fatal(o.err)
		}
		return string(o.results[0].Status) + "," + string(o.results[1].Status)
	}
	if got := status(processAll(t, context.Background(), w, run, its)); got != "succeeded,succeeded" {
		t.Fatalf("first run: %s", got)
	}
	if got := status(processAll(t, context.Background(), w, run, its)); got != "skipped,skipped" {
		t.Fatalf("unchanged: %s, want skipped,skipped", got)
	}
	// New bytes under the same key: a new ETag.
	s.put(t, "src", "a.jpg", photo(t, 161, 120, false))
	o := processAll(t, context.Background(), w, run, its)
	if got := status(o); got != "succeeded,skipped" {
		t.Fatalf("changed source: %s, want succeeded,skipped", got)
	}
	if o.results[0].Outputs[0].Width != 64 {
		t.Errorf("changed source made %+v", o.results[0].Outputs)
	}
	// A manifest ETag that is stale (the object was overwritten since) does
	// not make a stale output current.
	stale := its
	stale[0].ETag = "\"0123456789abcdef0123456789abcdef\""
	s.put(t, "src", "a.jpg", a)
	if got := status(processAll(t, context.Background(), w, run, stale)); got != "succeeded,skipped" {
		t.Fatalf("stale manifest ETag: %s, want succeeded,skipped", got)
	}
	// Another recipe: everything again.
	run2 := testRun(t, imgbatch.Variant{Name: "thumb", Width: 64, Height: 64, Format: imgbatch.FormatJPEG, Quality: 60},
		imgbatch.Variant{Name: "small", Width: 96, Height: 96, Format: imgbatch.FormatWebP})
	if run2.RecipeHash == run.RecipeHash {
		t.Fatal("recipes have the same hash")
	}
	if got := status(processAll(t, context.Background(), w, run2, its)); got != "succeeded,succeeded" {
		t.Fatalf("changed recipe: %s, want succeeded,succeeded", got)
	}
	if got := status(processAll(t, context.Background(), w, run2, its)); got != "skipped,skipped" {
		t.Fatalf("changed recipe, second time: %s, want skipped,skipped", got)
	}
	// An output deleted or missing: made again.
	w2 := newTestWorker(s, Config{Incremental: true})
	run3 := testRun(t, imgbatch.Variant{Name: "thumb", Width: 64, Height: 64, Format: imgbatch.FormatJPEG, Quality: 60},
		imgbatch.Variant{Name: "small", Width: 96, Height: 96, Format: imgbatch.FormatWebP},
		imgbatch.Variant{Name: "extra", Width: 32, Height: 32, Format: imgbatch.FormatPNG})
	if got := status(processAll(t, context.Background(), w2, run3, its)); got != "succeeded,succeeded" {
		t.Fatalf("added variant: %s", got)
	}
}

// TestSourcesLargerThanTheBudget: the in-flight budget bounds read-ahead
// in bytes, below the largest source allowed; a source larger than the
// whole budget takes all of it instead of waiting forever.
func TestSourcesLargerThanTheBudget(t *testing.T) {
	s := newTestS3(t, "src", "out")
	img := photo(t, 160, 120, false)
	w := newTestWorker(s, Config{Processors: 2, Fetchers: 4, Uploaders: 2, MaxSourceBytes: 100 << 20, MaxInFlightBytes: int64(len(img)) / 3})
	tasks := make(chan imgbatch.Task, 12)
	for i := range 12 {
		k := fmt.Sprintf("big/%02d.jpg", i)
		s.put(t, "src", k, img)
		tasks <- imgbatch.Task{Index: i, Item: imgbatch.Item{Bucket: "src", Key: k}}
	}
	close(tasks)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	seen := map[int]int{}
	if err := w.Process(ctx, testRun(t), tasks, func(r imgbatch.Result) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Index]++
		if r.Status != imgbatch.StatusSucceeded {
			t.Errorf("%s: %s %s %q", r.Item.Key, r.Status, r.ErrorCode, r.Message)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("the pipeline stalled on sources larger than its budget")
	}
	for i := range 12 {
		if seen[i] != 1 {
			t.Errorf("task %d: %d results", i, seen[i])
		}
	}
	noLeaks(t)
}
