package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/s3fault"
)

// TestVersityGWEndToEnd runs the core local flow against versitygw: SigV4
// checked, conditional writes and metadata as a real S3 gateway does them.
// The outputs must be byte-identical to the gofakes3 clean run; the aws
// CLI checks each output's metadata, Content-Type and Cache-Control.
func TestVersityGWEndToEnd(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	res := run(t, runSpec{backend: versityS3, data: ds, access: "AKIAVERSITYCHAOS0001", secret: "versity/chaos/secret/0001"})
	check(t, res, ref)
	checkWithAWSCLI(t, res, ref)
}

// TestVersityGWUnderChaos: the same against versitygw through the fault
// proxy (which must keep SigV4 signatures valid) with children killed.
func TestVersityGWUnderChaos(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	for _, seed := range seeds(1, 4) {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			res := run(t, runSpec{backend: versityS3, data: ds, seed: seed, access: "AKIAVERSITYCHAOS0002", secret: "versity/chaos/secret/0002",
				rates: moderateFaults(),
				chaos: &chaosPlan{Seed: seed, Rate: 0.6, MaxDelay: 2500 * time.Millisecond, TermShare: 0.3, TriggerShare: 0.4, StopTimeout: 3 * time.Second}})
			check(t, res, ref)
			checkWithAWSCLI(t, res, ref)
		})
	}
}

// checkWithAWSCLI heads outputs with the real aws CLI and checks what a
// CDN or a person would see: the source ETag and recipe hash metadata, the
// format's Content-Type, one Cache-Control on all, the GET's length. The
// CLI takes a second or two per call, so it checks a deterministic sample
// of 8 outputs (every variant among them); check() has already compared
// every output's metadata through the SDK.
func checkWithAWSCLI(t *testing.T, res *runResult, ref *reference) {
	t.Helper()
	var sources []string
	for k, row := range res.report {
		if row[3] == "succeeded" {
			sources = append(sources, k)
		}
	}
	sortStrings(sources)
	if n := 8 / max(1, len(res.run.Recipe.Variants)); len(sources) > n {
		step := len(sources) / n
		var pick []string
		for i := 0; i < n; i++ {
			pick = append(pick, sources[i*step])
		}
		sources = pick
	}
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatalf("the aws CLI is not installed (make deps installs it): %v", err)
	}
	etags := sourceETags(t, res)
	checked := 0
	cache := ""
	for _, k := range sources {
		for _, v := range res.run.Recipe.Variants {
			key, err := res.run.OutputKeyOf(v, imgbatch.Item{Key: k})
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("aws", "--endpoint-url", res.h.be.url, "--region", "us-east-1", "--output", "json",
				"s3api", "head-object", "--bucket", outBucket, "--key", key)
			cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+res.h.be.access, "AWS_SECRET_ACCESS_KEY="+res.h.be.secret,
				"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("aws s3api head-object %q: %v\n%s", key, err, stderr.String())
				continue
			}
			var h struct {
				ContentLength int64
				ContentType   string
				CacheControl  string
				Metadata      map[string]string
			}
			if err := json.Unmarshal(out, &h); err != nil {
				t.Fatalf("aws head-object output: %v\n%s", err, out)
			}
			if h.Metadata["imgbatch-source-etag"] != etags[k] || etags[k] == "" {
				t.Errorf("%s: x-amz-meta-imgbatch-source-etag %q, the source's ETag is %q", key, h.Metadata["imgbatch-source-etag"], etags[k])
			}
			if h.Metadata["imgbatch-recipe-hash"] != res.run.RecipeHash {
				t.Errorf("%s: x-amz-meta-imgbatch-recipe-hash %q, want %q", key, h.Metadata["imgbatch-recipe-hash"], res.run.RecipeHash)
			}
			if want := imgbatch.ContentType(v.Format); h.ContentType != want {
				t.Errorf("%s: Content-Type %q, want %q", key, h.ContentType, want)
			}
			// (gofakes3 does not keep Cache-Control: only here can it be checked.)
			if h.CacheControl == "" || (cache != "" && h.CacheControl != cache) {
				t.Errorf("%s: Cache-Control %q, want the same non-empty value on every output (first: %q)", key, h.CacheControl, cache)
			}
			cache = h.CacheControl
			if h.ContentLength != res.outputs[key].size {
				t.Errorf("%s: Content-Length %d, GET gave %d bytes", key, h.ContentLength, res.outputs[key].size)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Error("no output to check with the aws CLI")
	}
}

// TestVersityGWTruncatedGets: versitygw sends checksums; a GET cut short
// by the proxy must fail the read through the SDK, never yield fewer bytes.
func TestVersityGWTruncatedGets(t *testing.T) {
	dir := t.TempDir()
	be := startBackend(t, versityS3, dir, "AKIAVERSITYCHAOS0003", "versity/chaos/secret/0003")
	ctx := context.Background()
	body := randomBytes(200<<10, 4)
	if _, err := be.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srcBucket), Key: aws.String("big.bin"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	p, err := s3fault.Start(s3fault.Config{Target: be.url, Seed: 1, Rates: map[s3fault.Kind]s3fault.Rates{s3fault.KindGet: {s3fault.Truncate: 0.5}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := s3Client(p.URL, be.access, be.secret)
	failed := 0
	for i := 0; i < 20; i++ {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srcBucket), Key: aws.String("big.bin"), ChecksumMode: "ENABLED"})
		if err != nil {
			t.Fatalf("get through the proxy (SigV4 must survive it): %v", err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			failed++
			continue
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("read %d bytes without error, want all %d", len(got), len(body))
		}
	}
	if inj := p.Injected()[s3fault.KindGet][s3fault.Truncate]; inj == 0 || int64(failed) != inj {
		t.Errorf("%d truncations, %d failed reads: each truncation must fail its read", inj, failed)
	}
}
