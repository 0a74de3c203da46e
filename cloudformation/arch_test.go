package cloudformation

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/batch"
)

// graviton matches a Graviton instance family or type (c7g, m7gd, c6gn.large,
// r8g.xlarge): the generation digit followed by a "g" attribute.
var graviton = regexp.MustCompile(`^[a-z]+[0-9]+g[a-z]*(\.[0-9a-z]+)?$`)

// TestArchitectureParameter: the template takes the architecture as a
// parameter, x86_64 by default. Each value gives resources of one
// architecture: both EC2 compute environments draw from that architecture's
// instance list (Batch refuses a compute environment that mixes them), and
// every Fargate job definition (worker, planner, reaper) asks Fargate for
// that CPU. The stack resolved with each value must also still parse and
// hold every job definition.
func TestArchitectureParameter(t *testing.T) {
	d, _ := loadDoc(Template())
	prm := d.params["Architecture"]
	if prm == nil || lookup(prm, "Default").Value != "x86_64" {
		t.Fatalf("Architecture parameter missing or not x86_64 by default")
	}
	var allowed []string
	for _, v := range lookup(prm, "AllowedValues").Content {
		allowed = append(allowed, v.Value)
	}
	if !slices.Equal(allowed, []string{"x86_64", "arm64"}) {
		t.Errorf("Architecture AllowedValues %v, want [x86_64 arm64]", allowed)
	}
	defaults := ParameterDefaults()
	for _, c := range []struct {
		params   map[string]any
		cpu      string
		types    string // the parameter whose list the compute environments use
		graviton bool
	}{
		{nil, "X86_64", "SpotInstanceTypes", false},
		{map[string]any{"Architecture": "x86_64"}, "X86_64", "SpotInstanceTypes", false},
		{map[string]any{"Architecture": "arm64"}, "ARM64", "Arm64InstanceTypes", true},
		{map[string]any{"Architecture": "arm64", "ComputeType": "FARGATE"}, "ARM64", "Arm64InstanceTypes", true},
	} {
		p, err := parseWith(Template(), c.params)
		if err != nil {
			t.Fatalf("%v: %v", c.params, err)
		}
		want := strings.Split(defaults[c.types], ",")
		for _, id := range []string{"SpotComputeEnvironment", "OnDemandComputeEnvironment"} {
			ce, ok := p.tpl.Resources[id].(*batch.ComputeEnvironment)
			if !ok || ce.ComputeResources == nil {
				t.Fatalf("%v: no %s", c.params, id)
			}
			got := ce.ComputeResources.InstanceTypes
			if !slices.Equal(got, want) {
				t.Errorf("%v: %s instance types %v, want %s %v", c.params, id, got, c.types, want)
			}
			for _, typ := range got {
				if graviton.MatchString(typ) != c.graviton {
					t.Errorf("%v: %s has %s (Graviton: %v), want Graviton: %v", c.params, id, typ, !c.graviton, c.graviton)
				}
			}
		}
		checkFargateCPU(t, p, c.params, c.cpu)
	}
}

// checkFargateCPU: every Fargate job definition runs on cpu, and there are
// the three the template has (worker, planner, reaper).
func checkFargateCPU(t *testing.T, p *parsed, params map[string]any, cpu string) {
	t.Helper()
	jds, err := p.jobDefinitions()
	if err != nil {
		t.Fatalf("%v: %v", params, err)
	}
	n := 0
	for id, jd := range jds {
		if jd.Platform != "FARGATE" {
			continue
		}
		n++
		bj := p.tpl.Resources[id].(*batch.JobDefinition)
		rp := bj.ContainerProperties.RuntimePlatform
		if rp == nil || deref(rp.CpuArchitecture) != cpu || deref(rp.OperatingSystemFamily) != "LINUX" {
			t.Errorf("%v: %s RuntimePlatform %+v, want CpuArchitecture %s on LINUX", params, id, rp, cpu)
		}
	}
	if n != 3 {
		t.Errorf("%v: %d Fargate job definitions, want 3 (worker, planner, reaper)", params, n)
	}
}

// TestInstanceTypeListsKeepToTheirArchitecture: the default lists are what
// they say, so a stack switched to arm64 gets no x86_64 type and the other
// way round.
func TestInstanceTypeListsKeepToTheirArchitecture(t *testing.T) {
	defaults := ParameterDefaults()
	for _, typ := range strings.Split(defaults["Arm64InstanceTypes"], ",") {
		if !graviton.MatchString(typ) {
			t.Errorf("Arm64InstanceTypes has %q, not a Graviton family", typ)
		}
	}
	for _, typ := range strings.Split(defaults["SpotInstanceTypes"], ",") {
		if graviton.MatchString(typ) {
			t.Errorf("SpotInstanceTypes (x86_64) has the Graviton family %q", typ)
		}
	}
	for _, typ := range []string{"c7g", "m7gd", "c6gn.large", "r8g.xlarge"} {
		if !graviton.MatchString(typ) {
			t.Errorf("the Graviton pattern misses %s", typ)
		}
	}
}

// TestNightlyMaxCostJudgesTheWorkersMarket: the nightly planner's
// ScheduleMaxCost is compared with the total on the market the workers run
// on (IMGBATCH_MARKET, read by plan's --market), by ComputeType and
// Architecture.
func TestNightlyMaxCostJudgesTheWorkersMarket(t *testing.T) {
	for _, c := range []struct {
		compute, arch, want string
	}{
		{"EC2", "x86_64", "ec2Spot"},
		{"FARGATE", "x86_64", "fargateSpot"},
		{"EC2", "arm64", "ec2SpotArm64"},
		{"FARGATE", "arm64", "fargateSpotArm64"},
	} {
		p, err := parseWith(Template(), map[string]any{"ComputeType": c.compute, "Architecture": c.arch})
		if err != nil {
			t.Fatal(err)
		}
		jds, err := p.jobDefinitions()
		if err != nil {
			t.Fatal(err)
		}
		if got := jds["PlannerJobDefinition"].Environment["IMGBATCH_MARKET"]; got != c.want {
			t.Errorf("ComputeType=%s Architecture=%s: planner IMGBATCH_MARKET %q, want %q", c.compute, c.arch, got, c.want)
		}
	}
}
