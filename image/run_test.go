package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/localstack"
	"github.com/imgbatch/imgbatch/sniff"
)

// TestImageVersion runs `imgbatch version --json` in the image as its user: the pinned
// libvips, loaded from /opt/libvips, and the labels say the same versions.
func TestImageVersion(t *testing.T) {
	b := buildImage(t)
	cmd := b.command(t, nil, "version", "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("imgbatch version in the image: %v\n%s", err, stderr.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("version --json: %v\n%s", err, out)
	}
	labels := b.config(t).labels
	if v["libvips"] != "8.18.8" || v["libvips"] != labels["io.imgbatch.libvips.version"] {
		t.Errorf("the image runs libvips %v, labelled %q, want 8.18.8: %s", v["libvips"], labels["io.imgbatch.libvips.version"], out)
	}
	if !strings.Contains(string(out), "/opt/libvips/lib/libvips-cpp.so.8.18.8") {
		t.Errorf("the image's libvips is not /opt/libvips/lib/libvips-cpp.so.8.18.8: %s", out)
	}
	if labels["org.opencontainers.image.version"] == "" || !strings.Contains(string(out), labels["org.opencontainers.image.version"]) {
		t.Errorf("label version %q is not the binary's: %s", labels["org.opencontainers.image.version"], out)
	}
	if out, err := b.command(t, nil, b.config(t).cmd...).CombinedOutput(); err != nil || !strings.Contains(string(out), "work") {
		t.Errorf("imgbatch with the image's CMD %q: %v\n%s", b.config(t).cmd, err, out)
	}
	whoami := b.command(t, nil)
	whoami.Path, whoami.Args = "/usr/bin/id", []string{"id", "-u"}
	if out, err := whoami.Output(); err != nil || strings.TrimSpace(string(out)) != "10001" {
		t.Errorf("id -u in the image: %q %v, want 10001", out, err)
	}
}

// stack is the embedded S3 of `imgbatch local`, outside the image, and the environment AWS
// Batch gives array child 0 of a one-child array, pointing at it by endpoint.
type stack struct {
	env   []string
	store *batch.Store
	s3    *s3test.Server
}

func startStack(t *testing.T) *stack {
	t.Helper()
	srv, err := localstack.StartS3("", "source", "work", "output")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cl := s3test.NewClient(srv.URL)
	return &stack{
		store: &batch.Store{S3: cl, Bucket: "work"},
		s3:    &s3test.Server{URL: srv.URL, Client: cl},
		env: []string{
			"AWS_ENDPOINT_URL_S3=" + srv.URL, "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
			"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "IMGBATCH_S3_PATH_STYLE=true",
			"IMGBATCH_WORK_BUCKET=work", "IMGBATCH_EVENT_BUS=", "IMGBATCH_LOG_FORMAT=json",
			"AWS_BATCH_JOB_ID=job-image:0", "AWS_BATCH_JOB_ARRAY_INDEX=0", "AWS_BATCH_JOB_ARRAY_SIZE=1", "AWS_BATCH_JOB_ATTEMPT=1",
		},
	}
}

// plan puts sources and plans one run of them in one shard.
func (s *stack) plan(t *testing.T, recipe imgbatch.Recipe, sources map[string][]byte) string {
	t.Helper()
	var items []imgbatch.Item
	for key, body := range sources {
		s.s3.Put(t, "source", key, body)
		items = append(items, imgbatch.Item{Bucket: "source", Key: key})
	}
	p, err := s.store.PlanRun(context.Background(), itemtest.NewSource(items...),
		batch.PlanOptions{OutputBucket: "output", OutputPrefix: "out", Recipe: recipe, ShardSize: len(items), Width: 1})
	if err != nil {
		t.Fatal(err)
	}
	return p.Run.ID
}

