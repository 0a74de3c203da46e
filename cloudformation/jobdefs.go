package cloudformation

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation/batch"
)

// EvaluateOnExit is one entry of a job definition's retry strategy. Patterns are
// Batch globs: exact text, optionally ending with '*'.
type EvaluateOnExit struct {
	Action                               string // RETRY or EXIT
	OnExitCode, OnReason, OnStatusReason string
}

// JobDefinition is an AWS::Batch::JobDefinition of the template.
type JobDefinition struct {
	LogicalID string
	// Name is the JobDefinitionName as resolved locally (for example "imgbatch-worker-ec2").
	Name string
	// Platform is EC2 or FARGATE.
	Platform string
	// Image is the container image as resolved locally (a logical id may stand in for
	// the repository URI).
	Image string
	// Command is the container command, with Batch's Ref::name placeholders kept.
	Command []string
	// Environment is the container environment. Values that name a resource of the
	// stack hold its logical id (for example IMGBATCH_WORK_BUCKET = "WorkBucket").
	Environment map[string]string
	Vcpus       float64
	MemoryMiB   int
	// Attempts is RetryStrategy.Attempts (1 when unset); RetryOn its EvaluateOnExit.
	Attempts int
	RetryOn  []EvaluateOnExit
	// TimeoutSeconds is Timeout.AttemptDurationSeconds (0 = none).
	TimeoutSeconds int
	// DefaultParameters are the job definition's Parameters: the values Batch puts in
	// for Ref::name when the submitted job does not set them.
	DefaultParameters map[string]string
}

// JobDefinitions returns the template's Batch job definitions by logical id.
func JobDefinitions() (map[string]JobDefinition, error) {
	return fromTemplate((*parsed).jobDefinitions)
}

func (p *parsed) jobDefinitions() (map[string]JobDefinition, error) {
	out := map[string]JobDefinition{}
	for id, res := range p.tpl.Resources {
		bj, ok := res.(*batch.JobDefinition)
		if !ok {
			continue
		}
		jd, err := jobDefinition(id, bj)
		if err != nil {
			return nil, err
		}
		out[id] = jd
	}
	return out, nil
}

func jobDefinition(id string, bj *batch.JobDefinition) (JobDefinition, error) {
	jd := JobDefinition{
		LogicalID:         id,
		Name:              deref(bj.JobDefinitionName),
		Platform:          "EC2",
		Environment:       map[string]string{},
		DefaultParameters: map[string]string{},
		Attempts:          1,
	}
	if len(bj.PlatformCapabilities) > 0 {
		jd.Platform = bj.PlatformCapabilities[0]
	}
	if params, ok := bj.Parameters.(map[string]any); ok {
		for k, v := range params {
			jd.DefaultParameters[k] = text(v)
		}
	}
	if rs := bj.RetryStrategy; rs != nil {
		if rs.Attempts != nil {
			jd.Attempts = *rs.Attempts
		}
		for _, e := range rs.EvaluateOnExit {
			jd.RetryOn = append(jd.RetryOn, EvaluateOnExit{
				Action:         strings.ToUpper(e.Action),
				OnExitCode:     deref(e.OnExitCode),
				OnReason:       deref(e.OnReason),
				OnStatusReason: deref(e.OnStatusReason),
			})
		}
	}
	if bj.Timeout != nil {
		jd.TimeoutSeconds = derefInt(bj.Timeout.AttemptDurationSeconds)
	}
	if cp := bj.ContainerProperties; cp != nil {
		if err := jd.container(cp); err != nil {
			return JobDefinition{}, fmt.Errorf("cloudformation: job definition %s: %w", id, err)
		}
	}
	return jd, nil
}

// container reads the container properties: image, command, environment
// and resources (ResourceRequirements over the older Vcpus and Memory).
func (jd *JobDefinition) container(cp *batch.JobDefinition_ContainerProperties) error {
	jd.Image = cp.Image
	jd.Command = append([]string(nil), cp.Command...)
	for _, e := range cp.Environment {
		jd.Environment[deref(e.Name)] = deref(e.Value)
	}
	if cp.Vcpus != nil {
		jd.Vcpus = float64(*cp.Vcpus)
	}
	if cp.Memory != nil {
		jd.MemoryMiB = *cp.Memory
	}
	for _, rr := range cp.ResourceRequirements {
		v := deref(rr.Value)
		switch deref(rr.Type) {
		case "VCPU":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("VCPU %q: %w", v, err)
			}
			jd.Vcpus = f
		case "MEMORY":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("MEMORY %q: %w", v, err)
			}
			jd.MemoryMiB = n
		}
	}
	return nil
}
