package worker

import (
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/imgbatch/imgbatch"
)

// Memory per child, measured: all children of the simulation share one
// process, so a child's RSS cannot be read. What can: the process's live
// heap (runtime/metrics, as of each GC) above what it held before the
// children started, sampled every 200 ms. That growth holds every child
// (its SDK client, transport, pools, the sources and outputs in flight)
// and also what the in-memory S3 stored meanwhile; the outputs it stored
// (items done × variants × the output's size) are taken off, the work
// bucket's objects (claims, checkpoints, results: a few MB) are not, so
// the figure per child is an upper bound.

// memSampler samples the live heap while a simulation runs.
type memSampler struct {
	sm     *rateSim
	base   uint64 // live heap before the children started
	peak   int64  // most growth, less the outputs stored
	peakAt time.Duration
	// busy is peak before 95 % of the items were done: the children at
	// work, without the finalizer's reports (built in one child's memory)
	busy   int64
	done   chan struct{}
	exited chan struct{}
}

var liveHeap = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

func readLiveHeap() uint64 {
	metrics.Read(liveHeap)
	if liveHeap[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return liveHeap[0].Value.Uint64()
}

// sampleMemory takes the baseline (after a GC) and samples until stop.
func (sm *rateSim) sampleMemory() *memSampler {
	runtime.GC()
	ms := &memSampler{sm: sm, base: readLiveHeap(), done: make(chan struct{}), exited: make(chan struct{})}
	outSize := int64(len(sm.src) / 2 * len(imgbatch.DefaultRecipe.Variants))
	go func() {
		defer close(ms.exited)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ms.done:
				return
			case <-tick.C:
			}
			sm.mu.Lock()
			n := len(sm.res)
			sm.mu.Unlock()
			g := int64(readLiveHeap()) - int64(ms.base) - int64(n)*outSize
			if g > ms.peak {
				ms.peak, ms.peakAt = g, time.Since(sm.start)
			}
			if n < sm.cfg.Items*95/100 {
				ms.busy = max(ms.busy, g)
			}
		}
	}()
	return ms
}

func (ms *memSampler) stop() {
	close(ms.done)
	<-ms.exited
}
