package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	"github.com/imgbatch/imgbatch/internal/s3count"
	"github.com/imgbatch/imgbatch/metrics"
)

// TestMetricsRequests: the EMF lines of a shard and of a run carry the S3
// requests the done marker and final.json counted.
func TestMetricsRequests(t *testing.T) {
	var buf bytes.Buffer
	m := metricsNotifier{next: noNotifier{}, emf: &metrics.Writer{W: &buf}}
	run := &imgbatch.Run{ID: "r1"}
	q := &s3count.Requests{Control: s3count.Counts{GET: 2, PUT: 4}, Data: s3count.Counts{GET: 200, PUT: 400, HEAD: 200}}
	ctx := context.Background()
	if err := m.ShardCompleted(ctx, run, batch.DoneMarker{Shard: 3, Requests: q, Counts: imgbatch.Counts{Items: 200}}); err != nil {
		t.Fatal(err)
	}
	if err := m.RunFinished(ctx, run, batch.Final{Requests: q, ControlPerItem: 0.03, Counts: imgbatch.Counts{Items: 200}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d EMF lines, want 2:\n%s", len(lines), buf.String())
	}
	var shard, fin map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &shard); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &fin); err != nil {
		t.Fatal(err)
	}
	if shard["ControlRequests"] != 6.0 || shard["DataRequests"] != 800.0 {
		t.Errorf("shard line: ControlRequests %v, DataRequests %v; want 6, 800", shard["ControlRequests"], shard["DataRequests"])
	}
	if fin["RunControlRequests"] != 6.0 || fin["RunDataRequests"] != 800.0 || fin["ControlRequestsPerItem"] != 0.03 {
		t.Errorf("run line: %v", lines[1])
	}
	req, _ := fin["requests"].(map[string]any)
	if ctl, _ := req["control"].(map[string]any); ctl["PUT"] != 4.0 {
		t.Errorf("run line: requests %v, want control PUT 4", fin["requests"])
	}
}
