package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/imgbatch/imgbatch/worker"
)

// Machine describes where a report was measured.
type Machine struct {
	CPUs            int    `json:"cpus"`       // online
	UsableCPUs      int    `json:"usableCpus"` // cgroup quota or GOMAXPROCS
	CPUModel        string `json:"cpuModel"`
	MemTotal        int64  `json:"memTotal"`
	OS              string `json:"os"`
	Kernel          string `json:"kernel"`
	Go              string `json:"go"`
	LibvipsImgbatch string `json:"libvipsImgbatch,omitempty"` // what imgbatch's cases ran on
	LibvipsCLI      string `json:"libvipsCli,omitempty"`      // the vipsthumbnail baseline's libvips
	Vipsthumbnail   string `json:"vipsthumbnail,omitempty"`   // the vipsthumbnail baseline's binary
	Sharp           string `json:"sharp,omitempty"`           // "0.35.6 (libvips 8.18.8)"
}

func describeMachine(ctx context.Context, results []Result) Machine {
	m := Machine{CPUs: runtime.NumCPU(), UsableCPUs: worker.UsableCPUs(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(b)
	}
	if n, err := parseMeminfo("/proc/meminfo", "MemTotal"); err == nil {
		m.MemTotal = n
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.OS = osName()
	for _, r := range results {
		switch {
		case Ours(r.Impl) && r.Libvips != "":
			m.LibvipsImgbatch = r.Libvips
		case r.Impl == ImplSharp && r.Libvips != "":
			m.Sharp = SharpVersion + " (libvips " + r.Libvips + ")"
		case r.Impl == ImplVipsthumbnail && r.Libvips != "":
			m.LibvipsCLI = r.Libvips
		}
	}
	return m
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func parseMeminfo(path, field string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseStatusKB(b, field)
}

func osName() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

// buildID names the imgbatch build that ran the cases: its VCS revision
// (with "+dirty" for uncommitted changes), build tags and the SHA-256 of
// the binary, since a dirty tree alone does not say which code ran.
func buildID(exe, version string) string {
	var parts []string
	hasRev := false
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty, tags := "", false, ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			case "-tags":
				tags = s.Value
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			if dirty {
				rev += "+dirty"
			}
			parts = append(parts, "revision "+rev)
			hasRev = true
		}
		if tags != "" {
			parts = append(parts, "tags "+tags)
		}
	}
	if !hasRev && version != "" && version != "dev" {
		parts = append([]string{"version " + version}, parts...)
	}
	if f, err := os.Open(exe); err == nil {
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			parts = append(parts, "binary sha256 "+hex.EncodeToString(h.Sum(nil))[:16])
		}
		f.Close()
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, ", ")
}
