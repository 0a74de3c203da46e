package main

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// putInventoryDelivery writes a dated S3 Inventory delivery of keys into
// s3://work/inv/source/cfg/<date>/ (complete: with its manifest.checksum).
func putInventoryDelivery(t *testing.T, e *cmdEnv, date string, complete bool, keys ...string) {
	t.Helper()
	var data strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&data, "\"source\",\"%s\",\"1000\",\"2026-11-20T00:00:00.000Z\"\n", k)
	}
	dataKey := "inv/source/cfg/data/" + date + ".csv"
	putObject(t, e.cl, "work", dataKey, data.String())
	sum := md5.Sum([]byte(data.String()))
	man, _ := json.Marshal(map[string]any{
		"sourceBucket": "source", "destinationBucket": "arn:aws:s3:::work", "fileFormat": "CSV",
		"fileSchema": "Bucket, Key, Size, LastModifiedDate",
		"files":      []map[string]any{{"key": dataKey, "size": data.Len(), "MD5checksum": hex.EncodeToString(sum[:])}},
	})
	putObject(t, e.cl, "work", "inv/source/cfg/"+date+"/manifest.json", string(man))
	if complete {
		msum := md5.Sum(man)
		putObject(t, e.cl, "work", "inv/source/cfg/"+date+"/manifest.checksum", hex.EncodeToString(msum[:])+"\n")
	}
}

// A scheduled run whose --source is an inventory destination reads the
// newest complete delivery: the newer one, still without its
// manifest.checksum, is passed over, and the log says so.
func TestScheduledRunFollowsTheNewestCompleteInventory(t *testing.T) {
	e := newCmdEnv(t)
	putInventoryDelivery(t, e, "2026-11-22T00-00Z", true, "a.jpg", "b.jpg")
	putInventoryDelivery(t, e, "2026-11-23T00-00Z", false, "a.jpg", "b.jpg", "c.jpg")
	code, out, stderr := e.imgbatch(t, "plan", "--from-schedule", "--scheduled-time", "2026-11-24T02:00:00Z",
		"--source", "s3://work/inv/source/cfg/", "--output-bucket", "output", "--work-bucket", "work", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "items       2 ") {
		t.Errorf("want the 2 items of the older, complete delivery:\n%s", out)
	}
	for _, want := range []string{"newer inventory delivery is incomplete", "2026-11-23T00-00Z/manifest.json", "no manifest.checksum yet",
		"using=s3://work/inv/source/cfg/2026-11-22T00-00Z/manifest.json"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("log lacks %q:\n%s", want, stderr)
		}
	}
	// Once complete, the newer delivery is the one read.
	putInventoryDelivery(t, e, "2026-11-23T00-00Z", true, "a.jpg", "b.jpg", "c.jpg")
	code, out, stderr = e.imgbatch(t, "plan", "--manifest", "s3://work/inv/source/cfg/", "--output-bucket", "output", "--dry-run", "--json")
	var plan struct {
		Run struct {
			Source string
			Items  int
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || plan.Run.Items != 3 || plan.Run.Source != "s3://work/inv/source/cfg/2026-11-23T00-00Z/manifest.json" {
		t.Errorf("complete newer delivery: exit %d, run %+v, stderr %s", code, plan.Run, stderr)
	}
}
