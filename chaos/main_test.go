package chaos

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/s3fault"
)

// long is the `make chaos` version: more seeds, more items, higher rates.
var long = os.Getenv("IMGBATCH_CHAOS") == "long"

var (
	tmpRoot  string // removed after the tests
	repoRoot string

	buildOnce sync.Once
	exePath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		var err error
		if tmpRoot, err = os.MkdirTemp("", "imgbatch-chaos-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmpRoot)
		wd, _ := os.Getwd()
		repoRoot = filepath.Dir(wd)
		started := time.Now()
		code := m.Run()
		fig.print(os.Stdout, time.Since(started))
		return code
	}()
	os.Exit(code)
}

// imgbatchBinary builds the imgbatch binary once (plain `go build`, as `go test`
// builds cmd/imgbatch: the system libvips through pkg-config) and returns
// its path. The children of every run are this binary. IMGBATCH_CHAOS_BIN
// names a binary to test instead (e.g. one built by scripts/build.sh).
func imgbatchBinary(t *testing.T) string {
	t.Helper()
	testutil.Long(t, "builds the imgbatch binary and runs child processes")
	buildOnce.Do(func() {
		if p := os.Getenv("IMGBATCH_CHAOS_BIN"); p != "" {
			exePath, buildErr = filepath.Abs(p)
			return
		}
		exePath = filepath.Join(tmpRoot, "imgbatch")
		cmd := exec.Command("go", "build", "-o", exePath, "./cmd/imgbatch")
		cmd.Dir = repoRoot
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/imgbatch: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return exePath
}

// figures add up what every run of the suite did, for the summary printed
// at the end (and the Reliability section of README.md).
type figures struct {
	mu        sync.Mutex
	runs      int // runs checked to the end
	stuck     int // runs that never sent their final event
	items     int64
	lost      int64
	dup       int64
	crashes   int
	attempts  int
	disturbed map[string]int // what the chaos did to children, by kind
	faults    map[s3fault.Kind]map[s3fault.Fault]int64
	requests  map[s3fault.Kind]int64
	peakRSS   int64 // KiB, the highest of any child
	shards    int   // shards of the checked runs
	noEvent   int   // of them, shards without a Shard Completed event
	runTime   time.Duration
}

var fig = &figures{disturbed: map[string]int{}, faults: map[s3fault.Kind]map[s3fault.Fault]int64{}, requests: map[s3fault.Kind]int64{}}

func (f *figures) addRun(items, lost, dup int64, took time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs++
	f.items += items
	f.lost += lost
	f.dup += dup
	f.runTime += took
}

func (f *figures) addShardEvents(shards, missing int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shards += shards
	f.noEvent += missing
}

func (f *figures) addStuck() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stuck++
}

func (f *figures) addAttempt(disturbance string, maxRSS int64, crashed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if crashed {
		f.crashes++
	}
	if disturbance != "" {
		kind, _, _ := strings.Cut(disturbance, "@")
		f.disturbed[kind]++
		if at := strings.TrimPrefix(disturbance, kind+"@"); strings.HasPrefix(at, "phase:") {
			f.disturbed[kind+"@"+strings.TrimPrefix(at, "phase:")]++
		}
	}
	f.peakRSS = max(f.peakRSS, maxRSS)
}

func (f *figures) addFaults(p *s3fault.Proxy) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, m := range p.Injected() {
		if f.faults[k] == nil {
			f.faults[k] = map[s3fault.Fault]int64{}
		}
		for fa, n := range m {
			f.faults[k][fa] += n
		}
	}
	for k, n := range p.Requests() {
		f.requests[k] += n
	}
}

func (f *figures) print(w io.Writer, wall time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.runs == 0 {
		return
	}
	mode := "CI"
	if long {
		mode = "long"
	}
	fmt.Fprintf(w, "\nchaos figures (%s version): %d runs checked (%d more never finished), %d items, lost %d, duplicated %d; %d child attempts, crashes %d, peak child RSS %.0f MiB; runs %s, wall %s\n",
		mode, f.runs, f.stuck, f.items, f.lost, f.dup, f.attempts, f.crashes, float64(f.peakRSS)/1024, f.runTime.Round(time.Second), wall.Round(time.Second))
	var ds []string
	for k, n := range f.disturbed {
		ds = append(ds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(ds)
	fmt.Fprintf(w, "  children disturbed: %s\n", strings.Join(ds, ", "))
	fmt.Fprintf(w, "  shards %d, of them without a Shard Completed event %d\n", f.shards, f.noEvent)
	for _, k := range s3fault.Kinds {
		if f.requests[k] == 0 {
			continue
		}
		var parts []string
		var total int64
		for _, fa := range s3fault.Faults {
			if n := f.faults[k][fa]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", fa, n))
				total += n
			}
		}
		fmt.Fprintf(w, "  S3 %-5s %7d requests, %5d faults injected: %s\n", k, f.requests[k], total, strings.Join(parts, ", "))
	}
}
