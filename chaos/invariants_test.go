package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
)

// reference is what a clean run of a dataset produced: the outcome of
// every item and the bytes of every output.
type reference struct {
	outcome map[string]string // key -> "succeeded" or "failed:<ErrorCode>"
	outputs map[string]string // output key -> sha256
}

var refs = struct {
	sync.Mutex
	m map[string]*reference
}{m: map[string]*reference{}}

// clean runs the dataset once with no disturbance (gofakes3 in memory,
// two children) and keeps the result as the reference of later runs.
func clean(t *testing.T, ds *dataset) *reference {
	t.Helper()
	refs.Lock()
	defer refs.Unlock()
	if r := refs.m[ds.name]; r != nil {
		return r
	}
	res := run(t, runSpec{backend: memS3, data: ds, width: 2})
	sum := check(t, res, nil)
	if sum.lost+sum.dup > 0 || t.Failed() {
		t.Fatalf("the clean run of %s broke the invariants", ds.name)
	}
	r := &reference{outcome: map[string]string{}, outputs: map[string]string{}}
	for k, row := range res.report {
		r.outcome[k] = outcome(row)
	}
	for k, o := range res.outputs {
		r.outputs[k] = o.sha
	}
	refs.m[ds.name] = r
	return r
}

// outcome is the comparable outcome of a report row: a skipped item
// (outputs already current, e.g. written by a killed attempt) is a success.
func outcome(row []string) string {
	if row[3] == "succeeded" {
		return "succeeded"
	}
	return "failed:" + row[4]
}

// checkSummary counts what check found.
type checkSummary struct {
	lost, dup, crashes int
	shardEventsMissing int
}

