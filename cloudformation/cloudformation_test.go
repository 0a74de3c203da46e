package cloudformation

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	goformation "github.com/awslabs/goformation/v7"
	"gopkg.in/yaml.v3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
)

// The patterns the rest of imgbatch relies on, as the issue states them.
const (
	runRequestedPattern = `{"source": ["imgbatch"], "detail-type": ["Run Requested"]}`
	runFinishedPattern  = `{"source": ["imgbatch"], "detail-type": ["Run Completed", "Run Failed"]}`
)

func TestTemplateParses(t *testing.T) {
	if _, err := parse(Template()); err != nil {
		t.Fatal(err)
	}
	// Why parse() overrides Ref: goformation's own Ref returns a CommaDelimitedList
	// default as one string, which cannot fill ComputeResources.InstanceTypes, and
	// resolves Refs to resources to nothing.
	if _, err := goformation.ParseYAML(Template()); err == nil {
		t.Log("note: plain goformation.ParseYAML parses the template too now")
	}
}

func TestTemplateIsValid(t *testing.T) {
	for _, e := range checkAll(Template()) {
		t.Error(e)
	}
}

func TestTemplateReturnsACopy(t *testing.T) {
	a := Template()
	a[0] = '#'
	if bytes.Equal(a, Template()) {
		t.Fatal("Template() shares its backing array")
	}
}

