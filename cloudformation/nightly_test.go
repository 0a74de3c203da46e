package cloudformation

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/iam"

	"github.com/imgbatch/imgbatch"
)

// plannerCommand is the planner job's command line as the schedule starts
// it with the template's parameters set to params: the schedule's input
// Parameters fill the job definition's Ref:: placeholders, as Batch does.
func plannerCommand(t *testing.T, params map[string]any) (flags map[string]string, p *parsed) {
	t.Helper()
	p, err := parseWith(Template(), params)
	if err != nil {
		t.Fatal(err)
	}
	scheds, err := p.schedules()
	if err != nil || len(scheds) != 1 {
		t.Fatalf("schedules %v, %v", scheds, err)
	}
	var in struct {
		JobDefinition string
		Parameters    map[string]string
	}
	if err := json.Unmarshal([]byte(scheds[0].Input), &in); err != nil {
		t.Fatalf("schedule input %s: %v", scheds[0].Input, err)
	}
	jds, err := p.jobDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	jd := jds[in.JobDefinition]
	flags = map[string]string{}
	for i := 0; i+1 < len(jd.Command); i++ {
		flag, ok := strings.CutPrefix(jd.Command[i], "--")
		if !ok {
			continue
		}
		v := jd.Command[i+1]
		if name, ok := strings.CutPrefix(v, "Ref::"); ok {
			got, set := in.Parameters[name]
			if !set {
				t.Fatalf("the schedule does not set %s", v)
			}
			if def := jd.DefaultParameters[name]; name != "scheduledTime" && def != got {
				t.Errorf("Ref::%s: the schedule sends %q, the job definition's default is %q", name, got, def)
			}
			v = got
		} else if strings.HasPrefix(v, "--") {
			v = "true"
		}
		flags[flag] = v
	}
	return flags, p
}

// TestNightlyParametersReachTheCommandLine: the nightly recipe, output
// prefix, source (a prefix of the source bucket, or an S3 Inventory
// destination in another bucket) and cost limit reach the planner's flags.
func TestNightlyParametersReachTheCommandLine(t *testing.T) {
	for _, c := range []struct {
		name   string
		params map[string]any
		want   map[string]string
	}{
		{"defaults", nil, map[string]string{
			"source": "s3://SourceBucket/", "recipe": "none", "output-bucket": "OutputBucket", "output-prefix": "/", "max-cost": "0",
			"scheduled-time": "<aws.scheduler.scheduled-time>", "from-schedule": "true",
		}},
		{"set", map[string]any{
			"SourceBucketName": "photos", "OutputBucketName": "thumbs",
			"ScheduleSourceBucket": "inventories", "ScheduleSourcePrefix": "inv/photos/daily/",
			"ScheduleRecipe": "s3://config/recipes/nightly.yaml", "ScheduleOutputPrefix": "nightly", "ScheduleMaxCost": "25.5",
		}, map[string]string{
			"source": "s3://inventories/inv/photos/daily/", "recipe": "s3://config/recipes/nightly.yaml",
			"output-bucket": "thumbs", "output-prefix": "/nightly", "max-cost": "25.5",
		}},
		{"prefix of the source bucket", map[string]any{"SourceBucketName": "photos", "ScheduleSourcePrefix": "uploads/"},
			map[string]string{"source": "s3://photos/uploads/", "recipe": "none"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			flags, _ := plannerCommand(t, c.params)
			for k, v := range c.want {
				if flags[k] != v {
					t.Errorf("--%s = %q, want %q (command flags %v)", k, flags[k], v, flags)
				}
			}
		})
	}
}

// TestNightlyPlannerMayReadItsRecipeAndSource: the job role may read the
// nightly recipe object (exactly it) and the inventory prefix of another
// bucket, through policies that exist only when those parameters are set.
func TestNightlyPlannerMayReadItsRecipeAndSource(t *testing.T) {
	d, _ := loadDoc(Template())
	for id, cond := range map[string]string{"PlannerRecipePolicy": "HasScheduleRecipe", "PlannerSourcePolicy": "HasScheduleSourceBucket"} {
		if got := lookup(d.resources[id], "Condition"); got == nil || got.Value != cond {
			t.Errorf("%s is not conditional on %s", id, cond)
		}
		if roles := nodeText(lookup(lookup(d.resources[id], "Properties"), "Roles")); !strings.Contains(roles, "JobRole") {
			t.Errorf("%s is not attached to JobRole: %s", id, roles)
		}
	}
	_, p := plannerCommand(t, map[string]any{"ScheduleRecipe": "s3://config/recipes/nightly.yaml",
		"ScheduleSourceBucket": "inventories", "ScheduleSourcePrefix": "inv/photos/daily/"})
	for id, want := range map[string][]string{
		"PlannerRecipePolicy": {`"Action":"s3:GetObject"`, `"Resource":"arn:aws:s3:::config/recipes/nightly.yaml"`},
		"PlannerSourcePolicy": {`"Resource":"arn:aws:s3:::inventories/inv/photos/daily/*"`, `"Resource":"arn:aws:s3:::inventories"`, `"s3:prefix":"inv/photos/daily/*"`},
	} {
		pol, ok := p.tpl.Resources[id].(*iam.Policy)
		if !ok {
			t.Fatalf("%s is %T", id, p.tpl.Resources[id])
		}
		b, _ := json.Marshal(pol.PolicyDocument)
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s policy %s lacks %s", id, b, w)
			}
		}
	}
}

// TestNightlyOutputKey: the nightly runs' output key template reaches the
// planner (IMGBATCH_OUTPUT_KEY, read by plan --from-schedule like
// --output-key): the collision-free default, or the legacy layout an
// upgraded stack sets to keep its keys.
func TestNightlyOutputKey(t *testing.T) {
	for _, c := range []struct {
		params map[string]any
		want   string
	}{
		{nil, imgbatch.DefaultOutputKey},
		{map[string]any{"ScheduleOutputKey": imgbatch.LegacyOutputKey}, imgbatch.LegacyOutputKey},
	} {
		p, err := parseWith(Template(), c.params)
		if err != nil {
			t.Fatal(err)
		}
		jds, err := p.jobDefinitions()
		if err != nil {
			t.Fatal(err)
		}
		if got := jds["PlannerJobDefinition"].Environment["IMGBATCH_OUTPUT_KEY"]; got != c.want {
			t.Errorf("params %v: planner IMGBATCH_OUTPUT_KEY = %q, want %q", c.params, got, c.want)
		}
	}
}
