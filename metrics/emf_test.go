package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestEmitIsValidEMF checks the line against the EMF specification's
// required structure: _aws.Timestamp, CloudWatchMetrics[].Namespace,
// Dimensions (arrays of names present as top-level strings) and Metrics
// (names present as top-level numbers).
func TestEmitIsValidEMF(t *testing.T) {
	var buf bytes.Buffer
	w := &Writer{W: &buf, Dimensions: map[string]string{"JobQueue": "q"}, Now: func() time.Time { return time.UnixMilli(1700000000000) }}
	if err := w.Emit([]Metric{{"ImagesSucceeded", Count, 9}, {"ShardDuration", Milliseconds, 1234}}, map[string]any{"runId": "r-1", "shard": 3}); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not JSON: %v: %s", err, buf.String())
	}
	aws := line["_aws"].(map[string]any)
	if aws["Timestamp"].(float64) != 1700000000000 {
		t.Errorf("timestamp %v", aws["Timestamp"])
	}
	cwm := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if cwm["Namespace"] != "imgbatch" {
		t.Errorf("namespace %v", cwm["Namespace"])
	}
	for _, set := range cwm["Dimensions"].([]any) {
		for _, d := range set.([]any) {
			if _, ok := line[d.(string)].(string); !ok {
				t.Errorf("dimension %v has no top-level string value", d)
			}
		}
	}
	for _, m := range cwm["Metrics"].([]any) {
		name := m.(map[string]any)["Name"].(string)
		if _, ok := line[name].(float64); !ok {
			t.Errorf("metric %s has no top-level number", name)
		}
	}
	if line["runId"] != "r-1" || line["ImagesSucceeded"].(float64) != 9 {
		t.Errorf("line %v", line)
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Error("an EMF record must be exactly one line")
	}
}
