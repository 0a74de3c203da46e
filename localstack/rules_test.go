package localstack

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/cloudformation"
	"github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/localstack/eventbus"
	"github.com/imgbatch/imgbatch/localstack/eventbus/bustest"
)

// TestTemplateRulesMatchImgbatchEvents sends every event imgbatch emits
// (with the production publisher and SDK client) and a few it does not, on
// a bus routing with the template's own rules, and checks which rule sees
// which: Run Requested → the Batch target (with its transformed input),
// Run Completed / Run Failed → the notification target, nothing else.
func TestTemplateRulesMatchImgbatchEvents(t *testing.T) {
	rules, err := cloudformation.Rules()
	if err != nil {
		t.Fatal(err)
	}
	bus := eventbus.New(eventbus.Config{})
	var mu sync.Mutex
	got := map[string][]string{} // rule → inputs
	for _, r := range rules {
		lr := eventbus.Rule{Name: r.LogicalID, EventBus: "imgbatch", Pattern: r.Pattern}
		for _, tg := range r.Targets {
			rule := r.LogicalID
			lr.Targets = append(lr.Targets, eventbus.Target{ID: tg.ID, InputPathsMap: tg.InputPathsMap, InputTemplate: tg.InputTemplate,
				Invoke: func(_ context.Context, input []byte) error {
					mu.Lock()
					got[rule] = append(got[rule], string(input))
					mu.Unlock()
					return nil
				}})
		}
		if err := bus.AddRule(lr); err != nil {
			t.Fatalf("rule %s: %v", r.LogicalID, err)
		}
	}
	client, _ := bustest.Serve(t, bus, bus, 0)
	pub := eventbridge.NewPublisher(client, "imgbatch", "imgbatch")
	run := imgbatch.Run{ID: "r-42", WorkBucket: "work", CreatedAt: time.Now()}
	ctx := context.Background()
	lay := imgbatch.Layout{RunID: run.ID}
	evs := []eventbridge.Event{
		eventbridge.NewRunRequested(run),
		eventbridge.ShardCompleted{RunID: run.ID, Shard: 3, ResultsURI: eventbridge.S3URI("work", lay.Results(3, 1))},
		eventbridge.RunCompleted{RunID: run.ID, ReportURI: eventbridge.S3URI("work", lay.Report()), SummaryURI: eventbridge.S3URI("work", lay.Summary())},
		eventbridge.RunFailed{RunID: run.ID, Reason: "too many failures"},
	}
	if err := pub.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	// Same detail types from another source, and ours on another bus: no rule may fire.
	if err := eventbridge.NewPublisher(client, "imgbatch", "someone.else").Publish(ctx, eventbridge.NewRunRequested(run)); err != nil {
		t.Fatal(err)
	}
	if err := eventbridge.NewPublisher(client, "default", "imgbatch").Publish(ctx, eventbridge.NewRunRequested(run)); err != nil {
		t.Fatal(err)
	}
	bus.Close() // waits for deliveries

	req := got["RunRequestedRule"]
	if len(req) != 1 {
		t.Fatalf("RunRequestedRule fired %d times, want 1: %q", len(req), req)
	}
	var in struct {
		Parameters map[string]string `json:"Parameters"`
	}
	if err := json.Unmarshal([]byte(req[0]), &in); err != nil || in.Parameters["runId"] != "r-42" {
		t.Errorf("Batch target input %s: want Parameters.runId = r-42 (%v)", req[0], err)
	}
	fin := got["RunFinishedRule"]
	if len(fin) != 2 {
		t.Fatalf("RunFinishedRule fired %d times, want 2 (Run Completed, Run Failed): %q", len(fin), fin)
	}
	for rule, inputs := range got {
		if rule != "RunRequestedRule" && rule != "RunFinishedRule" && len(inputs) > 0 {
			t.Errorf("rule %s fired on imgbatch events: %q", rule, inputs)
		}
	}
}
