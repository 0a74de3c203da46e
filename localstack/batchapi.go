package localstack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/imgbatch/imgbatch/cloudformation"
)

// batchAPI serves the part of the AWS Batch REST-JSON API that imgbatch
// calls (SubmitJob, DescribeJobs), so `submit --via batch` runs the real SDK
// client against the local array runner. Job definitions are the
// template's own.
type batchAPI struct {
	stack *Stack
	defs  map[string]cloudformation.JobDefinition
}

type submitJobInput struct {
	JobName         string            `json:"jobName"`
	JobQueue        string            `json:"jobQueue"`
	JobDefinition   string            `json:"jobDefinition"`
	Parameters      map[string]string `json:"parameters"`
	ArrayProperties *struct {
		Size int `json:"size"`
	} `json:"arrayProperties"`
	RetryStrategy *struct {
		Attempts int `json:"attempts"`
	} `json:"retryStrategy"`
	ContainerOverrides *struct {
		Environment []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"environment"`
	} `json:"containerOverrides"`
}

func (b *batchAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/submitjob":
		b.submitJob(w, r)
	case "/v1/describejobs":
		b.describeJobs(w, r)
	default:
		batchError(w, http.StatusBadRequest, "ClientException", "operation "+r.URL.Path+" is not served by the local Batch stand-in")
	}
}

// findDef resolves a job definition given as a logical id, a name
// (<stack>-worker), name:revision or an ARN.
func (b *batchAPI) findDef(ref string) (cloudformation.JobDefinition, bool) {
	name := ref
	if i := strings.LastIndex(name, "job-definition/"); i >= 0 {
		name = name[i+len("job-definition/"):]
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		name = name[:i]
	}
	if d, ok := b.defs[name]; ok {
		return d, true
	}
	for id, d := range b.defs {
		short := strings.ToLower(strings.TrimSuffix(id, "JobDefinition"))
		n := strings.ToLower(name)
		if n == short || strings.HasSuffix(n, "-"+short) {
			return d, true
		}
	}
	return cloudformation.JobDefinition{}, false
}

func (b *batchAPI) submitJob(w http.ResponseWriter, r *http.Request) {
	var in submitJobInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		batchError(w, http.StatusBadRequest, "ClientException", "malformed SubmitJob body: "+err.Error())
		return
	}
	if in.JobName == "" || in.JobQueue == "" || in.JobDefinition == "" {
		batchError(w, http.StatusBadRequest, "ClientException", "jobName, jobQueue and jobDefinition are required")
		return
	}
	def, ok := b.findDef(in.JobDefinition)
	if !ok {
		batchError(w, http.StatusBadRequest, "ClientException", fmt.Sprintf("job definition %q is not in the template", in.JobDefinition))
		return
	}
	size := 1
	if in.ArrayProperties != nil && in.ArrayProperties.Size > 0 {
		size = in.ArrayProperties.Size
		if size < 2 || size > 10000 {
			batchError(w, http.StatusBadRequest, "ClientException", "array size must be between 2 and 10000")
			return
		}
	}
	params := map[string]string{}
	for k, v := range in.Parameters {
		params[k] = v
	}
	spec, err := jobSpec(def, params, size)
	if err != nil {
		batchError(w, http.StatusBadRequest, "ClientException", err.Error())
		return
	}
	spec.Name = in.JobName
	spec.Array = in.ArrayProperties != nil && in.ArrayProperties.Size > 0
	if in.RetryStrategy != nil && in.RetryStrategy.Attempts > 0 {
		spec.Attempts = in.RetryStrategy.Attempts
	}
	if in.ContainerOverrides != nil {
		for _, e := range in.ContainerOverrides.Environment {
			spec.Env[e.Name] = e.Value
		}
	}
	job, err := b.stack.Runner.Submit(b.stack.ctx, spec)
	if err != nil {
		batchError(w, http.StatusInternalServerError, "ServerException", err.Error())
		return
	}
	writeJSON(w, map[string]string{
		"jobArn":  "arn:aws:batch:us-east-1:000000000000:job/" + job.ID,
		"jobId":   job.ID,
		"jobName": in.JobName,
	})
}

func (b *batchAPI) describeJobs(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Jobs []string `json:"jobs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		batchError(w, http.StatusBadRequest, "ClientException", "malformed DescribeJobs body: "+err.Error())
		return
	}
	want := map[string]bool{}
	for _, id := range in.Jobs {
		want[id] = true
	}
	type detail struct {
		JobID   string `json:"jobId"`
		JobName string `json:"jobName"`
		Status  string `json:"status"`
	}
	var out []detail
	for _, j := range b.stack.Runner.Jobs() {
		if !want[j.ID] {
			continue
		}
		status := "RUNNING"
		select {
		case <-j.Done():
			status = "SUCCEEDED"
			for _, c := range j.Children() {
				if c.ExitCode != 0 {
					status = "FAILED"
				}
			}
		default:
		}
		out = append(out, detail{JobID: j.ID, JobName: j.Spec.Name, Status: status})
	}
	writeJSON(w, map[string]any{"jobs": out})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func batchError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