// check asserts the invariants of a finished run (and, given a reference,
// that it did what a clean run did):
//   - exactly one final event ("Run Completed", or "Run Failed" when the
//     spec expects it) naming the run;
//   - report.csv has one row per manifest item: none lost, none twice,
//     none that is not in the manifest; run.json and final.json agree;
//   - items fail with the codes the dataset pins, and have the same
//     outcome as in the reference;
//   - the output bucket holds exactly the outputs of the succeeded rows
//     (no orphan or partial object), byte-identical to the reference, each
//     with the source's ETag and the recipe hash in its metadata;
//   - no child crashed (any exit but 0 or 75 that the test did not cause),
//     and every array child ended with 0.
func check(t *testing.T, res *runResult, ref *reference) checkSummary {
	t.Helper()
	var sum checkSummary
	spec, ds := res.h.spec, res.h.spec.data

	// One final event.
	var finals []ebus.Envelope
	for _, e := range res.events {
		if e.DetailType == ebus.DetailTypeRunCompleted || e.DetailType == ebus.DetailTypeRunFailed {
			finals = append(finals, e)
		}
	}
	want := ebus.DetailTypeRunCompleted
	if spec.wantRunFailed {
		want = ebus.DetailTypeRunFailed
	}
	if len(finals) != 1 {
		var kinds []string
		for _, f := range finals {
			kinds = append(kinds, f.DetailType+" "+detailRunID(f))
		}
		t.Errorf("%d final events %v, want exactly one %s", len(finals), kinds, want)
	}
	for _, f := range finals {
		if f.DetailType != want || detailRunID(f) != res.runID {
			t.Errorf("final event %s of run %s, want %s of run %s", f.DetailType, detailRunID(f), want, res.runID)
		}
	}

	// One row per item.
	items := map[string]bool{}
	for _, k := range ds.items {
		items[k] = true
		if res.report[k] == nil {
			sum.lost++
			if sum.lost <= 5 {
				t.Errorf("item %q has no report row (lost)", k)
			}
		}
	}
	for k := range res.report {
		if !items[k] {
			t.Errorf("report row %q is not an item of the manifest", k)
		}
	}
	sum.dup = res.dupRows
	if res.rows != len(ds.items) || res.dupRows > 0 || sum.lost > 0 {
		t.Errorf("report.csv: %d rows (%d duplicated, %d items lost), want %d", res.rows, res.dupRows, sum.lost, len(ds.items))
	}
	if res.run.Items != int64(len(ds.items)) {
		t.Errorf("run.json: %d items, want %d", res.run.Items, len(ds.items))
	}
	if ds.badLines >= 0 && res.run.BadLines != ds.badLines {
		t.Errorf("run.json: %d bad lines, want %d", res.run.BadLines, ds.badLines)
	}
	if ds.dups >= 0 && res.run.Duplicates != ds.dups {
		t.Errorf("run.json: %d duplicates, want %d", res.run.Duplicates, ds.dups)
	}
	if len(res.done) != res.run.Shards {
		t.Errorf("%d done markers, want one per shard (%d)", len(res.done), res.run.Shards)
	}
	failedRows := 0
	for _, row := range res.report {
		if row[3] == "failed" {
			failedRows++
		}
	}
	if c, ok := res.final["counts"].(map[string]any); !ok {
		t.Errorf("final.json has no counts: %v", res.final)
	} else if num(c["items"]) != int64(res.rows) || num(c["failed"]) != int64(failedRows) {
		t.Errorf("final.json counts %v disagree with report.csv (%d rows, %d failed)", c, res.rows, failedRows)
	}

	// Outcomes.
	for k, code := range ds.want {
		row := res.report[k]
		if row == nil {
			continue
		}
		// Under transientOK any item may fail as S3Error (every read of it
		// cut): a corrupt source too, whose bytes never arrived whole.
		if spec.transientOK && row[3] == "failed" && row[4] == "S3Error" {
			continue
		}
		if code == "" && row[3] != "succeeded" {
			t.Errorf("%q: %s %s %q, want succeeded", k, row[3], row[4], row[6])
		}
		if code != "" && (row[3] != "failed" || row[4] != code) {
			t.Errorf("%q: %s %s %q, want failed with %s", k, row[3], row[4], row[6], code)
		}
	}
	if ref != nil {
		for k, row := range res.report {
			if spec.transientOK && row[3] == "failed" && row[4] == "S3Error" {
				continue
			}
			if w, ok := ref.outcome[k]; ok && outcome(row) != w {
				t.Errorf("%q: %s (%s), the clean run: %s", k, outcome(row), row[6], w)
			}
		}
	}

	// Outputs: exactly those of the succeeded rows, intact.
	expected := map[string]string{} // output key -> source key
	for k, row := range res.report {
		if row[3] != "succeeded" {
			continue
		}
		for _, v := range res.run.Recipe.Variants {
			ok, err := res.run.OutputKeyOf(v, imgbatch.Item{Key: k})
			if err != nil {
				t.Errorf("%q succeeded but has no valid output key: %v", k, err)
				continue
			}
			expected[ok] = k
		}
	}
	orphans := 0
	for k := range res.outputs {
		if _, ok := expected[k]; !ok {
			orphans++
			t.Errorf("output %q belongs to no succeeded row (orphan)", k)
		}
	}
	etags := sourceETags(t, res)
	for ok, src := range expected {
		o, found := res.outputs[ok]
		if !found {
			t.Errorf("output %q of succeeded %q is missing", ok, src)
			continue
		}
		if ref != nil {
			if w, in := ref.outputs[ok]; in && w != o.sha {
				t.Errorf("output %q differs from the clean run's (%d bytes)", ok, o.size)
			} else if !in {
				t.Errorf("output %q was not made by the clean run", ok)
			}
		}
		if o.meta["imgbatch-recipe-hash"] != res.run.RecipeHash {
			t.Errorf("output %q: recipe hash %q, want %q", ok, o.meta["imgbatch-recipe-hash"], res.run.RecipeHash)
		}
		if e := etags[src]; e == "" || strings.Trim(o.meta["imgbatch-source-etag"], `"`) != e {
			t.Errorf("output %q: source etag %q, the source's is %q", ok, o.meta["imgbatch-source-etag"], e)
		}
	}

	// Children.
	for _, a := range res.attempts {
		switch {
		case !a.ended:
			t.Errorf("child %s (pid %d) never ended", a.appID, a.pid)
		case a.crashed():
			sum.crashes++
			t.Errorf("child %s crashed: exit %d, signal %v (disturbed: %q)", a.appID, a.exitCode, a.signal, a.disturbance)
		}
		if strings.Contains(a.disturbance, "term@") && !strings.Contains(a.disturbance, "kill@") && a.exitCode != 75 && a.exitCode != 0 {
			t.Errorf("child %s: SIGTERM ended it with exit %d, want 75 (retry me) or 0", a.appID, a.exitCode)
		}
	}
	for _, j := range res.h.stack.Runner.Jobs() {
		for _, c := range j.Children() {
			if c.ExitCode != 0 {
				t.Errorf("array child %d ended with %d after %d attempts %s", c.Index, c.ExitCode, c.Attempts, c.Err)
			}
		}
	}

	// Shard Completed events are informational (the run's event is the
	// contract): count the shards that never had one, for the figures.
	shardEvents := map[int]bool{}
	for _, e := range res.events {
		if e.DetailType == ebus.DetailTypeShardCompleted {
			var d struct {
				Shard int `json:"shard"`
			}
			if json.Unmarshal(e.Detail, &d) == nil {
				shardEvents[d.Shard] = true
			}
		}
	}
	sum.shardEventsMissing = res.run.Shards - len(shardEvents)
	fig.addRun(int64(len(ds.items)), int64(sum.lost), int64(sum.dup), res.took)
	fig.addShardEvents(res.run.Shards, sum.shardEventsMissing)
	var disturbed []string
	for _, a := range res.attempts {
		if a.disturbance != "" {
			disturbed = append(disturbed, a.appID+":"+a.disturbance)
		}
	}
	t.Logf("run %s on %s: %d items, %d rows, %d outputs, %d attempts, disturbed %v; faults: %s; %d shards without a Shard Completed event; %s",
		res.runID, spec.backend, len(ds.items), res.rows, len(res.outputs), len(res.attempts), disturbed, res.h.proxy.Summary(), sum.shardEventsMissing, res.took.Round(100e6))
	return sum
}

// crashed: an exit other than 0 or 75 that the test did not cause.
func (a attemptRecord) crashed() bool {
	if !a.ended || a.exitCode == 0 || a.exitCode == 75 {
		return false
	}
	return !(a.signal != 0 && a.disturbance != "")
}

// sourceETags heads every succeeded source (straight to the backend).
func sourceETags(t *testing.T, res *runResult) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, row := range res.report {
		if row[3] != "succeeded" {
			continue
		}
		h, err := res.h.be.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(k)})
		if err != nil {
			t.Errorf("head source %q: %v", k, err)
			continue
		}
		out[k] = strings.Trim(aws.ToString(h.ETag), `"`)
	}
	return out
}

func detailRunID(e ebus.Envelope) string {
	var d struct {
		RunID string `json:"runId"`
	}
	_ = json.Unmarshal(e.Detail, &d)
	return d.RunID
}

func num(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	}
	return -1
}

func (s checkSummary) String() string {
	return fmt.Sprintf("lost %d, duplicated %d, crashes %d", s.lost, s.dup, s.crashes)
}
