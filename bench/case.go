package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Implementations a case can measure.
const (
	// ImplProcess is imgbatch's image work alone, files in and files out:
	// read, guard (sniff, pixel budget), vips.Thumbnail, write.
	ImplProcess = "process"
	// ImplPipeline is imgbatch end to end through S3: a planned run worked
	// by batch.Runner with worker.New against the embedded S3 server.
	ImplPipeline = "pipeline"
	// ImplVipsthumbnail is libvips' own command-line thumbnailer, N
	// processes at once, each given batches of files.
	ImplVipsthumbnail = "vipsthumbnail"
	// ImplSharp is Node's sharp (npm, with its own libvips), N operations
	// in flight.
	ImplSharp = "sharp"
	// ImplVipsResize is `vips resize` per file: the whole image decoded,
	// then scaled — what thumbnailing costs without shrink-on-load.
	ImplVipsResize = "vips-resize"
)

// Ours reports whether impl is imgbatch's own code (run as `imgbatch bench
// child`).
func Ours(impl string) bool { return impl == ImplProcess || impl == ImplPipeline }

// Levers: settings tried on imgbatch's own cases besides the defaults
// (MALLOC_ARENA_MAX=2 as in the Dockerfile, libvips concurrency 1 per
// operation, a fresh buffer per source).
const (
	LeverArenas = "arenas" // glibc's default number of malloc arenas (MALLOC_ARENA_MAX unset)
	LeverTrim   = "trim"   // malloc_trim(0) every second
	LeverReuse  = "reuse"  // process mode: one reused read buffer per goroutine
	// Numbered levers are a prefix and a number:
	LeverVConc    = "vconc"    // vconcN: libvips with N threads per operation (default 1)
	LeverGOGC     = "gogc"     // gogcN: GOGC=N (default 100)
	LeverMemLimit = "memlimit" // memlimitN: GOMEMLIMIT=N MiB (default none)
	LeverFetch    = "fetch"    // fetchN: pipeline with N fetchers (default 2 × pool)
)

// numbered levers and the range of their number.
var numbered = map[string][2]int{LeverVConc: {1, 64}, LeverGOGC: {1, 10000}, LeverMemLimit: {16, 1 << 20}, LeverFetch: {1, 1024}}

// Case is one measurement: an implementation at a pool size with levers.
type Case struct {
	Impl   string   `json:"impl"`
	Pool   int      `json:"pool"`
	Levers []string `json:"levers,omitempty"`
}

// Label names the implementation and its levers ("process+arenas").
func (c Case) Label() string {
	if len(c.Levers) == 0 {
		return c.Impl
	}
	return c.Impl + "+" + strings.Join(c.Levers, "+")
}

// Key names the case uniquely ("process+arenas@2").
func (c Case) Key() string { return c.Label() + "@" + strconv.Itoa(c.Pool) }

func (c Case) has(lever string) bool { return slices.Contains(c.Levers, lever) }

// number is the N of the lever prefixN in the case, else 0.
func (c Case) number(prefix string) int {
	for _, l := range c.Levers {
		if p, n, ok := splitLever(l); ok && p == prefix {
			return n
		}
	}
	return 0
}

// vipsConcurrency is the vconcN lever's N, else 0.
func (c Case) vipsConcurrency() int { return c.number(LeverVConc) }

// splitLever splits a numbered lever ("gogc50") into prefix and number.
func splitLever(l string) (string, int, bool) {
	i := strings.IndexAny(l, "0123456789")
	if i <= 0 {
		return "", 0, false
	}
	r, ok := numbered[l[:i]]
	if !ok {
		return "", 0, false
	}
	n, err := strconv.Atoi(l[i:])
	return l[:i], n, err == nil && n >= r[0] && n <= r[1]
}

// leverEnv is the environment a case's levers set (GOGC, GOMEMLIMIT).
func (c Case) leverEnv() []string {
	var env []string
	if n := c.number(LeverGOGC); n > 0 {
		env = append(env, "GOGC="+strconv.Itoa(n))
	}
	if n := c.number(LeverMemLimit); n > 0 {
		env = append(env, "GOMEMLIMIT="+strconv.Itoa(n)+"MiB")
	}
	return env
}

// ParseLevers splits "arenas,trim+reuse" style lists (one lever set per
// element; + joins levers into one set) and checks every name.
func ParseLevers(sets []string) ([][]string, error) {
	var out [][]string
	for _, s := range sets {
		var set []string
		for _, l := range strings.Split(s, "+") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			if _, _, ok := splitLever(l); !ok && l != LeverArenas && l != LeverTrim && l != LeverReuse {
				return nil, fmt.Errorf("unknown lever %q (have: %s, %s, %s, %sN, %sN, %sN MiB, %sN)", l, LeverArenas, LeverTrim, LeverReuse, LeverVConc, LeverGOGC, LeverMemLimit, LeverFetch)
			}
			set = append(set, l)
		}
		if len(set) > 0 {
			out = append(out, set)
		}
	}
	return out, nil
}

// applies reports whether every lever of set means something for impl.
func applies(impl string, set []string) bool {
	if !Ours(impl) {
		return false
	}
	for _, l := range set {
		if l == LeverReuse && impl != ImplProcess {
			return false
		}
		if p, _, _ := splitLever(l); p == LeverFetch && impl != ImplPipeline {
			return false
		}
	}
	return true
}

// Cases lists the cases of a sweep: for every pool size, every
// implementation with the defaults, then imgbatch's own with each lever
// set that applies.
func Cases(impls []string, pools []int, levers [][]string) []Case {
	var out []Case
	for _, p := range pools {
		for _, impl := range impls {
			out = append(out, Case{Impl: impl, Pool: p})
			for _, set := range levers {
				if applies(impl, set) {
					out = append(out, Case{Impl: impl, Pool: p, Levers: set})
				}
			}
		}
	}
	return out
}
