package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Latency summarises the durations of one stage, in milliseconds.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50Ms"`
	P95 float64 `json:"p95Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

// Summarize computes nearest-rank percentiles of ds. It sorts ds in place.
func Summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	at := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(ds)))) - 1
		i = max(0, min(i, len(ds)-1))
		return ms(ds[i])
	}
	return Latency{N: len(ds), P50: at(50), P95: at(95), P99: at(99), Max: ms(ds[len(ds)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// stageTimes collects per-stage durations from many goroutines.
type stageTimes struct {
	mu sync.Mutex
	m  map[string][]time.Duration
}

func newStageTimes() *stageTimes { return &stageTimes{m: map[string][]time.Duration{}} }

func (s *stageTimes) add(stage string, d time.Duration) {
	s.mu.Lock()
	s.m[stage] = append(s.m[stage], d)
	s.mu.Unlock()
}

func (s *stageTimes) summary() map[string]Latency {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Latency, len(s.m))
	for k, v := range s.m {
		out[k] = Summarize(v)
	}
	return out
}

// statusKB reads a "Name:   123 kB" field of /proc/<pid>/status in bytes;
// pid 0 means this process.
func statusKB(pid int, field string) (int64, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseStatusKB(b, field)
}

// parseStatusKB finds field in the text of /proc/<pid>/status.
func parseStatusKB(b []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	prefix := []byte(field + ":")
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		f := bytes.Fields(line[len(prefix):])
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

// cpuTime is user + system CPU of a rusage.
func cpuTime(ru *syscall.Rusage) time.Duration {
	if ru == nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfCPU is the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return cpuTime(&ru)
}

// RSSSample is the resident memory of the measured processes at one moment.
type RSSSample struct {
	Ms    int64 `json:"ms"` // since the start of the case
	Bytes int64 `json:"bytes"`
}

// rssSampler polls /proc/<pid>/status of a changing set of processes. It
// records the sum of their VmRSS over time (the memory a machine must have
// for them at that moment) and, as the peak, the largest sum of their
// VmHWM: each process's own high-water mark, so a peak between two samples
// is not missed. (wait4's ru_maxrss cannot be used: a child started with
// vfork inherits the parent's high-water mark at exec.)
type rssSampler struct {
	every time.Duration
	start time.Time

	mu      sync.Mutex
	pids    map[int]bool
	samples []RSSSample
	peak    int64
	stop    chan struct{}
	done    chan struct{}
}

func startRSSSampler(every time.Duration) *rssSampler {
	s := &rssSampler{every: every, start: time.Now(), pids: map[int]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

// add starts sampling pid, with a first sample at once: a process that
// ends within one period (a vipsthumbnail batch of a few small files) is
// then still in the series and the peak, not missing from them.
func (s *rssSampler) add(pid int) {
	s.mu.Lock()
	s.pids[pid] = true
	s.mu.Unlock()
	s.sample()
}

func (s *rssSampler) remove(pid int) {
	s.mu.Lock()
	delete(s.pids, pid)
	s.mu.Unlock()
}

func (s *rssSampler) loop() {
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *rssSampler) sample() {
	s.mu.Lock()
	pids := make([]int, 0, len(s.pids))
	for p := range s.pids {
		pids = append(pids, p)
	}
	s.mu.Unlock()
	if len(pids) == 0 {
		return
	}
	var rss, hwm int64
	seen := false
	for _, p := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/status")
		if err != nil {
			continue // exited meanwhile
		}
		r, err1 := parseStatusKB(b, "VmRSS")
		h, err2 := parseStatusKB(b, "VmHWM")
		if err1 != nil || err2 != nil {
			continue // a zombie has no memory lines
		}
		rss += r
		hwm += h
		seen = true
	}
	if !seen {
		return
	}
	s.mu.Lock()
	s.samples = append(s.samples, RSSSample{Ms: time.Since(s.start).Milliseconds(), Bytes: rss})
	s.peak = max(s.peak, hwm)
	s.mu.Unlock()
}

// finish stops sampling and returns the samples and the peak.
func (s *rssSampler) finish() ([]RSSSample, int64) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.peak
}

// steadyRSS describes the memory of a run once it warmed up: the median of
// the samples after the first fifth of the run, and the growth from the
// second fifth to the last fifth (means), which stays near zero when memory
// does not grow with the number of images.
func steadyRSS(samples []RSSSample) (steady, growth int64) {
	if len(samples) < 5 {
		if len(samples) > 0 {
			return samples[len(samples)-1].Bytes, 0
		}
		return 0, 0
	}
	n := len(samples)
	rest := make([]int64, 0, n)
	for _, s := range samples[n/5:] {
		rest = append(rest, s.Bytes)
	}
	slices.Sort(rest)
	steady = rest[len(rest)/2]
	mean := func(ss []RSSSample) int64 {
		var t int64
		for _, s := range ss {
			t += s.Bytes
		}
		return t / int64(len(ss))
	}
	growth = mean(samples[n-n/5:]) - mean(samples[n/5:2*n/5])
	return steady, growth
}

// goMemory is the memory the Go runtime holds from the OS: everything it
// mapped minus what it returned.
func goMemory(ms []metrics.Sample) int64 {
	metrics.Read(ms)
	return int64(ms[0].Value.Uint64()) - int64(ms[1].Value.Uint64())
}

// startGoMemSampler samples goMemory every 100 ms until the returned
// function is called, which returns the largest value seen.
func startGoMemSampler() func() int64 {
	ms := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	var peak atomic.Int64
	peak.Store(goMemory(ms))
	stop := every(100*time.Millisecond, func() {
		if v := goMemory(ms); v > peak.Load() {
			peak.Store(v)
		}
	})
	return func() int64 {
		stop()
		return max(peak.Load(), goMemory(ms))
	}
}

// every calls fn every d in a goroutine until the returned stop is
// called; stop returns once fn is no longer running.
func every(d time.Duration, fn func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { close(quit); <-done }
}
