package cloudformation

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestDeadArrayRule: the rule that turns a FAILED worker array into an alarm
// and a reaper job is on the default bus (where Batch sends its state
// changes), matches the worker job definitions' FAILED parents only, and has
// the SNS topic and the reaper job as targets, each with a retry policy and
// the dead-letter queue.
func TestDeadArrayRule(t *testing.T) {
	r, ok := mustRules(t)["DeadArrayRule"]
	if !ok {
		t.Fatal("no DeadArrayRule")
	}
	if r.EventBus != "" || r.EventBusName != "" {
		t.Errorf("DeadArrayRule is on bus %q (%q), want the default bus", r.EventBus, r.EventBusName)
	}
	want := `{"source": ["aws.batch"], "detail-type": ["Batch Job State Change"], "detail": {
		"status": ["FAILED"],
		"jobDefinition": [{"prefix": "arn:aws:batch:us-east-1:000000000000:job-definition/imgbatch-worker-"}],
		"arrayProperties": {"index": [{"exists": false}]},
		"parameters": {"runId": [{"exists": true}]}}}`
	if !sameJSON(t, r.Pattern, want) {
		t.Errorf("pattern = %s, want %s", r.Pattern, want)
	}
	jds := mustJobDefinitions(t)
	for _, id := range []string{"WorkerJobDefinition", "WorkerFargateJobDefinition"} {
		if name := jds[id].Name; !strings.HasPrefix(name, LocalStackName+"-worker-") {
			t.Errorf("%s is named %q: the rule's jobDefinition prefix would not match it", id, name)
		}
	}
	for _, id := range []string{"PlannerJobDefinition", "ReaperJobDefinition"} {
		if name := jds[id].Name; strings.HasPrefix(name, LocalStackName+"-worker-") {
			t.Errorf("%s is named %q: its failures would reap runs", id, name)
		}
	}
	if len(r.Targets) != 2 {
		t.Fatalf("%d targets, want Notify and Reap", len(r.Targets))
	}
	byID := map[string]Target{}
	for _, tg := range r.Targets {
		byID[tg.ID] = tg
		if tg.DeadLetter != "DeadLetterQueue" || tg.RetryAttempts == 0 || tg.MaxEventAgeSeconds == 0 {
			t.Errorf("target %s lacks a RetryPolicy or DeadLetterConfig: %+v", tg.ID, tg)
		}
	}
	n := byID["Notify"]
	if n.Kind != "sns" || n.Arn != "NotificationTopic" || n.InputPathsMap["runId"] != "$.detail.parameters.runId" || n.InputPathsMap["jobId"] != "$.detail.jobId" {
		t.Errorf("Notify target = %+v, want the SNS topic with the run and the job named", n)
	}
	rp := byID["Reap"]
	if rp.Kind != "batch" || rp.Arn != "FargateJobQueue" || rp.RoleArn != "EventsRole" || rp.JobDefinition != "ReaperJobDefinition" ||
		rp.JobName != LocalStackName+"-reap" || rp.ArraySize != 0 {
		t.Errorf("Reap target = %+v, want a single ReaperJobDefinition job on FargateJobQueue", rp)
	}
	if jds["ReaperJobDefinition"].Platform != "FARGATE" {
		t.Error("the reaper runs on the Fargate queue: its job definition must be FARGATE")
	}
	body := strings.NewReplacer("<runId>", strconv.Quote("r-1"), "<jobId>", strconv.Quote("j-1")).Replace(rp.InputTemplate)
	var got struct{ Parameters map[string]string }
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("transformed input %s: %v", body, err)
	}
	if want := map[string]string{"runId": "r-1", "jobId": "j-1"}; !reflect.DeepEqual(got.Parameters, want) {
		t.Errorf("reaper parameters %v, want %v", got.Parameters, want)
	}
}

// TestDeadArrayRulePermissions: EventBridge may submit the reaper, publish
// to the topic and dead-letter for the new rule.
func TestDeadArrayRulePermissions(t *testing.T) {
	tpl := string(Template())
	for _, want := range []string{
		"- !Ref ReaperJobDefinition",                    // EventsRole SubmitReaper
		"!GetAtt DeadArrayRule.Arn]",                    // topic policy SourceArn
		"                  - !GetAtt DeadArrayRule.Arn", // DLQ policy SourceArn
	} {
		if !strings.Contains(tpl, want) {
			t.Errorf("template lacks %q", want)
		}
	}
}
