package worker

import (
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupCPUs reads the CPU quota of this container rounded up; 0 when
// there is none. ECS and Batch on EC2 and Fargate all set one from the
// task's vCPUs, while runtime.NumCPU sees every core of the host.
func cgroupCPUs() int {
	self, _ := os.ReadFile("/proc/self/cgroup")
	return cgroupCPUsAt("/sys/fs/cgroup", string(self))
}

// cgroupCPUsAt looks under root (the cgroup mount) for the quota of the
// cgroup named in self (the contents of /proc/self/cgroup): cgroup v2
// cpu.max of that cgroup and its ancestors (the smallest wins), else cgroup
// v1 cpu.cfs_quota_us / cpu.cfs_period_us. Inside a container the cgroup is
// usually mounted as its own root, so the root's files are read too.
func cgroupCPUsAt(root, self string) int {
	best := 0
	take := func(n int) {
		if n > 0 && (best == 0 || n < best) {
			best = n
		}
	}
	v2, v1 := cgroupPaths(self)
	// v2: the unified hierarchy, from the process's cgroup up to the root.
	for p := v2; ; p = path.Dir(p) {
		if b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p), "cpu.max")); err == nil {
			take(parseCPUMax(string(b)))
		}
		if p == "/" || p == "." || p == "" {
			break
		}
	}
	if best > 0 {
		return best
	}
	// v1: the cpu controller, mounted as "cpu" or "cpu,cpuacct".
	for _, mnt := range []string{"cpu", "cpu,cpuacct", "cpuacct,cpu"} {
		for _, p := range []string{v1, "/"} {
			dir := filepath.Join(root, mnt, filepath.FromSlash(p))
			q, err1 := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us"))
			per, err2 := os.ReadFile(filepath.Join(dir, "cpu.cfs_period_us"))
			if err1 == nil && err2 == nil {
				take(quotaCPUs(strings.TrimSpace(string(q)), strings.TrimSpace(string(per))))
			}
		}
	}
	return best
}

// cgroupPaths finds this process's cgroup in /proc/self/cgroup: the v2
// path ("0::/path") and the v1 path of the cpu controller
// ("N:cpu,cpuacct:/path"). Missing ones are "/".
func cgroupPaths(self string) (v2, v1 string) {
	v2, v1 = "/", "/"
	for _, line := range strings.Split(self, "\n") {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "cpu" {
				v1 = parts[2]
			}
		}
	}
	return v2, v1
}

// parseCPUMax parses cgroup v2 "cpu.max": "<quota|max> <period>".
func parseCPUMax(s string) int {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0
	}
	return quotaCPUs(f[0], f[1])
}

// quotaCPUs is quota/period rounded up (1.5 CPUs → 2): the processor pool
// may use the fraction. "max" and -1 mean no quota (0).
func quotaCPUs(quota, period string) int {
	if quota == "max" || quota == "-1" {
		return 0
	}
	q, err1 := strconv.ParseFloat(quota, 64)
	p, err2 := strconv.ParseFloat(period, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 || math.IsInf(q, 0) || math.IsNaN(q) || math.IsInf(p, 0) || math.IsNaN(p) {
		return 0
	}
	n := math.Ceil(q / p)
	if n > 1<<20 {
		return 0
	}
	return int(n)
}
