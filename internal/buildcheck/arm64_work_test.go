package buildcheck

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/batch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/localstack"
)

// workUnderEmulation runs the arm64 binary in its production role: it
// plans a one-image run (submit --via none) into the embedded S3 of
// `imgbatch local`, then works it as array child 0 of 1 would on Graviton
// (claim, fetch, render, upload, finalize), all under qemu; the host reads
// the output back and checks it, and the run's report.
func workUnderEmulation(t *testing.T, emu func(...string) *exec.Cmd) {
	t.Helper()
	srv, err := localstack.StartS3("", "source", "work", "output")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cl := s3test.NewClient(srv.URL)
	s3test.Put(t, cl, "source", "photos/in.jpg", testutil.JPEG(t, testutil.Photo(1024, 768, 0), 90))
	env := []string{
		"AWS_ENDPOINT_URL_S3=" + srv.URL, "AWS_ENDPOINT_URL_EVENTBRIDGE=http://127.0.0.1:1",
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "IMGBATCH_S3_PATH_STYLE=true",
		"IMGBATCH_WORK_BUCKET=work", "IMGBATCH_EVENT_BUS=", "IMGBATCH_LOG_FORMAT=json",
	}
	keys := testutil.WriteFile(t, filepath.Join(t.TempDir(), "keys.txt"), []byte("photos/in.jpg\n"))
	token := fmt.Sprintf("arm64-%d", time.Now().UnixNano())
	start := time.Now()
	emulated(t, emu, env, "submit", "--via", "none", "--manifest", keys, "--bucket", "source", "--output-bucket", "output",
		"--variant", "thumb:256x256:jpeg:85", "--client-token", token, "--width", "1")
	runID := batch.NewRunID(token, time.Time{})
	emulated(t, emu, append(env, "AWS_BATCH_JOB_ID=arm64-test:0", "AWS_BATCH_JOB_ARRAY_INDEX=0",
		"AWS_BATCH_JOB_ARRAY_SIZE=1", "AWS_BATCH_JOB_ATTEMPT=1"), "work", "--run-id", runID, "--spot-notice", "off")
	t.Logf("submit + work of a one-image run under qemu: %v", time.Since(start).Round(time.Millisecond))

	out := s3test.Get(t, cl, "output", "thumb/photos/in.jpg.jpg")
	img, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("the arm64 worker's output does not decode as JPEG: %v", err)
	}
	if got := img.Bounds().Size(); got.X != 256 || got.Y != 192 {
		t.Fatalf("the arm64 worker's output is %v, want 256x192", got)
	}
	checkGradient(t, img)
	report := string(s3test.Get(t, cl, "work", "runs/"+runID+"/report.csv"))
	if !strings.Contains(report, "source,photos%2Fin.jpg,,succeeded,") {
		t.Errorf("report.csv of the arm64 run:\n%s\nwant photos%%2Fin.jpg succeeded (S3 Batch Operations encodes keys)", report)
	}
}

// emulated runs the arm64 binary with args and env, failing t with its
// output on a non-zero exit.
func emulated(t *testing.T, emu func(...string) *exec.Cmd, env []string, args ...string) {
	t.Helper()
	cmd := emu(args...)
	cmd.Env = append(cmd.Env, env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu imgbatch-arm64 %s: %v\n%s", args[0], err, b)
	}
}
