package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/localstack"
	"github.com/imgbatch/imgbatch/localstack/eventbus"
	"github.com/imgbatch/imgbatch/s3fault"
)

func putObject(t *testing.T, cl *clients, bucket, key, body string) {
	t.Helper()
	if _, err := cl.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

// A recipe at s3://… is read by the planner and stored in run.json: the
// children read the recipe from the run, never from the URL.
func TestRecipeFromS3IsStoredInTheRun(t *testing.T) {
	e := newCmdEnv(t)
	putObject(t, e.cl, "source", "recipes/nightly.yaml", "name: nightly\nvariants:\n  - {name: small, width: 64, height: 64, format: webp}\n")
	manifest := writeTemp(t, "keys.txt", "a.jpg\nb.jpg\n")
	base := []string{"plan", "--manifest", manifest, "--bucket", "source", "--output-bucket", "output", "--work-bucket", "work"}
	code, out, stderr := e.imgbatch(t, append(base, "--recipe", "s3://source/recipes/nightly.yaml", "--client-token", "t1")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "recipe      nightly") {
		t.Errorf("plan output does not name the S3 recipe:\n%s", out)
	}
	var run imgbatch.Run
	if _, err := e.store.GetJSON(context.Background(), imgbatch.Layout{RunID: imgbatch.TokenRunID("t1")}.Run(), &run); err != nil {
		t.Fatal(err)
	}
	if run.Recipe.Name != "nightly" || len(run.Recipe.Variants) != 1 || run.Recipe.Variants[0].Format != "webp" {
		t.Errorf("run.json recipe = %+v, want the S3 recipe", run.Recipe)
	}
	// --variant replaces the S3 recipe's variants, as with a local file.
	code, out, stderr = e.imgbatch(t, append(base, "--dry-run", "--json", "--recipe", "s3://source/recipes/nightly.yaml", "--variant", "x:10x10:png")...)
	var dry struct{ Run imgbatch.Run }
	if code != 0 || json.Unmarshal([]byte(out), &dry) != nil || dry.Run.Recipe.Name != "nightly" || dry.Run.Recipe.Variants[0].Name != "x" {
		t.Errorf("--variant over an S3 recipe: exit %d, %s %s", code, out, stderr)
	}

	putObject(t, e.cl, "source", "recipes/bad.json", `{"name":"bad","variants":[{"name":"a","widht":10}]}`)
	for _, c := range []struct{ uri, want string }{
		{"s3://source/recipes/missing.json", "recipe s3://source/recipes/missing.json: no such object"},
		{"s3://no-such-bucket/r.json", "recipe s3://no-such-bucket/r.json: no such bucket"},
		{"s3://source/recipes/bad.json", "recipe s3://source/recipes/bad.json: "},
		{"s3://source/", "--recipe s3://source/: want s3://bucket/key"},
	} {
		code, _, stderr := e.imgbatch(t, append(base, "--dry-run", "--recipe", c.uri)...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("--recipe %s: exit %d, stderr %q, want %q", c.uri, code, stderr, c.want)
		}
	}
}

func TestRecipeFromS3AccessDenied(t *testing.T) {
	srv, err := localstack.StartS3("", "source", "work", "output")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	proxy, err := s3fault.Start(s3fault.Config{Target: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	proxy.AddRule(&s3fault.Rule{Method: "GET", Path: "/source/recipes/r.json", Fault: s3fault.Error, Status: 403, Code: "AccessDenied", Times: -1})
	busSrv := httptest.NewServer(eventbus.New(eventbus.Config{}))
	t.Cleanup(busSrv.Close)
	_, cl := setLocalAWSEnv(t, proxy.URL, busSrv.URL)
	putObject(t, cl, "source", "recipes/r.json", `{"name":"r","variants":[{"name":"a","width":10}]}`)
	e := &cmdEnv{cl: cl}
	code, _, stderr := e.imgbatch(t, "plan", "--dry-run", "--manifest", writeTemp(t, "k.txt", "a.jpg\n"), "--bucket", "source",
		"--output-bucket", "output", "--recipe", "s3://source/recipes/r.json")
	if code != 1 || !strings.Contains(stderr, "recipe s3://source/recipes/r.json: access denied") {
		t.Errorf("denied recipe: exit %d, stderr %q", code, stderr)
	}
}