// iccJPEG is a photo converted to Display P3 with that profile embedded (vips icc_transform).
func iccJPEG(t *testing.T) []byte {
	t.Helper()
	vipsCLI, err := exec.LookPath("vips")
	testutil.Need(t, "the vips command (make libvips)", err)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "in.jpg"), filepath.Join(dir, "p3.jpg")
	if err := os.WriteFile(src, testutil.JPEG(t, testutil.Photo(900, 600, 4), 90), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(vipsCLI, "icc_transform", src, dst+"[Q=90]", "p3", "--input-profile", "srgb").CombinedOutput(); err != nil {
		t.Fatalf("vips icc_transform: %v\n%s", err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil || !bytes.Contains(b, []byte("ICC_PROFILE")) {
		t.Fatalf("no JPEG with an ICC profile (%v)", err)
	}
	return b
}

func readTestdata(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runChild runs `imgbatch work` in the image until it ends (or limit), returning its exit
// code and log; onStart, when set, runs once it has started.
func runChild(t *testing.T, b built, s *stack, limit time.Duration, onStart func(*exec.Cmd), args ...string) (int, string) {
	t.Helper()
	var log bytes.Buffer
	cmd := b.command(t, s.env, append([]string{"--log-level", "info", "work"}, args...)...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start imgbatch work in the image: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if onStart != nil {
		onStart(cmd)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("imgbatch work: %v", err)
		}
		return cmd.ProcessState.ExitCode(), log.String()
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("imgbatch work in the image did not end within %s; log:\n%s", limit, log.String())
		return 0, ""
	}
}

// TestImageWork runs `imgbatch work` in the image, as its user, against the S3 outside:
// an iPhone HEIC (the HEIC helper with Debian's libheif in the image), a JPEG with a Display
// P3 profile, a plain JPEG and a corrupt file. Exit 0, the report says which failed and why,
// and every output of the good ones exists and decodes at its size.
func TestImageWork(t *testing.T) {
	b := buildImage(t)
	s := startStack(t)
	sources := map[string][]byte{
		"in/iphone.heic":    readTestdata(t, "heic/iphone-p3-rot90-64x96.heic"),
		"in/display-p3.jpg": iccJPEG(t),
		"in/plain.jpg":      testutil.JPEG(t, testutil.Photo(1200, 800, 7), 85),
		"in/broken.jpg":     readTestdata(t, "bad-images/jpeg-corrupt-header.jpg"),
	}
	// Each good source's size as displayed (the HEIC's after its rotation).
	dims := map[string][2]int{"in/iphone.heic": {64, 96}, "in/display-p3.jpg": {900, 600}, "in/plain.jpg": {1200, 800}}
	recipe := imgbatch.Recipe{Name: "image-test", Variants: []imgbatch.Variant{
		{Name: "thumb", Width: 48, Height: 48, Format: imgbatch.FormatJPEG, Quality: 80},
		{Name: "web", Width: 320, Height: 320, Format: imgbatch.FormatWebP, Quality: 75},
	}}
	runID := s.plan(t, recipe, sources)
	code, log := runChild(t, b, s, 3*time.Minute, nil, "--run-id", runID, "--work-bucket", "work", "--event-bus", "", "--processors", "2")
	if code != 0 {
		t.Fatalf("imgbatch work in the image exited %d, want 0; log:\n%s", code, log)
	}
	rep := itemtest.ParseReport(t, s.s3.Get(t, "work", imgbatch.Layout{RunID: runID}.Report()))
	if rep.Rows != len(sources) || len(rep.Dups) > 0 {
		t.Fatalf("report.csv: %d rows (%d twice) for %d sources", rep.Rows, len(rep.Dups), len(sources))
	}
	for key := range sources {
		row := rep.ByKey[key]
		status, errCode := row[3], row[4]
		if key == "in/broken.jpg" {
			if status != "failed" || errCode == "" || row[6] == "" {
				t.Errorf("%s: %q %q %q, want failed with a code and a reason", key, status, errCode, row[6])
			}
			continue
		}
		if status != "succeeded" {
			t.Errorf("%s: %s %s %s; log:\n%s", key, status, errCode, row[6], log)
			continue
		}
		for _, v := range recipe.Variants {
			checkOutput(t, s, fmt.Sprintf("out/%s/%s.%s", v.Name, key, imgbatch.Ext(v.Format)), v, dims[key])
		}
	}
	t.Logf("report.csv:\n%s", s.s3.Get(t, "work", imgbatch.Layout{RunID: runID}.Report()))
}

// checkOutput checks an output decodes in the variant's format at the size of the source
// fitted inside the variant's box, never enlarged.
func checkOutput(t *testing.T, s *stack, key string, v imgbatch.Variant, src [2]int) {
	t.Helper()
	body, err := s3test.Read(s.s3.Client, "output", key)
	if err != nil {
		t.Errorf("output %s: %v", key, err)
		return
	}
	in, err := sniff.Inspect(body)
	if err != nil {
		t.Errorf("output %s does not decode: %v", key, err)
		return
	}
	scale := min(float64(v.Width)/float64(src[0]), float64(v.Height)/float64(src[1]), 1)
	w, h := int(math.Round(float64(src[0])*scale)), int(math.Round(float64(src[1])*scale))
	if string(in.Format) != v.Format || abs(in.Width-w) > 1 || abs(in.Height-h) > 1 {
		t.Errorf("output %s: %s %dx%d, want %s %dx%d", key, in.Format, in.Width, in.Height, v.Format, w, h)
	}
}

// TestImageWorkSIGTERM: SIGTERM to `imgbatch work` in the image mid-shard (what Batch sends
// on a Spot reclaim or a cancelled job) ends it with 75, "retry me", after a checkpoint.
func TestImageWorkSIGTERM(t *testing.T) {
	b := buildImage(t)
	s := startStack(t)
	sources := map[string][]byte{}
	photo := testutil.JPEG(t, testutil.Photo(1600, 1200, 5), 85)
	for i := range 40 {
		sources[fmt.Sprintf("in/%02d.jpg", i)] = photo
	}
	recipe := imgbatch.Recipe{Name: "sigterm", Variants: []imgbatch.Variant{{Name: "w", Width: 480, Height: 480, Format: imgbatch.FormatWebP, Quality: 75}}}
	runID := s.plan(t, recipe, sources)
	outputs := func() int { return s3test.Count(t, s.s3.Client, "output", "out/") }
	code, log := runChild(t, b, s, 3*time.Minute, func(cmd *exec.Cmd) {
		testutil.Eventually(t, 2*time.Minute, "the first outputs", func() bool { return outputs() >= 2 })
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Error(err)
		}
	}, "--run-id", runID, "--work-bucket", "work", "--event-bus", "", "--processors", "1", "--grace", "20s")
	if code != 75 {
		t.Fatalf("imgbatch work in the image exited %d after SIGTERM, want 75; log:\n%s", code, log)
	}
	var p batch.Progress
	if _, err := s.store.GetJSON(context.Background(), imgbatch.Layout{RunID: runID}.Progress(0), &p); err != nil || len(p.Results) == 0 || len(p.Results) == len(sources) {
		t.Errorf("checkpoint after SIGTERM: %d of %d results (%v), want some", len(p.Results), len(sources), err)
	}
	t.Logf("SIGTERM after %d outputs: exit 75, %d results checkpointed", outputs(), len(p.Results))
}

func abs(n int) int { return max(n, -n) }
