package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/imgbatch/imgbatch/batch"
)

// checkSummaryRequests checks the request accounting of a real run (the
// children are imgbatch work processes with the counter on their S3
// client): summary.json counts a source GET per good image and a PUT per
// output (two variants), control requests to the work bucket, and
// controlPerItem is the control requests over the items.
func checkSummaryRequests(t *testing.T, path string, good, items int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sum batch.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	q := sum.Requests
	if q == nil {
		t.Fatalf("summary.json has no requests:\n%s", b)
	}
	t.Logf("summary.json: requests %+v, controlPerItem %.3f", *q, sum.ControlPerItem)
	if q.Data.GET < int64(good) || q.Data.PUT < int64(2*good) {
		t.Errorf("data requests %+v: want at least %d GETs and %d PUTs", q.Data, good, 2*good)
	}
	if q.Control.PUT == 0 || q.Control.GET == 0 {
		t.Errorf("control requests %+v: want the claims, results and done markers", q.Control)
	}
	if want := float64(q.Control.Total()) / float64(items); sum.ControlPerItem != want {
		t.Errorf("controlPerItem %.4f, want %.4f", sum.ControlPerItem, want)
	}
}
