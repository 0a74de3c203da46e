package localstack

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/cloudformation"
	"github.com/imgbatch/imgbatch/localstack/eventbus"
)

// TestArrayJobStateChangeMatchesDeadArrayRule: the runner sends one
// "Batch Job State Change" per ended job, on the default bus, shaped like
// AWS Batch's (parent of an array: arrayProperties.size and statusSummary,
// no index); the template's DeadArrayRule fires for a FAILED worker parent
// only — not for a SUCCEEDED one, not for a failed planner, not for an
// array child's event, not for the same event on the imgbatch bus.
func TestArrayJobStateChangeMatchesDeadArrayRule(t *testing.T) {
	rules, err := cloudformation.Rules()
	if err != nil {
		t.Fatal(err)
	}
	bus := eventbus.New(eventbus.Config{})
	var mu sync.Mutex
	fired := map[string][]string{}
	for _, r := range rules {
		if r.LogicalID != "DeadArrayRule" {
			continue
		}
		lr := eventbus.Rule{Name: r.Name, Pattern: r.Pattern}
		for _, tg := range r.Targets {
			id := tg.ID
			lr.Targets = append(lr.Targets, eventbus.Target{ID: id, InputPathsMap: tg.InputPathsMap, InputTemplate: tg.InputTemplate,
				Invoke: func(_ context.Context, in []byte) error {
					mu.Lock()
					fired[id] = append(fired[id], string(in))
					mu.Unlock()
					return nil
				}})
		}
		if err := bus.AddRule(lr); err != nil {
			t.Fatal(err)
		}
	}
	r := &ArrayRunner{Exe: "/bin/sh", QueueName: "q", Events: bus}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	submit := func(def, script string, size int) *ArrayJob {
		j, err := r.Submit(ctx, JobSpec{Name: "imgbatch-work", Definition: def, Command: []string{"-c", script}, Size: size, Array: size > 1,
			Parameters: map[string]string{"runId": "r-" + def}})
		if err != nil {
			t.Fatal(err)
		}
		_ = j.Wait(ctx)
		<-j.Done()
		return j
	}
	dead := submit("imgbatch-worker-ec2", `test "$AWS_BATCH_JOB_ARRAY_INDEX" = 0 && exit 0; exit 1`, 3)
	submit("imgbatch-worker-fargate", "exit 0", 2)
	submit("imgbatch-planner", "exit 1", 1)
	evs := bus.Events()
	// An array child's own event (AWS sends those too) must not match.
	child := map[string]any{"jobId": dead.ID + ":1", "status": "FAILED", "jobDefinition": "arn:aws:batch:us-east-1:000000000000:job-definition/imgbatch-worker-ec2:1",
		"parameters": map[string]string{"runId": "r-x"}, "arrayProperties": map[string]any{"index": 1}}
	b, _ := json.Marshal(child)
	if _, err := bus.Put(eventbus.Entry{Source: BatchEventSource, DetailType: BatchJobStateChange, Detail: string(b)}); err != nil {
		t.Fatal(err)
	}
	// The parent's event on the imgbatch bus must not match either.
	if _, err := bus.Put(eventbus.Entry{Source: BatchEventSource, DetailType: BatchJobStateChange, Detail: string(evs[0].Detail), EventBusName: "imgbatch"}); err != nil {
		t.Fatal(err)
	}
	bus.Close()

	if len(evs) != 3 {
		t.Fatalf("%d job state changes, want 3 (one per job)", len(evs))
	}
	var d struct {
		JobArn, JobName, JobID, JobQueue, Status, StatusReason, JobDefinition string
		Parameters                                                            map[string]string
		Attempts                                                              []any
		ArrayProperties                                                       *struct {
			Size          int
			Index         *int
			StatusSummary map[string]int
		}
	}
	if err := json.Unmarshal(evs[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if evs[0].EventBus != "default" || evs[0].Source != "aws.batch" || len(evs[0].Resources) != 1 || evs[0].Resources[0] != d.JobArn {
		t.Errorf("envelope %+v", evs[0])
	}
	if d.JobID != dead.ID || d.Status != "FAILED" || d.StatusReason == "" || d.JobName != "imgbatch-work" || d.Parameters["runId"] != "r-imgbatch-worker-ec2" ||
		d.JobQueue != "arn:aws:batch:us-east-1:000000000000:job-queue/q" || d.ArrayProperties == nil || d.ArrayProperties.Size != 3 ||
		d.ArrayProperties.Index != nil || d.ArrayProperties.StatusSummary["FAILED"] != 2 || d.ArrayProperties.StatusSummary["SUCCEEDED"] != 1 {
		t.Errorf("parent's detail %s", evs[0].Detail)
	}
	if len(fired["Notify"]) != 1 || len(fired["Reap"]) != 1 {
		t.Fatalf("DeadArrayRule fired %v, want once per target (the failed worker parent only)", fired)
	}
	var in struct{ Parameters map[string]string }
	if err := json.Unmarshal([]byte(fired["Reap"][0]), &in); err != nil || in.Parameters["runId"] != "r-imgbatch-worker-ec2" || in.Parameters["jobId"] != dead.ID {
		t.Errorf("reaper input %s (%v)", fired["Reap"][0], err)
	}
}
