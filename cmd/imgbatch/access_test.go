package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// TestEnterpriseBuckets is a real `imgbatch plan` (a listing of the source
// bucket) and `imgbatch work` child against the fake S3, whose source
// bucket lives in another region (it answers requests signed for
// us-east-1 with 301 and x-amz-bucket-region, as S3 does). Every output PUT
// carries SSE-KMS with the key, every request on the source bucket the
// expected owner and requester pays, every request on the output bucket
// its owner; the items succeed after the clients switch regions. A plain
// run sends none of these headers.
func TestEnterpriseBuckets(t *testing.T) {
	rec := &s3test.Recorder{}
	srv := s3test.New(t, s3test.Options{Buckets: []string{"source", "work", "output"}, Wrap: func(h http.Handler) http.Handler {
		return rec.Wrap(s3test.InRegion(map[string]string{"source": "eu-west-1"})(h))
	}})
	env, _ := setLocalAWSEnv(t, srv.URL, "http://127.0.0.1:1", "IMGBATCH_EVENT_BUS=", "IMGBATCH_LOG_FORMAT=json")
	far := s3test.NewClient(srv.URL, func(o *s3.Options) { o.Region = "eu-west-1" })
	for i := range 3 {
		s3test.Put(t, far, "source", fmt.Sprintf("in/%d.jpg", i), testutil.PhotoFile(t, 320, 240, false))
	}
	const key = "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	enterprise := []string{"--sse", "aws:kms", "--sse-kms-key-id", key, "--source-bucket-owner", "111111111111",
		"--output-bucket-owner", "222222222222", "--request-payer", "requester"}

	rec.Reset()
	planAndWork(t, env, "enterprise", enterprise...)
	reqs := rec.Requests()
	want := map[string]map[string]string{
		"source": {"X-Amz-Expected-Bucket-Owner": "111111111111", "X-Amz-Request-Payer": "requester"},
		"output": {"X-Amz-Expected-Bucket-Owner": "222222222222"},
	}
	seen := map[string]int{}
	for _, r := range reqs {
		for h, v := range want[r.Bucket] {
			if got := r.Header.Get(h); got != v {
				t.Errorf("%s s3://%s/%s: %s = %q, want %q", r.Method, r.Bucket, r.Key, h, got, v)
			}
		}
		if r.Bucket == "output" && r.Method == http.MethodPut {
			seen["put"]++
			if r.Header.Get("X-Amz-Server-Side-Encryption") != "aws:kms" || r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != key {
				t.Errorf("PUT s3://output/%s without SSE-KMS and the key: %v", r.Key, r.Header)
			}
		}
		if r.Bucket == "source" && r.Region != "eu-west-1" {
			seen["redirected"]++
		}
		switch {
		case r.Bucket == "source" && strings.Contains(r.Query, "list-type=2"):
			seen["list"]++
		case r.Bucket == "source" && r.Method == http.MethodGet && r.Key != "":
			seen["get"]++
		}
	}
	if seen["put"] != 6 {
		t.Errorf("%d output PUTs, want 6 (3 items × 2 variants)", seen["put"])
	}
	// The planner's listing and the child each learn the region once (a
	// few concurrent first requests may all be refused).
	if seen["redirected"] < 2 || seen["redirected"] > 6 {
		t.Errorf("%d source requests signed for the wrong region, want the first of each process", seen["redirected"])
	}
	if seen["get"] < 3 || seen["list"] < 1 {
		t.Errorf("requests on the source bucket %v: want the listing and 3 GETs", seen)
	}

	rec.Reset()
	planAndWork(t, env, "plain")
	for _, r := range rec.Requests() {
		for _, h := range []string{"X-Amz-Expected-Bucket-Owner", "X-Amz-Request-Payer", "X-Amz-Server-Side-Encryption", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"} {
			if v := r.Header.Get(h); v != "" {
				t.Errorf("plain run: %s s3://%s/%s carries %s: %s", r.Method, r.Bucket, r.Key, h, v)
			}
		}
	}
}

// planAndWork plans s3://source/in/ into output/<prefix>/ with extra flags,
// runs one child to the end and checks every item succeeded.
func planAndWork(t *testing.T, env []string, prefix string, extra ...string) {
	t.Helper()
	var out, errb bytes.Buffer
	args := append([]string{"imgbatch", "plan", "--manifest", "s3://source/in/", "--output-bucket", "output", "--output-prefix", prefix,
		"--width", "1", "--client-token", prefix, "--json"}, extra...)
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("plan exited %d: %s", code, errb.String())
	}
	var p struct {
		Run struct {
			ID     string `json:"runId"`
			Access any    `json:"access"`
		} `json:"run"`
	}
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out.String())
	}
	if (p.Run.Access != nil) != (len(extra) > 0) {
		t.Errorf("run.json access = %v with flags %v", p.Run.Access, extra)
	}
	c := startChild(t, env, 1, "--run-id", p.Run.ID, "--work-bucket", "work", "--event-bus", "", "--processors", "1", "--no-linger")
	if code := c.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("work exited %d:\n%s", code, c.out.String())
	}
	if !strings.Contains(c.out.String(), `"succeeded":3`) || !strings.Contains(c.out.String(), `"failed":0`) {
		t.Errorf("work did not succeed on the 3 items:\n%s", c.out.String())
	}
}

// TestAccessFlagsUsage: flags S3 would refuse on every request are usage
// errors (exit 2) before anything is read.
func TestAccessFlagsUsage(t *testing.T) {
	base := []string{"imgbatch", "plan", "--manifest", "keys.txt", "--bucket", "b", "--output-bucket", "o", "--dry-run"}
	for _, bad := range [][]string{
		{"--sse-kms-key-id", "alias/imgbatch"},
		{"--sse", "AES256", "--sse-kms-key-id", "alias/imgbatch"},
		{"--sse", "aws:kms:dsse", "--sse-bucket-key"},
		{"--sse", "kms"},
		{"--source-bucket-owner", "12345"},
		{"--output-bucket-owner", "me"},
		{"--request-payer", "owner"},
	} {
		var out, errb bytes.Buffer
		code := run(append(append([]string{}, base...), bad...), &out, &errb)
		if msg := errb.String(); code != 2 || !strings.Contains(msg, bad[0]) || strings.Contains(msg, "not defined") {
			t.Errorf("%v: exit %d, want 2 naming %s: %s", bad, code, bad[0], msg)
		}
	}
}
