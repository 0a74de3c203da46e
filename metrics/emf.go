// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines:
// JSON log lines that CloudWatch Logs turns into metrics with no agent and
// no PutMetricData calls, so dashboards work from the job's log stream.
package metrics

import (
	"encoding/json"
	"io"
	"sort"
	"sync"
	"time"
)

// Unit is a CloudWatch unit.
type Unit string

// Units used by imgbatch.
const (
	Count        Unit = "Count"
	Bytes        Unit = "Bytes"
	Milliseconds Unit = "Milliseconds"
	PerSecond    Unit = "Count/Second"
)

// Metric is one value.
type Metric struct {
	Name  string
	Unit  Unit
	Value float64
}

// Writer emits EMF lines to W (a job's stdout: Batch sends it to CloudWatch Logs).
type Writer struct {
	W          io.Writer
	Namespace  string            // default "imgbatch"
	Dimensions map[string]string // low-cardinality dimensions, e.g. JobQueue
	Now        func() time.Time

	mu sync.Mutex
}

// Emit writes one EMF line with the metrics and extra properties (not
// dimensions: high-cardinality values like run id and shard belong here,
// where Logs Insights can still query them).
func (w *Writer) Emit(ms []Metric, props map[string]any) error {
	if w == nil || w.W == nil || len(ms) == 0 {
		return nil
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ns := w.Namespace
	if ns == "" {
		ns = "imgbatch"
	}
	dimNames := make([]string, 0, len(w.Dimensions))
	for k := range w.Dimensions {
		dimNames = append(dimNames, k)
	}
	sort.Strings(dimNames)
	type def struct {
		Name string `json:"Name"`
		Unit Unit   `json:"Unit"`
	}
	defs := make([]def, len(ms))
	line := map[string]any{}
	for k, v := range props {
		line[k] = v
	}
	for k, v := range w.Dimensions {
		line[k] = v
	}
	for i, m := range ms {
		defs[i] = def{m.Name, m.Unit}
		line[m.Name] = m.Value
	}
	dims := [][]string{dimNames}
	line["_aws"] = map[string]any{
		"Timestamp": now().UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  ns,
			"Dimensions": dims,
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.W.Write(append(b, '\n'))
	return err
}
