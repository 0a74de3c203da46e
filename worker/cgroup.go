package worker

import (
	"math"
	"os"
	"strconv"
	"strings"
)

// cgroupCPUs reads the CPU quota of this container (cgroup v2 cpu.max, or
// v1 cfs_quota/cfs_period) rounded up; 0 when there is none.
func cgroupCPUs() int {
	if b, err := os.ReadFile("/sys/fs/cgroup/cpu.max"); err == nil {
		return parseCPUMax(string(b))
	}
	q, err1 := os.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
	p, err2 := os.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
	if err1 != nil || err2 != nil {
		return 0
	}
	return quotaCPUs(strings.TrimSpace(string(q)), strings.TrimSpace(string(p)))
}

// parseCPUMax parses cgroup v2 "cpu.max": "<quota|max> <period>".
func parseCPUMax(s string) int {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0
	}
	return quotaCPUs(f[0], f[1])
}

func quotaCPUs(quota, period string) int {
	if quota == "max" || quota == "-1" {
		return 0
	}
	q, err1 := strconv.ParseFloat(quota, 64)
	p, err2 := strconv.ParseFloat(period, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0
	}
	return int(math.Ceil(q / p))
}
