package main

import (
	"context"
	"encoding/csv"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
)

func TestRedriveRunsTheFailedItemsOnce(t *testing.T) {
	e := newCmdEnv(t)
	ctx := context.Background()
	keys := []string{"a.jpg", "bad one.jpg", "b.jpg", "c.jpg", "bad+two.jpg", "d.jpg", "e.jpg"}
	oldID := planKeys(t, e, keys, "--shard-size", "3", "--width", "2")

	// Not finished yet: nothing to redrive from.
	if code, _, errs := e.imgbatch(t, "redrive", oldID); code != exitError || !strings.Contains(errs, "not finished") {
		t.Fatalf("redrive of an unfinished run exited %d: %s", code, errs)
	}
	workRun(t, e, oldID, 2, &gateProcessor{}).Wait()
	old, err := e.store.LoadRun(ctx, oldID)
	if err != nil {
		t.Fatal(err)
	}

	code, out, errs := e.imgbatch(t, "redrive", oldID)
	if code != 0 {
		t.Fatalf("redrive exited %d: %s", code, errs)
	}
	newID := batch.NewRunID("redrive:"+oldID, old.CreatedAt)
	if !strings.Contains(out, "redrive of "+oldID+" (2 failed items)") || !strings.Contains(out, "run "+newID) {
		t.Errorf("redrive output:\n%s", out)
	}
	nr, err := e.store.LoadRun(ctx, newID)
	if err != nil {
		t.Fatal(err)
	}
	if nr.Items != 2 || nr.RecipeHash != old.RecipeHash || nr.OutputBucket != old.OutputBucket || nr.OutputPrefix != "v1" ||
		nr.Width != old.Width || nr.ShardSize != old.ShardSize || nr.Tolerance != old.Tolerance || !strings.Contains(nr.Source, "failed.csv") {
		t.Errorf("redriven run: %+v\nold run: %+v", nr, old)
	}
	var got []string
	for n := 0; n < nr.Shards; n++ {
		its, err := e.store.LoadShard(ctx, newID, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range its {
			if it.Bucket != "source" {
				t.Errorf("redriven item %+v: bucket", it)
			}
			got = append(got, it.Key)
		}
	}
	sort.Strings(got)
	if strings.Join(got, "|") != "bad one.jpg|bad+two.jpg" {
		t.Errorf("redriven items %q, want the two failed ones", got)
	}
	evs := e.events(ebus.DetailTypeRunRequested)
	if len(evs) != 1 {
		t.Fatalf("%d Run Requested events, want 1", len(evs))
	}
	if ev, err := evs[0].Decode(); err != nil || ev.(ebus.RunRequested).RunID != newID {
		t.Errorf("Run Requested: %+v %v", ev, err)
	}

	// Again: the same new run, not started twice.
	code, out, errs = e.imgbatch(t, "redrive", oldID)
	if code != 0 || !strings.Contains(out, "existing run (same client token) "+newID) {
		t.Errorf("second redrive exited %d:\n%s%s", code, out, errs)
	}
	if n := len(e.events(ebus.DetailTypeRunRequested)); n != 1 {
		t.Errorf("%d Run Requested events after a second redrive, want 1", n)
	}

	// The redriven run works like any other; its report holds the two items.
	workRun(t, e, newID, 1, &gateProcessor{}).Wait()
	b, _, err := e.store.Get(ctx, imgbatch.Layout{RunID: newID}.Report())
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("redriven report: %v\n%s", err, b)
	}
	for _, r := range rows {
		if k, _ := url.QueryUnescape(r[1]); !strings.HasPrefix(k, "bad") {
			t.Errorf("redriven report row %q", r)
		}
	}

	// A run with no failures has nothing to redrive.
	cleanID := planKeys(t, e, []string{"x.jpg", "y.jpg"})
	workRun(t, e, cleanID, 1, &gateProcessor{}).Wait()
	if code, out, errs := e.imgbatch(t, "redrive", cleanID); code != 0 || !strings.Contains(out, "nothing to redrive") {
		t.Errorf("redrive of a clean run exited %d:\n%s%s", code, out, errs)
	}
	if code, _, errs := e.imgbatch(t, "redrive", oldID, "--dry-run"); code != exitUsage || !strings.Contains(errs, "flags go before RUN_ID") {
		t.Errorf("a flag after RUN_ID: exit %d: %s", code, errs)
	}
}