// TestValidatorCatchesBrokenTemplates copies the template, breaks one thing, and
// proves the checks now fail, naming what was broken.
func TestValidatorCatchesBrokenTemplates(t *testing.T) {
	cases := []struct {
		name, old, new, want string
	}{
		{"Ref to a resource", "!Ref JobQueue\n", "!Ref JobQueuee\n", `"JobQueuee"`},
		{"Ref to a parameter", "Size: !Ref ArrayWidth", "Size: !Ref ArrayWidht", `"ArrayWidht"`},
		{"Ref to a resource inside a condition", `!Equals [!Ref ComputeType, FARGATE]`, `!Equals [!Ref JobQueue, FARGATE]`, "inside a condition"},
		{"${X} inside Sub", `:${ImageTag}"`, `:${ImageTagg}"`, `"ImageTagg"`},
		{"${X} inside a multi-line Sub", "${EcrKeepImages}}", "${EcrKeepImage}}", `"EcrKeepImage"`},
		{"${X.Y} inside Sub", "${SourceBucket.Arn}/*", "${SourceBuckett.Arn}/*", `"SourceBuckett"`},
		{"${X.Y} attribute inside Sub", "${Repository.RepositoryUri}", "${Repository.Uri}", `"Uri"`},
		{"unused Sub variable", `"s3://${Bucket}/${ScheduleSourcePrefix}"`, `"s3://source/${ScheduleSourcePrefix}"`, `"Bucket" is never used`},
		{"GetAtt X.Y", "!GetAtt JobRole.Arn", "!GetAtt JobRol.Arn", `"JobRol"`},
		{"GetAtt attribute", "!GetAtt EventsRole.Arn", "!GetAtt EventsRole.Arm", `"Arm"`},
		{"GetAtt on a parameter", "!GetAtt EventBus.Arn", "!GetAtt EventBusName.Arn", "GetAtt on parameter"},
		{"If condition", "!If [UseFargate,", "!If [UseFargat,", `"UseFargat"`},
		{"resource Condition", "Condition: CreateWorkBucket\n", "Condition: CreateWorkBuckett\n", `"CreateWorkBuckett"`},
		{"unknown tag", "!GetAtt JobRole.Arn", "!GetAttr JobRole.Arn", "unknown tag !GetAttr"},
		{"resource type off the allow-list", "Type: AWS::SQS::Queue\n", "Type: AWS::Lambda::Function\n", "not on the allow-list"},
		{"unknown resource type", "Type: AWS::SQS::Queue\n", "Type: AWS::SQS::Queu\n", "unknown to goformation"},
		{"unknown property", "SqsManagedSseEnabled: true", "SqsManagedEncryption: true", `"SqsManagedEncryption"`},
		{"property with the wrong case", "SqsManagedSseEnabled: true", "SqsManagedSSEEnabled: true", `"SqsManagedSSEEnabled"`},
		{"nested unknown property", "MaximumEventAgeInSeconds: 3600\n          DeadLetterConfig", "MaxEventAgeInSeconds: 3600\n          DeadLetterConfig", `"MaxEventAgeInSeconds"`},
		{"property inside If branch", "{ AssignPublicIp: !Ref AssignPublicIp }", "{ AssignPublicIP: !Ref AssignPublicIp }", `"AssignPublicIP"`},
		{"wildcard action", "Action: events:PutEvents", "Action: events:*", `wildcard action "events:*"`},
		{"star action", "Action: events:PutEvents", `Action: "*"`, `wildcard action "*"`},
		{"Resource star", "Resource: !GetAtt EventBus.Arn", `Resource: "*"`, `Resource "*" for "events:PutEvents"`},
		{"managed policy", "policy/service-role/AmazonEC2ContainerServiceforEC2Role", "policy/AdministratorAccess", "AdministratorAccess"},
		{"named role", "Description: imgbatch jobs", "RoleName: imgbatch-job\n      Description: imgbatch jobs", "CAPABILITY_NAMED_IAM"},
		{"resource attribute", "DeletionPolicy: Retain\n    UpdateReplacePolicy: Retain\n    Properties:\n      BucketEncryption", "DeletionPolicy: Retain\n    UpdatePolicy: {}\n    Properties:\n      BucketEncryption", `"UpdatePolicy"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := string(Template())
			if !strings.Contains(src, tc.old) {
				t.Fatalf("template no longer contains %q: update the test", tc.old)
			}
			broken := strings.Replace(src, tc.old, tc.new, 1)
			errs := checkAll([]byte(broken))
			if len(errs) == 0 {
				t.Fatalf("checks pass after replacing %q with %q", tc.old, tc.new)
			}
			all := strings.Join(errs, "\n")
			if !strings.Contains(all, tc.want) {
				t.Fatalf("no error mentions %s; got:\n%s", tc.want, all)
			}
		})
	}
}

// TestGoformationRejectsUnknownProperties records what goformation's typed parse does
// by itself: it rejects unknown property names at any depth, but matches names
// without regard to case (encoding/json), which is why checkProperties exists.
func TestGoformationRejectsUnknownProperties(t *testing.T) {
	src := string(Template())
	for _, m := range [][2]string{
		{"AttemptDurationSeconds: 3600", "AttemptDurationSecs: 3600"},
		{`OnExitCode: "75"`, `OnExitCodes: "75"`},
	} {
		if _, err := parse([]byte(strings.Replace(src, m[0], m[1], 1))); err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%s: goformation accepted it (err %v)", m[1], err)
		}
	}
	if _, err := parse([]byte(strings.Replace(src, "SqsManagedSseEnabled", "SqsManagedSSEEnabled", 1))); err != nil {
		t.Logf("goformation now rejects a wrong-case property name too: %v", err)
	}
}

func mustRules(t *testing.T) map[string]Rule {
	t.Helper()
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Rule{}
	for _, r := range rules {
		out[r.LogicalID] = r
	}
	return out
}

func mustJobDefinitions(t *testing.T) map[string]JobDefinition {
	t.Helper()
	jds, err := JobDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	return jds
}

func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%q: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

func TestRulesPatterns(t *testing.T) {
	rules := mustRules(t)
	if len(rules) != 3 {
		t.Errorf("want 3 rules (2 on the imgbatch bus, DeadArrayRule on the default bus), got %d", len(rules))
	}
	for id, want := range map[string]string{"RunRequestedRule": runRequestedPattern, "RunFinishedRule": runFinishedPattern} {
		r, ok := rules[id]
		if !ok {
			t.Fatalf("no rule %s", id)
		}
		if !sameJSON(t, r.Pattern, want) {
			t.Errorf("%s pattern = %s, want %s", id, r.Pattern, want)
		}
		// Pattern is canonical JSON: compact, keys sorted.
		var v any
		_ = json.Unmarshal([]byte(want), &v)
		canon, _ := json.Marshal(v)
		if r.Pattern != string(canon) {
			t.Errorf("%s pattern text = %s, want canonical %s", id, r.Pattern, canon)
		}
		if r.EventBus != "EventBus" || r.EventBusName != ParameterDefaults()["EventBusName"] || r.EventBusName != "imgbatch" {
			t.Errorf("%s is on bus %q (%q), want EventBus (imgbatch)", id, r.EventBus, r.EventBusName)
		}
		if r.State != "ENABLED" {
			t.Errorf("%s state %q", id, r.State)
		}
		if len(r.Targets) != 1 {
			t.Fatalf("%s has %d targets", id, len(r.Targets))
		}
		tg := r.Targets[0]
		if tg.DeadLetter != "DeadLetterQueue" || tg.RetryAttempts == 0 || tg.MaxEventAgeSeconds == 0 {
			t.Errorf("%s target lacks a RetryPolicy or DeadLetterConfig: %+v", id, tg)
		}
	}
	if n := rules["RunRequestedRule"].Name; n != LocalStackName+"-run-requested" {
		t.Errorf("RunRequestedRule name %q", n)
	}
	if tg := rules["RunFinishedRule"].Targets[0]; tg.Kind != "sns" || tg.Arn != "NotificationTopic" {
		t.Errorf("RunFinishedRule target = %+v, want the SNS topic", tg)
	}
}

func TestRunRequestedBatchTarget(t *testing.T) {
	tg := mustRules(t)["RunRequestedRule"].Targets[0]
	if tg.ID != "BatchArray" || tg.Kind != "batch" || tg.Arn != "JobQueue" || tg.RoleArn != "EventsRole" {
		t.Errorf("target = %+v", tg)
	}
	if want := map[string]string{"runId": "$.detail.runId"}; !reflect.DeepEqual(tg.InputPathsMap, want) {
		t.Errorf("InputPathsMap = %v, want %v", tg.InputPathsMap, want)
	}
	if want := `{"Parameters": {"runId": <runId>}}`; tg.InputTemplate != want {
		t.Errorf("InputTemplate = %s, want %s", tg.InputTemplate, want)
	}
	width, err := strconv.Atoi(ParameterDefaults()["ArrayWidth"])
	if err != nil || width != 10 {
		t.Fatalf("ArrayWidth default %q (%v), want 10", ParameterDefaults()["ArrayWidth"], err)
	}
	if tg.ArraySize != width {
		t.Errorf("ArraySize = %d, want ArrayWidth default %d", tg.ArraySize, width)
	}
	jd, ok := mustJobDefinitions(t)[tg.JobDefinition]
	if !ok {
		t.Fatalf("target job definition %q is not a job definition of the template", tg.JobDefinition)
	}
	if !contains(jd.Command, "Ref::runId") {
		t.Errorf("job definition %s command %q lacks Ref::runId", jd.LogicalID, jd.Command)
	}
	if tg.JobAttempts != 3 || jd.Attempts != 3 {
		t.Errorf("attempts: target %d, job definition %d, want 3", tg.JobAttempts, jd.Attempts)
	}
	if jd.Platform != "EC2" {
		t.Errorf("default ComputeType should run the EC2 job definition, got %s", jd.Platform)
	}

	// What EventBridge hands Batch once <runId> is filled in (a string value is
	// inserted as a JSON string) must be the SubmitJob override {"Parameters": {...}}.
	body := strings.ReplaceAll(tg.InputTemplate, "<runId>", strconv.Quote("2026-11-23T02-00-00Z-ab12"))
	var got struct{ Parameters map[string]string }
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("transformed input %s: %v", body, err)
	}
	for k := range got.Parameters {
		if _, ok := jd.DefaultParameters[k]; !ok {
			t.Errorf("transformer sets parameter %q that job definition %s does not declare", k, jd.LogicalID)
		}
	}
}

// TestRunRequestedTargetKeepsJobRetryStrategy: BatchParameters.RetryStrategy can only
// carry Attempts and replaces the job definition's retry strategy, EvaluateOnExit
// included, so the target must not set it.
func TestRunRequestedTargetKeepsJobRetryStrategy(t *testing.T) {
	d, err := loadDoc(Template())
	if err != nil {
		t.Fatal(err)
	}
	targets := lookup(lookup(d.resources["RunRequestedRule"], "Properties"), "Targets")
	for _, tg := range targets.Content {
		if bp := lookup(tg, "BatchParameters"); bp != nil && lookup(bp, "RetryStrategy") != nil {
			t.Error("RunRequestedRule sets BatchParameters.RetryStrategy")
		}
	}
}

func TestFargateComputeTypeRoutesToFargate(t *testing.T) {
	p, err := parseWith(Template(), map[string]any{"ComputeType": "FARGATE"})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := p.rules()
	if err != nil {
		t.Fatal(err)
	}
	jds, _ := p.jobDefinitions()
	for _, r := range rules {
		if r.LogicalID != "RunRequestedRule" {
			continue
		}
		tg := r.Targets[0]
		if tg.Arn != "FargateJobQueue" || jds[tg.JobDefinition].Platform != "FARGATE" {
			t.Errorf("ComputeType=FARGATE: target %s / %s (%s)", tg.Arn, tg.JobDefinition, jds[tg.JobDefinition].Platform)
		}
		return
	}
	t.Fatal("no RunRequestedRule")
}

func TestJobDefinitions(t *testing.T) {
	jds := mustJobDefinitions(t)
	defaults := ParameterDefaults()
	wantCmd := map[string][]string{
		"WorkerJobDefinition":        {"work", "--run-id", "Ref::runId"},
		"WorkerFargateJobDefinition": {"work", "--run-id", "Ref::runId"},
		"PlannerJobDefinition": {"plan", "--from-schedule", "--scheduled-time", "Ref::scheduledTime", "--source", "Ref::source",
			"--recipe", "Ref::recipe", "--output-bucket", "Ref::outputBucket", "--output-prefix", "Ref::outputPrefix", "--max-cost", "Ref::maxCost"},
		"ReaperJobDefinition": {"reap", "--run", "Ref::runId", "--job-id", "Ref::jobId", "--reason", "workers-failed"},
	}
	if len(jds) != len(wantCmd) {
		t.Errorf("%d job definitions, want %d", len(jds), len(wantCmd))
	}
	for id, cmd := range wantCmd {
		jd, ok := jds[id]
		if !ok {
			t.Errorf("no job definition %s", id)
			continue
		}
		if !reflect.DeepEqual(jd.Command, cmd) {
			t.Errorf("%s command %q, want %q", id, jd.Command, cmd)
		}
		for _, arg := range jd.Command {
			if name, ok := strings.CutPrefix(arg, "Ref::"); ok {
				if _, ok := jd.DefaultParameters[name]; !ok {
					t.Errorf("%s: Ref::%s has no default parameter", id, name)
				}
			}
		}
		for k, v := range map[string]string{
			"IMGBATCH_WORK_BUCKET":  "WorkBucket",
			"IMGBATCH_EVENT_BUS":    "EventBus",
			"IMGBATCH_EVENT_SOURCE": "imgbatch",
			"IMGBATCH_LOG_FORMAT":   "json",
			"MALLOC_ARENA_MAX":      "2",
		} {
			if jd.Environment[k] != v {
				t.Errorf("%s env %s = %q, want %q", id, k, jd.Environment[k], v)
			}
		}
		if jd.Attempts != 3 {
			t.Errorf("%s attempts %d", id, jd.Attempts)
		}
		wantRetry := []EvaluateOnExit{
			{Action: "RETRY", OnStatusReason: "Host EC2*"},
			{Action: "RETRY", OnStatusReason: "Your Spot Task was interrupted*"},
			{Action: "RETRY", OnExitCode: "75"},
			{Action: "RETRY", OnStatusReason: "Task failed to start*"},
			{Action: "EXIT", OnReason: "*"},
		}
		if !reflect.DeepEqual(jd.RetryOn, wantRetry) {
			t.Errorf("%s EvaluateOnExit = %+v", id, jd.RetryOn)
		}
		if jd.TimeoutSeconds < 60 {
			t.Errorf("%s timeout %d", id, jd.TimeoutSeconds)
		}
		if jd.Vcpus <= 0 || jd.MemoryMiB <= 0 {
			t.Errorf("%s resources %v vCPU / %d MiB", id, jd.Vcpus, jd.MemoryMiB)
		}
	}
	w := jds["WorkerJobDefinition"]
	if w.DefaultParameters["runId"] != "none" {
		t.Errorf("worker runId default %q", w.DefaultParameters["runId"])
	}
	if strconv.FormatFloat(w.Vcpus, 'f', -1, 64) != defaults["JobVcpus"] || strconv.Itoa(w.MemoryMiB) != defaults["Ec2JobMemoryMiB"] {
		t.Errorf("EC2 worker %v vCPU / %d MiB, want JobVcpus / Ec2JobMemoryMiB defaults", w.Vcpus, w.MemoryMiB)
	}
	f := jds["WorkerFargateJobDefinition"]
	if f.Vcpus != 2 || f.MemoryMiB != 4096 || f.Platform != "FARGATE" {
		t.Errorf("Fargate worker %v vCPU / %d MiB on %s", f.Vcpus, f.MemoryMiB, f.Platform)
	}
	if !fargateSizeOK(f.Vcpus, f.MemoryMiB) {
		t.Errorf("Fargate worker %v vCPU / %d MiB is not a Fargate size", f.Vcpus, f.MemoryMiB)
	}
	if p := jds["PlannerJobDefinition"]; !fargateSizeOK(p.Vcpus, p.MemoryMiB) {
		t.Errorf("planner %v vCPU / %d MiB is not a Fargate size", p.Vcpus, p.MemoryMiB)
	}
	// The raw template: awslogs to our log group on every job definition.
	d, _ := loadDoc(Template())
	for id := range wantCmd {
		lc := lookup(lookup(lookup(d.resources[id], "Properties"), "ContainerProperties"), "LogConfiguration")
		if lookup(lc, "LogDriver").Value != "awslogs" || lookup(lookup(lc, "Options"), "awslogs-group").Value != "LogGroup" {
			t.Errorf("%s does not log to LogGroup with awslogs", id)
		}
	}
}

// fargateSizeOK reports whether vCPU/memory is a Fargate task size.
func fargateSizeOK(vcpu float64, mem int) bool {
	switch vcpu {
	case 0.25:
		return mem == 512 || mem == 1024 || mem == 2048
	case 0.5:
		return mem >= 1024 && mem <= 4096 && mem%1024 == 0
	case 1:
		return mem >= 2048 && mem <= 8192 && mem%1024 == 0
	case 2:
		return mem >= 4096 && mem <= 16384 && mem%1024 == 0
	case 4:
		return mem >= 8192 && mem <= 30720 && mem%1024 == 0
	case 8:
		return mem >= 16384 && mem <= 61440 && mem%4096 == 0
	case 16:
		return mem >= 32768 && mem <= 122880 && mem%8192 == 0
	}
	return false
}

func TestPlannerSchedule(t *testing.T) {
	scheds, err := Schedules()
	if err != nil {
		t.Fatal(err)
	}
	if len(scheds) != 1 {
		t.Fatalf("%d schedules", len(scheds))
	}
	s := scheds[0]
	d := ParameterDefaults()
	if s.Expression != d["ScheduleExpression"] || s.Expression != "cron(0 2 * * ? *)" || s.Timezone != "UTC" || s.State != d["ScheduleEnabled"] {
		t.Errorf("schedule %+v", s)
	}
	if s.TargetArn != "arn:aws:scheduler:::aws-sdk:batch:submitJob" {
		t.Errorf("target %s", s.TargetArn)
	}
	if s.DeadLetter != "DeadLetterQueue" || s.RetryAttempts == 0 || s.MaxEventAgeSec == 0 {
		t.Errorf("schedule lacks retries or a DLQ: %+v", s)
	}
	var in struct {
		JobName, JobQueue, JobDefinition string
		Parameters                       map[string]string
	}
	dec := json.NewDecoder(strings.NewReader(s.Input))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("schedule input %s: %v", s.Input, err)
	}
	if in.JobQueue != "FargateJobQueue" || in.JobDefinition != "PlannerJobDefinition" || in.JobName == "" {
		t.Errorf("schedule input %+v", in)
	}
	if in.Parameters["scheduledTime"] != "<aws.scheduler.scheduled-time>" {
		t.Errorf("scheduledTime = %q, want the Scheduler context attribute", in.Parameters["scheduledTime"])
	}
	jd := mustJobDefinitions(t)[in.JobDefinition]
	if jd.Platform != "FARGATE" {
		t.Errorf("planner runs on %s but is submitted to the Fargate queue", jd.Platform)
	}
	if in.Parameters["source"] != jd.DefaultParameters["source"] {
		t.Errorf("schedule source %q, job definition default %q", in.Parameters["source"], jd.DefaultParameters["source"])
	}
	for _, arg := range jd.Command {
		if name, ok := strings.CutPrefix(arg, "Ref::"); ok {
			if _, ok := in.Parameters[name]; !ok {
				t.Errorf("schedule does not set Ref::%s", name)
			}
		}
	}
	raw, _ := loadDoc(Template())
	ftw := lookup(lookup(raw.resources[s.LogicalID], "Properties"), "FlexibleTimeWindow")
	if lookup(ftw, "Mode").Value != "FLEXIBLE" || lookup(ftw, "MaximumWindowInMinutes") == nil {
		t.Error("schedule has no flexible time window")
	}
}

func TestParameterDefaults(t *testing.T) {
	d := ParameterDefaults()
	for k, v := range map[string]string{
		"ArrayWidth": "10", "JobVcpus": "2", "JobMemoryMiB": "4096", "EventBusName": "imgbatch",
		"ScheduleExpression": "cron(0 2 * * ? *)", "ScheduleTimezone": "UTC",
		"SourceBucketName": "", "OutputBucketName": "", "WorkBucketName": "", "NotificationEmail": "",
	} {
		got, ok := d[k]
		if !ok || got != v {
			t.Errorf("default %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	if !strings.Contains(d["SpotInstanceTypes"], "c6i") || !strings.Contains(d["SpotInstanceTypes"], "m6i") {
		t.Errorf("SpotInstanceTypes %q", d["SpotInstanceTypes"])
	}
	for _, k := range []string{"SubnetIds", "SecurityGroupIds"} {
		if _, ok := d[k]; ok {
			t.Errorf("%s must have no default (it is account specific)", k)
		}
	}
}

// TestEveryParameterIsUsed: a parameter nothing refers to is a setting that does nothing.
func TestEveryParameterIsUsed(t *testing.T) {
	src := string(Template())
	d, _ := loadDoc(Template())
	for name := range d.params {
		re := regexp.MustCompile(`(!Ref ` + name + `\b|\$\{` + name + `\})`)
		if !re.MatchString(src) {
			t.Errorf("parameter %s is never referenced", name)
		}
	}
}

func TestOutputs(t *testing.T) {
	d, _ := loadDoc(Template())
	outs := mappingOf(lookup(d.root, "Outputs"))
	for _, k := range []string{
		"SourceBucketName", "OutputBucketName", "WorkBucketName", "JobQueueArn",
		"WorkerJobDefinitionArn", "WorkerFargateJobDefinitionArn", "PlannerJobDefinitionArn", "ReaperJobDefinitionArn",
		"EventBusName", "EventBusArn", "NotificationTopicArn", "RepositoryUri",
	} {
		if _, ok := outs[k]; !ok {
			t.Errorf("no output %s", k)
		}
	}
}

// TestJobQueuesDoNotMixPlatforms: Batch refuses a queue with both EC2 and Fargate
// compute environments, and a job definition must match its queue's platform.
func TestJobQueuesDoNotMixPlatforms(t *testing.T) {
	d, _ := loadDoc(Template())
	platform := map[string]string{}
	for id, r := range d.resources {
		if d.types[id] != "AWS::Batch::ComputeEnvironment" {
			continue
		}
		switch typ := lookup(lookup(lookup(r, "Properties"), "ComputeResources"), "Type").Value; typ {
		case "EC2", "SPOT":
			platform[id] = "EC2"
		case "FARGATE", "FARGATE_SPOT":
			platform[id] = "FARGATE"
		default:
			t.Errorf("%s: compute resources type %q", id, typ)
		}
	}
	queuePlatform := map[string]string{}
	for id, r := range d.resources {
		if d.types[id] != "AWS::Batch::JobQueue" {
			continue
		}
		order := lookup(lookup(r, "Properties"), "ComputeEnvironmentOrder")
		for _, o := range order.Content {
			ce := lookup(o, "ComputeEnvironment").Value
			if queuePlatform[id] != "" && queuePlatform[id] != platform[ce] {
				t.Errorf("job queue %s mixes platforms", id)
			}
			queuePlatform[id] = platform[ce]
		}
	}
	if queuePlatform["JobQueue"] != "EC2" || queuePlatform["FargateJobQueue"] != "FARGATE" {
		t.Errorf("queue platforms %v", queuePlatform)
	}
	spot := lookup(lookup(d.resources["SpotComputeEnvironment"], "Properties"), "ComputeResources")
	if lookup(spot, "AllocationStrategy").Value != "SPOT_PRICE_CAPACITY_OPTIMIZED" {
		t.Error("Spot compute environment does not use SPOT_PRICE_CAPACITY_OPTIMIZED")
	}
	// Every (queue, job definition) pair the template submits must match platforms.
	jds := mustJobDefinitions(t)
	for _, ct := range []string{"EC2", "FARGATE"} {
		p, err := parseWith(Template(), map[string]any{"ComputeType": ct})
		if err != nil {
			t.Fatal(err)
		}
		rules, _ := p.rules()
		for _, r := range rules {
			for _, tg := range r.Targets {
				if tg.Kind == "batch" && queuePlatform[tg.Arn] != jds[tg.JobDefinition].Platform {
					t.Errorf("ComputeType=%s: %s submits %s (%s) to %s (%s)", ct, r.LogicalID,
						tg.JobDefinition, jds[tg.JobDefinition].Platform, tg.Arn, queuePlatform[tg.Arn])
				}
			}
		}
	}
}

func TestBuckets(t *testing.T) {
	d, _ := loadDoc(Template())
	for _, b := range []string{"SourceBucket", "OutputBucket", "WorkBucket"} {
		r := d.resources[b]
		props := lookup(r, "Properties")
		if lookup(r, "Condition").Value != "Create"+b || lookup(r, "DeletionPolicy").Value != "Retain" {
			t.Errorf("%s: must be conditional (Create%s) and retained", b, b)
		}
		if lookup(props, "BucketEncryption") == nil {
			t.Errorf("%s: no default encryption", b)
		}
		pab := lookup(props, "PublicAccessBlockConfiguration")
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if v := lookup(pab, k); v == nil || v.Value != "true" {
				t.Errorf("%s: %s not true", b, k)
			}
		}
		pol := d.resources[b+"Policy"]
		if pol == nil || !strings.Contains(nodeText(pol), "aws:SecureTransport") {
			t.Errorf("%s: no TLS-only bucket policy", b)
		}
	}
	rules := lookup(lookup(lookup(d.resources["WorkBucket"], "Properties"), "LifecycleConfiguration"), "Rules")
	found := false
	for _, r := range rules.Content {
		if v := lookup(r, "Prefix"); v != nil && v.Value == imgbatch.RunsPrefix && lookup(r, "ExpirationInDays").Value == "RunsExpirationDays" {
			found = true
		}
	}
	if !found {
		t.Error("work bucket has no lifecycle rule expiring runs/ after RunsExpirationDays")
	}
}

func nodeText(n *yaml.Node) string {
	b, _ := yaml.Marshal(n)
	return string(b)
}

// TestJobRolePermissions pins the job role to the actions the design needs.
func TestJobRolePermissions(t *testing.T) {
	d, _ := loadDoc(Template())
	docs := d.policyDocuments()
	want := map[string][]string{
		"ReadSources":   {"s3:GetObject", "s3:GetObjectVersion"},
		"ListSources":   {"s3:ListBucket"},
		"WriteVariants": {"s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"},
		"ListVariants":  {"s3:ListBucket"},
		"RunState":      {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"},
		"ListRunState":  {"s3:ListBucket"},
		"EmitEvents":    {"events:PutEvents"},
	}
	got := map[string][]string{}
	for _, st := range lookup(docs["Resources.JobRole.Policies[0]"], "Statement").Content {
		got[lookup(st, "Sid").Value] = scalars(lookup(st, "Action"))
		if sid := lookup(st, "Sid").Value; sid == "RunState" && !strings.Contains(nodeText(st), "/"+imgbatch.RunsPrefix+"*") {
			t.Error("RunState is not limited to runs/*")
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("job role statements %v, want %v", got, want)
	}
}

// TestCfnLint runs cfn-lint (AWS's CloudFormation linter, with its resource
// specifications) when it is installed.
func TestCfnLint(t *testing.T) {
	testutil.Long(t, "cfn-lint: a few seconds, ~20 s on its first run")
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		// Not in Debian 12's apt and pip is not reachable from CI: an extra
		// linter where a developer has it; validate_test.go's own checks
		// of the template (types, references, IAM, intrinsics) always run.
		t.Skip("cfn-lint not installed (optional: not in Debian 12's apt)")
	}
	out, err := exec.Command(bin, "-t", "imgbatch.yaml", "--include-checks", "I").CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint: %v\n%s", err, out)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
