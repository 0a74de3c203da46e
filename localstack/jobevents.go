package localstack

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/imgbatch/imgbatch/localstack/eventbus"
)

// Batch's own events, as AWS Batch sends them to EventBridge's default bus
// ("Job state change events", AWS Batch user guide): the detail resembles
// DescribeJobs' JobDetail. The runner sends one when a job ends for good —
// for an array job, the parent's (FAILED when any child's last attempt
// failed, SUCCEEDED otherwise), which is what the template's DeadArrayRule
// matches; children carry arrayProperties.index and are not sent.
const (
	BatchEventSource     = "aws.batch"
	BatchJobStateChange  = "Batch Job State Change"
	batchArnPrefix       = "arn:aws:batch:" + eventbus.DefaultRegion + ":" + eventbus.DefaultAccount + ":"
	arrayChildFailed     = "Array Child Job failed"
	essentialContainerRC = "Essential container in task exited"
)

// EventPutter takes the runner's events (*eventbus.Bus does).
type EventPutter interface {
	Put(entries ...eventbus.Entry) ([]string, error)
}

// jobDetail is the detail of a "Batch Job State Change" event.
type jobDetail struct {
	JobArn          string            `json:"jobArn"`
	JobName         string            `json:"jobName"`
	JobID           string            `json:"jobId"`
	JobQueue        string            `json:"jobQueue"`
	Status          string            `json:"status"`
	StatusReason    string            `json:"statusReason,omitempty"`
	Attempts        []jobAttempt      `json:"attempts"`
	CreatedAt       int64             `json:"createdAt"`
	StartedAt       int64             `json:"startedAt,omitempty"`
	StoppedAt       int64             `json:"stoppedAt"`
	RetryStrategy   retryStrategy     `json:"retryStrategy"`
	DependsOn       []any             `json:"dependsOn"`
	JobDefinition   string            `json:"jobDefinition"`
	Parameters      map[string]string `json:"parameters"`
	Container       jobContainer      `json:"container"`
	ArrayProperties *arrayProperties  `json:"arrayProperties,omitempty"`
	Tags            map[string]string `json:"tags"`
	PropagateTags   bool              `json:"propagateTags"`
	Platform        []string          `json:"platformCapabilities"`
}

type jobAttempt struct {
	Container struct {
		ExitCode int    `json:"exitCode"`
		Reason   string `json:"reason,omitempty"`
	} `json:"container"`
	StartedAt    int64  `json:"startedAt"`
	StoppedAt    int64  `json:"stoppedAt"`
	StatusReason string `json:"statusReason"`
}

type retryStrategy struct {
	Attempts       int   `json:"attempts"`
	EvaluateOnExit []any `json:"evaluateOnExit"`
}

type jobContainer struct {
	Image       string   `json:"image"`
	Command     []string `json:"command"`
	Environment []any    `json:"environment"`
	ExitCode    *int     `json:"exitCode,omitempty"`
}

type arrayProperties struct {
	StatusSummary map[string]int `json:"statusSummary"`
	Size          int            `json:"size"`
}

// stateChange is the event of a job that ended: the parent's for an array.
func (r *ArrayRunner) stateChange(j *ArrayJob) eventbus.Entry {
	children := j.Children()
	failed := 0
	for _, c := range children {
		if c.ExitCode != 0 || c.Err != "" {
			failed++
		}
	}
	arn := batchArnPrefix + "job/" + j.ID
	def := j.Spec.Definition
	if def == "" {
		def = j.Spec.Name
	}
	d := jobDetail{
		JobArn: arn, JobName: j.Spec.Name, JobID: j.ID, JobQueue: batchArnPrefix + "job-queue/" + r.QueueName,
		Status: "SUCCEEDED", Attempts: []jobAttempt{}, CreatedAt: j.created.UnixMilli(), StartedAt: j.created.UnixMilli(),
		StoppedAt: time.Now().UnixMilli(), RetryStrategy: retryStrategy{Attempts: j.Spec.Attempts, EvaluateOnExit: []any{}},
		DependsOn: []any{}, JobDefinition: batchArnPrefix + "job-definition/" + def + ":1", Parameters: j.Spec.Parameters,
		Container: jobContainer{Image: r.Exe, Command: j.Spec.Command, Environment: []any{}},
		Tags:      map[string]string{}, Platform: []string{"EC2"},
	}
	if d.Parameters == nil {
		d.Parameters = map[string]string{}
	}
	if failed > 0 {
		d.Status = "FAILED"
	}
	if j.Spec.Size > 1 || j.Spec.Array {
		d.ArrayProperties = &arrayProperties{Size: j.Spec.Size,
			StatusSummary: map[string]int{"SUBMITTED": 0, "PENDING": 0, "RUNNABLE": 0, "STARTING": 0, "RUNNING": 0,
				"SUCCEEDED": len(children) - failed, "FAILED": failed}}
		if failed > 0 {
			d.StatusReason = arrayChildFailed
		}
	} else if len(children) == 1 {
		c := children[0]
		code := c.ExitCode
		d.Container.ExitCode = &code
		a := jobAttempt{StartedAt: d.StartedAt, StoppedAt: d.StoppedAt, StatusReason: essentialContainerRC}
		a.Container.ExitCode = code
		a.Container.Reason = c.Err
		d.Attempts = append(d.Attempts, a)
		d.StatusReason = essentialContainerRC
	}
	detail, _ := json.Marshal(d)
	return eventbus.Entry{Source: BatchEventSource, DetailType: BatchJobStateChange, Detail: string(detail),
		EventBusName: eventbus.DefaultBus, Resources: []string{arn}}
}

// jobEnded sends the job's state change, if the runner has a bus.
func (r *ArrayRunner) jobEnded(j *ArrayJob) {
	if r.Events == nil {
		return
	}
	e := r.stateChange(j)
	if _, err := r.Events.Put(e); err != nil {
		r.logger().Warn("batch job state change not sent", "jobId", j.ID, "err", err)
		return
	}
	var d struct{ Status string }
	_ = json.Unmarshal([]byte(e.Detail), &d)
	r.logger().Debug("batch job state change", "jobId", j.ID, "job", j.Spec.Name, "status", d.Status, "size", strconv.Itoa(j.Spec.Size))
}
