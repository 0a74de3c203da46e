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
	// in flight, at each of the SharpSettings; the faster is "sharp".
	ImplSharp = "sharp"
	// ImplVipsResize was `vips resize` per file (no shrink-on-load) with
	// Debian's vips CLI; it is gone with Debian's libvips (see Options.defaults).
	ImplVipsResize = "vips-resize"
)

// Settings of the sharp baseline: libvips threads per sharp operation.
const (
	// SharpConc1 is sharp.concurrency(1) with pool operations in flight:
	// one libvips thread per image, as imgbatch runs.
	SharpConc1 = "c1"
	// SharpDefault leaves sharp's own default concurrency (the number of
	// cores, but 1 on glibc Linux without jemalloc), pool operations in
	// flight.
	SharpDefault = "default"
)

// Recipes every case can run.
const (
	// RecipeSingle is one variant (Options.Variant, StandardVariant by
	// default: fit inside 512x512, JPEG q80).
	RecipeSingle = "single"
	// RecipeDefault is imgbatch.DefaultRecipe (thumb 256 JPEG q80 + web
	// 1280 JPEG q82), every variant from one source.
	RecipeDefault = "default"
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

// Case is one measurement: an implementation making a recipe at a pool
// size with levers (imgbatch) or a setting (sharp).
type Case struct {
	Impl   string   `json:"impl"`
	Pool   int      `json:"pool"`
	Levers []string `json:"levers,omitempty"`
	// Recipe is the recipe's name: RecipeSingle, RecipeDefault or a file's.
	Recipe string `json:"recipe,omitempty"`
	// Sharp is the sharp baseline's setting: SharpConc1 or SharpDefault.
	Sharp string `json:"sharp,omitempty"`
}

// Label names the recipe (unless single), the implementation and its
// levers or setting ("process+arenas", "default: sharp(c1)").
func (c Case) Label() string {
	l := c.Impl
	if len(c.Levers) > 0 {
		l += "+" + strings.Join(c.Levers, "+")
	}
	if c.Sharp != "" {
		l += "(" + c.Sharp + ")"
	}
	if c.Recipe != "" && c.Recipe != RecipeSingle {
		l = c.Recipe + ": " + l
	}
	return l
}

// Key names the case uniquely ("process+arenas@2", "default: sharp(c1)@2").
func (c Case) Key() string { return c.Label() + "@" + strconv.Itoa(c.Pool) }

// quality is the case as far as output pixels go: recipe, implementation
// and sharp setting (pool size and levers do not change pixels).
func (c Case) quality() Case { return Case{Impl: c.Impl, Recipe: c.Recipe, Sharp: c.Sharp} }

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

// Cases lists the cases of a sweep: for every recipe and pool size, every
// implementation with the defaults (sharp once per setting), then
// imgbatch's own with each lever set that applies.
func Cases(recipes, impls []string, pools []int, levers [][]string, sharp []string) []Case {
	if len(recipes) == 0 {
		recipes = []string{RecipeSingle}
	}
	if len(sharp) == 0 {
		sharp = []string{SharpConc1, SharpDefault}
	}
	var out []Case
	for _, r := range recipes {
		for _, p := range pools {
			for _, impl := range impls {
				if impl == ImplSharp {
					for _, s := range sharp {
						out = append(out, Case{Impl: impl, Pool: p, Recipe: r, Sharp: s})
					}
					continue
				}
				out = append(out, Case{Impl: impl, Pool: p, Recipe: r})
				for _, set := range levers {
					if applies(impl, set) {
						out = append(out, Case{Impl: impl, Pool: p, Levers: set, Recipe: r})
					}
				}
			}
		}
	}
	return out
}
