package localstack

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/imgbatch/imgbatch/cloudformation"
)

// ScheduledTimeAttr is the EventBridge Scheduler context attribute the
// template's schedule input carries; Scheduler replaces it with the
// firing's scheduled time.
const ScheduledTimeAttr = "<aws.scheduler.scheduled-time>"

// FireSchedule stands in for EventBridge Scheduler firing the template's
// schedule at time at: like the universal batch:submitJob target, it reads
// the schedule's input (JobDefinition, Parameters), puts the scheduled time
// in, and submits the job through the local Batch runner. params override
// the input's parameters (e.g. "source", which the template resolves to
// its own bucket).
func (s *Stack) FireSchedule(logicalID string, at time.Time, params map[string]string) (*ArrayJob, error) {
	schedules, err := cloudformation.Schedules()
	if err != nil {
		return nil, err
	}
	var sch *cloudformation.Schedule
	for i := range schedules {
		if logicalID == "" || schedules[i].LogicalID == logicalID {
			sch = &schedules[i]
			break
		}
	}
	if sch == nil {
		return nil, fmt.Errorf("the template has no schedule %q", logicalID)
	}
	if !strings.HasSuffix(sch.TargetArn, ":batch:submitJob") {
		return nil, fmt.Errorf("schedule %s targets %s: only batch:submitJob has a local stand-in", sch.LogicalID, sch.TargetArn)
	}
	input := strings.ReplaceAll(sch.Input, ScheduledTimeAttr, at.UTC().Format(time.RFC3339))
	var in struct {
		JobName       string            `json:"JobName"`
		JobDefinition string            `json:"JobDefinition"`
		Parameters    map[string]string `json:"Parameters"`
	}
	if err := json.Unmarshal([]byte(input), &in); err != nil {
		return nil, fmt.Errorf("schedule %s input %s: %w", sch.LogicalID, input, err)
	}
	defs, err := cloudformation.JobDefinitions()
	if err != nil {
		return nil, err
	}
	def, ok := (&batchAPI{defs: defs}).findDef(in.JobDefinition)
	if !ok {
		return nil, fmt.Errorf("schedule %s: job definition %q is not in the template", sch.LogicalID, in.JobDefinition)
	}
	all := map[string]string{}
	for k, v := range in.Parameters {
		all[k] = v
	}
	for k, v := range params {
		all[k] = v
	}
	spec, err := jobSpec(def, all, 1)
	if err != nil {
		return nil, err
	}
	spec.Name = sch.LogicalID
	return s.Runner.Submit(s.ctx, spec)
}
