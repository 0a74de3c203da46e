package worker

import (
	"path/filepath"
	"testing"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

func TestParseCPUMax(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"max 100000\n", 0},          // v2, no limit
		{"200000 100000\n", 2},       // 2 vCPUs
		{"100000 100000", 1},         // 1 vCPU
		{"50000 100000\n", 1},        // 0.5 vCPU: round up, never 0
		{"150000 100000\n", 2},       // 1.5 vCPU
		{"400000 100000\n", 4},       // 4 vCPUs
		{"25000 50000\n", 1},         // other period
		{"", 0},                      // empty file
		{"max", 0},                   // malformed: one field
		{"100000 100000 extra", 0},   // malformed: three fields
		{"abc 100000", 0},            // not a number
		{"100000 0", 0},              // zero period
		{"-5 100000", 0},             // negative quota
		{"1e400 100000", 0},          // out of range
		{"100000000000 1000", 0},     // absurd: treated as no limit
		{"  300000   100000  \n", 3}, // extra blanks
	} {
		if got := parseCPUMax(c.in); got != c.want {
			t.Errorf("parseCPUMax(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestQuotaCPUsV1(t *testing.T) {
	for _, c := range []struct {
		quota, period string
		want          int
	}{
		{"-1", "100000", 0},     // v1, no limit
		{"200000", "100000", 2}, // 2 vCPUs
		{"102400", "100000", 2}, // a little over 1: round up
		{"1024", "1024", 1},     // ECS cpu shares-like numbers still divide
		{"", "100000", 0},       // unreadable
		{"100000", "", 0},
		{"0", "100000", 0}, // zero quota is no quota
	} {
		if got := quotaCPUs(c.quota, c.period); got != c.want {
			t.Errorf("quotaCPUs(%q, %q) = %d, want %d", c.quota, c.period, got, c.want)
		}
	}
}

func TestCgroupCPUsAt(t *testing.T) {
	for _, c := range []struct {
		name  string
		files map[string]string // path under the cgroup root → content
		self  string            // /proc/self/cgroup
		want  int
	}{
		{"v2 container root", map[string]string{"cpu.max": "200000 100000\n"}, "0::/\n", 2},
		{"v2 nested: smallest quota on the path wins", map[string]string{
			"cpu.max":                    "max 100000\n",
			"ecs/task/cpu.max":           "400000 100000\n",
			"ecs/task/container/cpu.max": "150000 100000\n",
		}, "0::/ecs/task/container\n", 2},
		{"v2 no limit", map[string]string{"cpu.max": "max 100000\n"}, "0::/\n", 0},
		{"v1 cpu,cpuacct mount", map[string]string{
			"cpu,cpuacct/docker/abc/cpu.cfs_quota_us":  "100000\n",
			"cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
		}, "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n", 1},
		{"v1 container root, no limit", map[string]string{
			"cpu/cpu.cfs_quota_us":  "-1\n",
			"cpu/cpu.cfs_period_us": "100000\n",
		}, "1:cpu:/\n", 0},
		{"nothing mounted", nil, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for path, content := range c.files {
				testutil.WriteFile(t, filepath.Join(root, filepath.FromSlash(path)), []byte(content))
			}
			if got := cgroupCPUsAt(root, c.self); got != c.want {
				t.Fatalf("got %d, want %d", got, c.want)
			}
		})
	}
}

func TestUsableCPUsIsPositive(t *testing.T) {
	if n := UsableCPUs(); n < 1 {
		t.Fatalf("UsableCPUs() = %d", n)
	}
}
